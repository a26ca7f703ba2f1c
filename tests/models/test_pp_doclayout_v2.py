"""PP-DocLayoutV2 through transformers' own model code, with a tiny random checkpoint of the exact architecture
loaded by the production backend (serve/backends/pp_doclayout_v2.py)."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from layout.reading_order import reorder_geometrically
from layout.labels import PP_DOCLAYOUT_LABELS
from layout.postprocess import filter_overlaps
from layout.types import Block
from serve.config import LayoutConfig, RecognitionConfig, ServiceConfig
from serve.layout_stage import LayoutEngine, LayoutRequest
from serve.pipeline import DocumentPipeline, ParseOptions
from serve.protocol import LayoutParsingRequest
from serve.recognition_stage import load_recognition_backend
from loadtest.direct import DirectLayout
from tests.models.conftest import tiny_layout_config
from loadtest.tiny_layout_models import build_tiny_pp_doclayout_v2
from tests.page_results import parse_page

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def layout_config(tmp_path_factory: pytest.TempPathFactory) -> LayoutConfig:
    return tiny_layout_config(tmp_path_factory, "pp_doclayout_v2", build_tiny_pp_doclayout_v2)


@pytest.fixture(scope="module")
def engine(layout_config: LayoutConfig) -> LayoutEngine:
    return LayoutEngine(layout_config)


@pytest.fixture(scope="module")
def page(publaynet_pages) -> np.ndarray:
    return publaynet_pages[0]


def test_the_model_reports_page_boxes_with_its_own_reading_rank(engine, page):
    [detections] = engine.backend.detect([page])
    assert detections and all(d.model_order is not None for d in detections)
    assert {d.label for d in detections} <= set(PP_DOCLAYOUT_LABELS)
    ranks = sorted({d.model_order for d in detections})
    assert ranks == sorted(set(ranks)) and min(ranks) >= 0
    centres = np.array([[(d.bbox[0] + d.bbox[2]) / 2, (d.bbox[1] + d.bbox[3]) / 2] for d in detections])
    assert centres[:, 0].max() <= page.shape[1] * 1.5 and centres[:, 1].max() <= page.shape[0] * 1.5


def test_a_batch_gives_each_page_the_answer_it_gets_alone(engine, page):
    other = cv2.rotate(page, cv2.ROTATE_180)
    together = engine.backend.detect([page, other])
    alone = [engine.backend.detect([page])[0], engine.backend.detect([other])[0]]
    for batch_result, single in zip(together, alone):
        # Batched kernels round differently (logits agree to 1e-4): the same detections, some near-tied
        # ones in another order, and a random model's near-tied reading ranks may swap.
        keyed = [{(d.label, tuple(round(v) for v in d.bbox)): d.model_order for d in found if d.score >= 0.51}
                 for found in (batch_result, single)]
        assert keyed[0].keys() == keyed[1].keys()
        # The model's ranks are vote counts of its pairwise order head, which shift by a vote or two when near-tied
        # logits round differently; what must agree is the order they put the regions in.
        assert _concordance(keyed[0], keyed[1]) > 0.9


def _concordance(ranks: dict, others: dict) -> float:
    """The share of region pairs both rankings put in the same order (pairs tied in either are skipped)."""
    keys = list(ranks)
    same = differ = 0
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            product = (ranks[a] - ranks[b]) * (others[a] - others[b])
            same += product > 0
            differ += product < 0
    return same / (same + differ)


def test_parsing_res_list_follows_the_model_order_not_geometry(layout_config, engine, page):
    # The layout's own regions, not split into paragraphs or re-read as text: this is about their order.
    unrefined = RecognitionConfig(backend_options={"refine_regions": False})
    config = ServiceConfig(layout=layout_config, recognition=unrefined)
    recognition = load_recognition_backend(config.recognition)
    pipeline = DocumentPipeline(config, DirectLayout(engine), recognition)
    options = ParseOptions.from_request(LayoutParsingRequest(file="x", visualize=False), config,
                                        recognition.capabilities)
    result = parse_page(pipeline, page, options).model_dump(exclude_unset=True)

    layout = engine.run([page], [LayoutRequest(classify_orientation=False, postprocess=options.postprocess)])[0]
    expected = [(b.label, list(b.coordinate)) for b in filter_overlaps(layout.boxes)]
    listed = [(b["block_label"], b["block_bbox"]) for b in result["prunedResult"]["parsing_res_list"]]
    assert [entry for entry in listed if entry in expected] == expected
    geometric = reorder_geometrically([Block(label, tuple(bbox)) for label, bbox in expected], page.shape[1::-1])
    assert [(b.label, list(b.bbox)) for b in geometric] != expected  # the model's order is not geometry's

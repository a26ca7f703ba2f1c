"""PP-DocLayoutV3 through transformers' own model code with a tiny random checkpoint of the exact architecture:
outlines from its instance masks reach `layout_det_res` and `parsing_res_list` as the shape mode asks."""

from __future__ import annotations


import numpy as np
import pytest

from layout.postprocess import postprocess_detections
from loadtest.direct import DirectLayout
from serve.backends.base import RecognitionCapabilities
from serve.config import LayoutConfig, ServiceConfig
from serve.layout_stage import LayoutEngine
from serve.pipeline import DocumentPipeline, ParseOptions
from serve.protocol import LayoutParsingRequest
from serve.recognition_stage import load_recognition_backend
from tests.models.conftest import tiny_layout_config
from loadtest.tiny_layout_models import build_tiny_pp_doclayout_v3
from tests.page_results import parse_page

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def layout_config(tmp_path_factory: pytest.TempPathFactory) -> LayoutConfig:
    return tiny_layout_config(tmp_path_factory, "pp_doclayout_v3", build_tiny_pp_doclayout_v3)


@pytest.fixture(scope="module")
def engine(layout_config: LayoutConfig) -> LayoutEngine:
    return LayoutEngine(layout_config)


@pytest.fixture(scope="module")
def page(publaynet_pages) -> np.ndarray:
    return publaynet_pages[1]


@pytest.fixture(scope="module")
def detections(engine, page):
    return engine.backend.detect([page])[0]


def test_masked_detections_carry_an_outline_inside_their_box(detections):
    outlined = [d for d in detections if d.polygon is not None]
    assert outlined and all(d.model_order is not None for d in detections)
    for d in outlined:
        xs, ys = zip(*d.polygon)
        assert min(xs) >= int(d.bbox[0]) - 1 and max(xs) <= d.bbox[2] + 1
        assert min(ys) >= int(d.bbox[1]) - 1 and max(ys) <= d.bbox[3] + 1


def request_options(**fields) -> ParseOptions:
    return ParseOptions.from_request(LayoutParsingRequest(file="x", **fields), ServiceConfig(), RecognitionCapabilities())


def test_the_shape_mode_decides_what_is_reported(detections, page):
    size = page.shape[1::-1]
    poly = postprocess_detections(detections, size, request_options(layoutShapeMode="poly").postprocess)
    rect = postprocess_detections(detections, size, request_options(layoutShapeMode="rect").postprocess)
    assert any(b.polygon_points for b in poly) and not any(b.polygon_points for b in rect)


def test_parsing_res_list_reports_the_outlines_of_its_blocks(layout_config, engine, page):
    config = ServiceConfig(layout=layout_config)
    recognition = load_recognition_backend(config.recognition)
    pipeline = DocumentPipeline(config, DirectLayout(engine), recognition)
    request = LayoutParsingRequest(file="x", visualize=False, layoutShapeMode="poly")
    result = parse_page(pipeline, page, ParseOptions.from_request(request, config, recognition.capabilities))
    pruned = result.model_dump(exclude_unset=True)["prunedResult"]
    outlines = {tuple(b["coordinate"]): b["polygon_points"] for b in pruned["layout_det_res"]["boxes"]
                if "polygon_points" in b}
    assert outlines and pruned["model_settings"]["return_layout_polygon_points"] is True
    for block in pruned["parsing_res_list"]:
        if tuple(block["block_bbox"]) in outlines:
            assert block["block_polygon_points"] == outlines[tuple(block["block_bbox"])]

"""PP-LCNet document orientation through transformers' own model code, with a tiny random checkpoint of the exact
architecture loaded by the production backend (serve/backends/pp_lcnet_orientation.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from layout.crop import rotate_page
from serve.config import LayoutConfig
from serve.layout_stage import LayoutEngine, LayoutRequest
from loadtest.tiny_layout_models import build_tiny_pp_lcnet

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> LayoutEngine:
    pytest.importorskip("transformers")
    model = build_tiny_pp_lcnet(tmp_path_factory.mktemp("models") / "tiny-pp-lcnet")
    return LayoutEngine(LayoutConfig(orientation_backend="pp_lcnet", orientation_options={"model": str(model)}))


@pytest.fixture(scope="module")
def page(eval_dir) -> np.ndarray:
    return cv2.imread(str(sorted((eval_dir / "publaynet_examples" / "images").glob("*.jpg"))[0]))


def test_the_classifier_answers_a_right_angle_for_every_rotation(engine, page):
    answers = [engine.orientation.classify(rotate_page(page, turn)) for turn in (0, 90, 180, 270)]
    assert set(answers) <= {0, 90, 180, 270}
    assert len(set(answers)) > 1  # the random model still looks at the picture


def test_the_layout_stage_reports_the_classifiers_angle(engine, page):
    [result] = engine.run([page], [LayoutRequest(classify_orientation=True, postprocess=None)])
    assert result.angle == engine.orientation.classify(page)

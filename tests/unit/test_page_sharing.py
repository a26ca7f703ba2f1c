"""A page that both stages read is handed over once (`share_page`; in the service, one `ray.put`), and each stage
gets the shared page; a page only the recognition stage reads, or one the layout stage turned upright, goes as
the array."""

from __future__ import annotations

import numpy as np

from layout.postprocess import LayoutBox, filter_overlaps
from serve.backends.base import PageRecognition, RecognitionCapabilities, RegionReading
from serve.config import ServiceConfig
from serve.layout_stage import LayoutRequest, LayoutResult
from serve.pipeline import DocumentPipeline, ParseOptions
from serve.protocol import LayoutParsingRequest
from tests.page_results import parse_page

PAGE = np.full((400, 300, 3), 255, np.uint8)
PAGE[100:140, 50:250] = 0
TURNED = np.ascontiguousarray(PAGE[::-1, ::-1])
BOX = LayoutBox(22, "text", 0.9, (40, 90, 260, 150), 0)


class Shared:
    """What `share_page` made of a page: the stages must get this, not the array."""

    def __init__(self, page: np.ndarray) -> None:
        self.page = page


class Stages:
    """Both stages, recording what each was sent."""

    def __init__(self, upright: np.ndarray | None = None) -> None:
        self.upright = upright
        self.sent: dict[str, object] = {}
        self.shares = 0

    def share(self, page: np.ndarray) -> Shared:
        self.shares += 1
        return Shared(page)

    async def detect(self, page, request: LayoutRequest) -> LayoutResult:
        self.sent["layout"] = page
        return LayoutResult(angle=None if self.upright is None else 180, upright=self.upright, boxes=[BOX],
                            regions=filter_overlaps([BOX]))

    async def recognize(self, page, regions, options, layer) -> PageRecognition:
        self.sent["recognition"] = page
        return PageRecognition(regions=[RegionReading(content="words") for _ in regions])


def _parse(stages: Stages, **request) -> None:
    config = ServiceConfig()
    pipeline = DocumentPipeline(config, stages, stages, share_page=stages.share)
    options = ParseOptions.from_request(LayoutParsingRequest(file="x", visualize=False, **request), config,
                                        RecognitionCapabilities())
    parse_page(pipeline, PAGE, options)


def test_a_page_both_stages_read_is_shared_once_and_both_get_the_shared_page():
    stages = Stages()
    _parse(stages)
    assert stages.shares == 1
    assert stages.sent["layout"] is stages.sent["recognition"]
    assert isinstance(stages.sent["layout"], Shared) and stages.sent["layout"].page is PAGE


def test_a_page_without_layout_detection_goes_to_recognition_as_the_array():
    stages = Stages()
    _parse(stages, useLayoutDetection=False)
    assert stages.shares == 0
    assert "layout" not in stages.sent and stages.sent["recognition"] is PAGE


def test_a_page_the_layout_stage_turned_goes_to_recognition_as_the_upright_array():
    stages = Stages(upright=TURNED)
    _parse(stages, useDocOrientationClassify=True)
    assert isinstance(stages.sent["layout"], Shared)
    assert stages.sent["recognition"] is TURNED

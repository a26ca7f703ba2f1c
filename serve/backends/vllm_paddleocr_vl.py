"""PaddleOCR-VL recognition in vLLM's async engine, in-process in the recognition replica.

Every region of every page is its own engine request, so vLLM's scheduler batches regions of all requests in
flight together (continuous batching); nothing here serialises them. Crops are resized to the request's pixel
budget here (spec §5.6), then rescaled and normalized here too, in one pass through `pixel_table`, so the engine's
image processor only cuts them into patches: its own resize, rescale and normalize are off for our requests.
Cancelling the awaiting task (client gone, deadline passed) aborts the engine request inside `generate`.
"""

from __future__ import annotations

import itertools
import os
import uuid
from typing import Any

import cv2
import numpy as np
import ray
from blake3 import blake3
from pydantic import BaseModel, ConfigDict, Field

from layout.vl_image import PATCH_FACTOR, smart_resize
from serve.backends.base import BackendUnavailable, RecognitionOptions
from serve.backends.checkpoints import resolve_model
from serve.backends.vl_common import DEFAULT_MAX_NEW_TOKENS, Answer, EngineCall, VlRecognitionBackend, sampling_for
from serve.priority import RANK

# PaddleOCR-VL-0.9B's chat format (spec §5.6); VL-1.5/1.6 end with "Assistant:\n" — set it in the config.
DEFAULT_PROMPT_TEMPLATE = "<|begin_of_sentence|>User: <|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>{prompt}\nAssistant: "
# Bounds handed to the engine's processor. Crops already fit the request's budget, so the lower bound is one
# merged patch; the upper is the model's own (3600 visual tokens), which also sizes vLLM's start-up profiling —
# a request budget above it is reduced to it (`within_processor_bounds`).
PROCESSOR_MIN_PIXELS = PATCH_FACTOR * PATCH_FACTOR
PROCESSOR_MAX_PIXELS = 2_822_400
# Our requests' crops come sized, rescaled and normalized (`within_processor_bounds`, `pixel_table`): the processor
# only cuts them into patches.
PREPARED_CROPS = {"do_resize": False, "do_rescale": False, "do_normalize": False}
SHUTDOWN_TIMEOUT_S = 20.0
ENGINE_DIED = "the recognition engine died"
# On CPU, vLLM runs the model in a worker process beside the engine core, and the two pass each step through a
# shared-memory queue whose readers spin (sched_yield) for a second after every read: the engine core spins while
# the worker computes a step, the worker while it waits for the next, on the cores the replicas need to feed the
# engine (docs/benchmarks.md, VL run 7). AsyncLLM's engine core is a process of its own already, so with this
# flag off the model runs in it, as it does on one GPU; vLLM insists on the worker process only for the engine it
# runs in the caller's process (`LLM`), which we never use.
CPU_MODEL_IN_ENGINE_CORE = ("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


def torch_bicubic(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PyTorch's antialiased bicubic on uint8: what transformers' PaddleOCR-VL image processor resizes with where
    torchvision is installed, as it is beside vLLM on GPU, and about 3× faster than Pillow's on CPU. How the two
    differ: docs/api.md, "VL recognition specifics"."""
    import torch

    image = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0)
    resized = torch.nn.functional.interpolate(image, size=size, mode="bicubic", antialias=True)
    # It comes back planar (3×H×W); OpenCV interleaves the planes twice as fast as NumPy's transposing copy.
    return cv2.merge(list(resized[0].numpy()))


def pixel_table(image_processor: Any) -> np.ndarray:
    """What `image_processor` makes of each of the 256 values of each RGB channel, as a 1×256×3 float32 table for
    `cv2.LUT`: rescaled, then normalized, as its settings say, in its arithmetic (a float64 product cast to float32,
    then a float32 difference and quotient), so the table gives its pixel values bit for bit.

    On a CPU-only install transformers uses its Pillow processor, whose rescale and normalize take 4–5 ms a crop
    (float64 copies, broadcasts over a transposed array); the table takes a quarter of a millisecond."""
    values = np.arange(256, dtype=np.float64)
    if image_processor.do_rescale:
        values = values * image_processor.rescale_factor
    table = np.repeat(values.astype(np.float32)[:, None], 3, axis=1)
    if image_processor.do_normalize:
        mean = np.broadcast_to(np.asarray(image_processor.image_mean, dtype=np.float32), (3,))
        std = np.broadcast_to(np.asarray(image_processor.image_std, dtype=np.float32), (3,))
        table = (table - mean) / std
    return np.ascontiguousarray(table, dtype=np.float32).reshape(1, 256, 3)


def content_id(rgb: np.ndarray) -> str:
    """The crop's identity in vLLM's processor and encoder caches. vLLM would hash what it is handed, the float
    array, four times the crop's bytes; the crop itself says the same."""
    digest = blake3(repr(rgb.shape).encode())
    digest.update(np.ascontiguousarray(rgb))
    return digest.hexdigest()


def within_processor_bounds(rgb: np.ndarray) -> np.ndarray:
    """The crop, or for a request that budgets more pixels than the model reads, the crop reduced to the model's
    bound: the processor's resize, which is off for our requests (`PREPARED_CROPS`), would have done it."""
    height, width = rgb.shape[:2]
    size = smart_resize(height, width, min_pixels=PROCESSOR_MIN_PIXELS, max_pixels=PROCESSOR_MAX_PIXELS)
    return rgb if size == (height, width) else torch_bicubic(rgb, size)


class VllmPaddleOcrVlOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A checkpoint directory (operators pre-download it; relative paths are taken from the project directory)
    # or a hub id such as PaddlePaddle/PaddleOCR-VL.
    model: str
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    default_max_new_tokens: int = Field(default=DEFAULT_MAX_NEW_TOKENS, gt=0)
    # Passed to vllm.AsyncEngineArgs unchanged: max_model_len, max_num_seqs, max_num_batched_tokens,
    # gpu_memory_utilization, kv_cache_memory_bytes, enforce_eager, dtype, ...
    engine_args: dict[str, Any] = Field(default_factory=dict)


class VllmPaddleOcrVl(VlRecognitionBackend):
    options_model = VllmPaddleOcrVlOptions


    def __init__(self, options: dict, threads: int) -> None:
        import torch
        from transformers import AutoImageProcessor
        from vllm import AsyncEngineArgs
        from vllm.platforms import current_platform
        from vllm.v1.engine.async_llm import AsyncLLM

        if current_platform.is_cpu():
            # An operator's own setting wins.
            os.environ.setdefault(*CPU_MODEL_IN_ENGINE_CORE)
        self._opts = VllmPaddleOcrVlOptions(**options)
        engine_args = {
            "mm_processor_kwargs": {"min_pixels": PROCESSOR_MIN_PIXELS, "max_pixels": PROCESSOR_MAX_PIXELS},
            **self._opts.engine_args,
        }
        stat_loggers = None
        if ray.is_initialized():
            # In a replica, vLLM's own metrics (vllm:* as ray_vllm_*) leave through the node's Ray metrics agent
            # beside ours; outside Ray (engine tests, in-process benchmarks) vLLM keeps them in prometheus_client's
            # default registry.
            from vllm.v1.metrics.ray_wrappers import RayPrometheusStatLogger

            stat_loggers = [RayPrometheusStatLogger]
        model = resolve_model(self._opts.model)
        self.engine = AsyncLLM.from_engine_args(AsyncEngineArgs(model=model, **engine_args), stat_loggers=stat_loggers)
        # torch here only resizes crops (`torch_bicubic`). Left at one thread per core, its idle OpenMP workers
        # spin after every resize on the cores vLLM's front end and engine need (docs/benchmarks.md, VL run 12);
        # the replica's budget bounds it, as for every torch backend (`load_pretrained`). Set only now: vLLM sizes
        # its engine's start-up threads from this process's.
        torch.set_num_threads(threads)
        self._pixel_table = pixel_table(AutoImageProcessor.from_pretrained(
            model, trust_remote_code=engine_args.get("trust_remote_code", False)
        ))
        # vLLM refuses a request priority unless the engine schedules by it (`scheduling_policy: priority`).
        self._by_priority = engine_args.get("scheduling_policy") == "priority"
        self._ids = itertools.count()
        self._id_prefix = uuid.uuid4().hex[:8]

    def resample(self, rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return torch_bicubic(rgb, size)

    async def answer(self, call: EngineCall, options: RecognitionOptions) -> Answer:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind
        from vllm.v1.engine.exceptions import EngineDeadError

        chosen = sampling_for(call.task, options, self._opts.default_max_new_tokens)
        # vLLM's own neutral values stand in for fields the request left out.
        sampling = SamplingParams(
            temperature=chosen.temperature,
            top_p=1.0 if chosen.top_p is None else chosen.top_p,
            repetition_penalty=1.0 if chosen.repetition_penalty is None else chosen.repetition_penalty,
            max_tokens=chosen.max_tokens,
            skip_special_tokens=chosen.skip_special_tokens,
            # The answer is read once it is complete: no output per generated token. Built for this request
            # alone, so vLLM need not deep-copy them. (vLLM's own server asks both of a request that does not stream.)
            output_kind=RequestOutputKind.FINAL_ONLY,
            skip_clone=True,
        )
        request_id = f"{self._id_prefix}-{next(self._ids)}"
        final = None
        crop = within_processor_bounds(call.image)
        inputs = {
            "prompt": self._opts.prompt_template.format(prompt=call.prompt),
            "multi_modal_data": {"image": cv2.LUT(crop, self._pixel_table)},
            "multi_modal_uuids": {"image": [content_id(crop)]},
            "mm_processor_kwargs": PREPARED_CROPS,
        }
        try:
            priority = RANK[options.priority] if self._by_priority else 0
            async for output in self.engine.generate(inputs, sampling, request_id, priority=priority):
                final = output
        except EngineDeadError as exc:
            # The replica's health check now fails too, so Ray Serve replaces it.
            raise BackendUnavailable(ENGINE_DIED) from exc
        if final is None:
            return Answer("")
        return Answer(
            text=final.outputs[0].text,
            prompt_tokens=len(final.prompt_token_ids or ()),
            generated_tokens=len(final.outputs[0].token_ids),
        )

    async def check_health(self) -> None:
        # Fails at once when the engine is gone (vLLM's process monitor sets `errored`): Ray Serve replaces the
        # replica after `REPLICA_HEALTH_CHECK_UNHEALTHY_THRESHOLD` failed checks, one per health_check_period_s.
        if self.engine.errored:
            raise BackendUnavailable(ENGINE_DIED)

    def shutdown(self) -> None:
        # A dead engine's processes were already reaped by vLLM's monitor: nothing is left to wait for, and
        # waiting would only delay the replacement replica. A live one gets time to exit cleanly (vLLM's own
        # default force-kills it after 5 s).
        self.engine.shutdown(timeout=0.0 if self.engine.errored else SHUTDOWN_TIMEOUT_S)

"""PaddleOCR-VL recognition in vLLM's async engine, in-process in the recognition replica.

Every region of every page is its own engine request, so vLLM's scheduler batches regions of all requests in
flight together (continuous batching); nothing here serialises them. Crops are resized to the request's pixel
budget here (spec §5.6), and each request reaches the engine rendered (`RequestRenderer`): the crop already cut
into the model's patches and the prompt already in token ids, as vLLM's own PaddleOCR-VL processor would have
made them, so vLLM runs neither a tokenizer nor an image processor for it.
Cancelling the awaiting task (client gone, deadline passed) aborts the engine request inside `generate`.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import ray
from blake3 import blake3
from pydantic import BaseModel, ConfigDict, Field

from layout.vl_image import PATCH_FACTOR, smart_resize
from layout.vl_prompts import PROMPTS
from serve.backends.base import BackendUnavailable, RecognitionOptions
from serve.backends.checkpoints import resolve_model
from serve.backends.vl_common import DEFAULT_MAX_NEW_TOKENS, Answer, EngineCall, VlRecognitionBackend, sampling_for
from serve.priority import RANK

if TYPE_CHECKING:
    from vllm.inputs import MultiModalInput

# PaddleOCR-VL-0.9B's chat format (spec §5.6); VL-1.5/1.6 end with "Assistant:\n" — set it in the config.
DEFAULT_PROMPT_TEMPLATE = "<|begin_of_sentence|>User: <|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>{prompt}\nAssistant: "
# Bounds handed to the engine's processor, which vLLM runs only to size its start-up profiling: the upper is the
# model's own (3600 visual tokens). Our rendered requests keep to it too: a request budget above it is reduced
# to it (`within_processor_bounds`).
PROCESSOR_MIN_PIXELS = PATCH_FACTOR * PATCH_FACTOR
PROCESSOR_MAX_PIXELS = 2_822_400
# vLLM's processor cache keeps processed images in this process and in the engine core, for prompts it renders
# itself; ours come rendered, so it would only hold copies of their pixels (up to its 4 GiB default).
NO_PROCESSOR_CACHE = {"mm_processor_cache_gb": 0}
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
    `cv2.LUT`: rescaled, then normalized, as its settings say, in the arithmetic of transformers' Pillow processor
    (a float64 product cast to float32, then a float32 difference and quotient), so the table gives its pixel
    values bit for bit. That processor's own rescale and normalize take 4–5 ms a crop (float64 copies, broadcasts
    over a transposed array); the table takes a quarter of a millisecond."""
    values = np.arange(256, dtype=np.float64)
    if image_processor.do_rescale:
        values = values * image_processor.rescale_factor
    table = np.repeat(values.astype(np.float32)[:, None], 3, axis=1)
    if image_processor.do_normalize:
        mean = np.broadcast_to(np.asarray(image_processor.image_mean, dtype=np.float32), (3,))
        std = np.broadcast_to(np.asarray(image_processor.image_std, dtype=np.float32), (3,))
        table = (table - mean) / std
    return np.ascontiguousarray(table, dtype=np.float32).reshape(1, 256, 3)


def patchify(values: np.ndarray, patch_size: int) -> np.ndarray:
    """An H×W×C image as PaddleOCR-VL's vision encoder reads it: its patch_size² patches, row by row, each C×p×p
    (transformers' PaddleOCR-VL `patchify`, whose one temporal patch adds nothing)."""
    height, width, channels = values.shape
    grid = values.reshape(height // patch_size, patch_size, width // patch_size, patch_size, channels)
    patches = np.ascontiguousarray(grid.transpose(0, 2, 4, 1, 3))
    return patches.reshape(-1, channels, patch_size, patch_size)


def content_id(rgb: np.ndarray) -> str:
    """The crop's identity in vLLM's encoder cache and prefix cache: two requests with the same crop share its
    vision encoding. Its pixel values are a function of the crop, so the crop's own bytes say the same, in a
    quarter of theirs."""
    digest = blake3(repr(rgb.shape).encode())
    digest.update(np.ascontiguousarray(rgb))
    return digest.hexdigest()


def within_processor_bounds(rgb: np.ndarray) -> np.ndarray:
    """The crop, or for a request that budgets more pixels than the model reads, the crop reduced to the model's
    bound, as the processor's resize, which our rendered requests skip, would have done."""
    height, width = rgb.shape[:2]
    size = smart_resize(height, width, min_pixels=PROCESSOR_MIN_PIXELS, max_pixels=PROCESSOR_MAX_PIXELS)
    return rgb if size == (height, width) else torch_bicubic(rgb, size)


class RequestRenderer:
    """Renders a crop and its task's prompt into the engine input vLLM's PaddleOCR-VL processor makes of them
    (`vllm.inputs.MultiModalInput`, which `AsyncLLM.generate` takes as it is): the prompt's token ids with the
    image placeholder repeated once per merged 2×2 patch group, and the crop rescaled and normalized
    (`pixel_table`), then cut into patches (`patchify`).

    From a text prompt and an image, vLLM would tokenize the prompt, run transformers' image processor, tokenize a
    dummy text of the image's tokens and discard it, then find and expand the placeholder: about half of this
    replica's CPU per page (docs/benchmarks.md, sixth round). tests/engine checks the two renderings are equal."""

    def __init__(self, engine: Any, image_processor: Any, prompt_template: str, prompts: Iterable[str]) -> None:
        from vllm.multimodal.inputs import MultiModalFieldConfig

        config = engine.model_config.hf_config
        self._patch_size = config.vision_config.patch_size
        merge_size = config.vision_config.spatial_merge_size
        if self._patch_size * merge_size != PATCH_FACTOR or image_processor.temporal_patch_size != 1:
            raise ValueError(
                f"crops are sized on a {PATCH_FACTOR}-pixel grid and rendered as one temporal patch; this "
                f"checkpoint has {self._patch_size}-pixel patches merged {merge_size}×{merge_size} and "
                f"{image_processor.temporal_patch_size} temporal patches"
            )
        self._patches_per_token = merge_size**2
        self._image_token = config.image_token_id
        self._table = pixel_table(image_processor)
        self._prompt_ids = {p: engine.tokenizer.encode(prompt_template.format(prompt=p)) for p in prompts}
        if any(ids.count(self._image_token) != 1 for ids in self._prompt_ids.values()):
            raise ValueError("the prompt template must hold the image placeholder exactly once")
        # The model's inputs as vLLM's processor for it declares them (`_get_mm_fields_config`).
        self._fields = {
            "pixel_values": MultiModalFieldConfig.batched("image"),
            "image_grid_thw": MultiModalFieldConfig.batched("image", keep_on_cpu=True),
        }

    def render(self, crop: np.ndarray, prompt: str) -> MultiModalInput:
        """`crop` is H×W×3 RGB on the model's grid (`within_processor_bounds`); `prompt` one of the task prompts."""
        import torch
        from vllm.inputs import mm_input
        from vllm.multimodal.inputs import MultiModalKwargsItems, PlaceholderRange

        height, width = crop.shape[:2]
        grid_h, grid_w = height // self._patch_size, width // self._patch_size
        patches = patchify(cv2.LUT(crop, self._table), self._patch_size)
        items = MultiModalKwargsItems.from_hf_inputs(
            {"pixel_values": [torch.from_numpy(patches)], "image_grid_thw": torch.tensor([[1, grid_h, grid_w]])},
            self._fields,
        )
        ids = self._prompt_ids[prompt]
        at = ids.index(self._image_token)
        tokens = grid_h * grid_w // self._patches_per_token
        return mm_input(
            prompt_token_ids=[*ids[:at], *[self._image_token] * tokens, *ids[at + 1 :]],
            mm_kwargs=items,
            mm_hashes={"image": [content_id(crop)]},
            mm_placeholders={"image": [PlaceholderRange(offset=at, length=tokens)]},
        )


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
            **NO_PROCESSOR_CACHE,
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
        image_processor = AutoImageProcessor.from_pretrained(
            model, trust_remote_code=engine_args.get("trust_remote_code", False)
        )
        self._renderer = RequestRenderer(self.engine, image_processor, self._opts.prompt_template, PROMPTS.values())
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
        inputs = self._renderer.render(within_processor_bounds(call.image), call.prompt)
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

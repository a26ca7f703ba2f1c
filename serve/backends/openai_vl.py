"""PaddleOCR-VL behind an external OpenAI-compatible server (`vllm serve`, PaddleOCR's genai server, SGLang).

Requests go out exactly as PaddleX's `vllm-server` client sends them (spec §5.6): one chat completion per
region, a Base64 JPEG `image_url` and the task prompt, `max_completion_tokens`, `temperature`, and in
`extra_body` terms `skip_special_tokens`, `repetition_penalty` and `mm_processor_kwargs` with the pixel budget.
Concurrency towards the server is bounded, interactive regions first; transient failures are retried with
exponential backoff.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
from typing import Any

import httpx
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from serve.backends.base import BackendUnavailable, RecognitionOptions
from serve.backends.vl_common import DEFAULT_MAX_NEW_TOKENS, Answer, EngineCall, VlRecognitionBackend, sampling_for
from serve.priority import RANK, PriorityGate

# Status codes worth another try: the server is overloaded or restarting, not refusing the request itself.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# PIL's default JPEG quality, which is what the reference client sends.
JPEG_QUALITY = 75


class OpenAiVlOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The OpenAI base URL including /v1, e.g. http://paddleocr-vlm-server:8080/v1.
    base_url: str
    # Must equal the server's --served-model-name.
    model_name: str = "PaddleOCR-VL-0.9B"
    api_key: str | None = None
    # In-flight requests to the server from this replica; the server batches them.
    max_concurrency: int = Field(default=64, gt=0)
    timeout_s: float = Field(default=600.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    retry_backoff_s: float = Field(default=0.5, ge=0)
    default_max_new_tokens: int = Field(default=DEFAULT_MAX_NEW_TOKENS, gt=0)
    # vLLM accepts per-request processor arguments only with --trust-request-mm-kwargs; other servers ignore or
    # reject them. Crops are already resized to the budget either way.
    send_pixel_budget: bool = True
    # The request's class as vLLM's request `priority` (serve/priority.py). vLLM accepts it only when the server runs
    # with --scheduling-policy priority, and refuses it (400) otherwise; other servers may too. Regions wait for a
    # connection slot by class either way.
    send_priority: bool = False


class RecognitionServerError(BackendUnavailable):
    """The VLM server failed a request after every retry (a 503 for the client, never a 4xx)."""


class OpenAiVl(VlRecognitionBackend):
    options_model = OpenAiVlOptions

    def __init__(self, options: dict, threads: int) -> None:
        self._opts = OpenAiVlOptions(**options)
        headers = {"Authorization": f"Bearer {self._opts.api_key}"} if self._opts.api_key else None
        self._client = httpx.AsyncClient(
            base_url=self._opts.base_url.rstrip("/") + "/", timeout=self._opts.timeout_s, headers=headers
        )
        self._slots = PriorityGate(self._opts.max_concurrency)

    def request_body(self, call: EngineCall, options: RecognitionOptions) -> dict[str, Any]:
        buffer = io.BytesIO()
        Image.fromarray(call.image).save(buffer, format="JPEG", quality=JPEG_QUALITY)
        image_url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
        sampling = sampling_for(call.task, options, self._opts.default_max_new_tokens)
        body: dict[str, Any] = {
            "model": self._opts.model_name,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": image_url}},
                        {"type": "text", "text": call.prompt},
                    ],
                }
            ],
            "max_completion_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "skip_special_tokens": sampling.skip_special_tokens,
        }
        if sampling.top_p is not None:
            body["top_p"] = sampling.top_p
        if sampling.repetition_penalty is not None:
            body["repetition_penalty"] = sampling.repetition_penalty
        if self._opts.send_pixel_budget:
            height, width = call.image.shape[:2]
            body["mm_processor_kwargs"] = {"min_pixels": width * height, "max_pixels": width * height}
        if self._opts.send_priority:
            body["priority"] = RANK[options.priority]
        return body

    async def answer(self, call: EngineCall, options: RecognitionOptions) -> Answer:
        body = await asyncio.to_thread(self.request_body, call, options)
        async with self._slots.turn(options.priority):
            response = await self._post_with_retries(body)
        usage = response.get("usage") or {}
        return Answer(
            text=response["choices"][0]["message"]["content"] or "",
            prompt_tokens=usage.get("prompt_tokens") or 0,
            generated_tokens=usage.get("completion_tokens") or 0,
        )

    async def _post_with_retries(self, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in itertools.count():
            try:
                response = await self._client.post("chat/completions", json=body)
            except httpx.TransportError as exc:
                failure = f"VLM server unreachable: {exc!r}"
            else:
                if response.status_code < 400:
                    return response.json()
                failure = f"VLM server answered {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRYABLE_STATUS:
                    break
            if attempt >= self._opts.max_retries:
                break
            await asyncio.sleep(self._opts.retry_backoff_s * 2**attempt)
        raise RecognitionServerError(failure)

    async def check_health(self) -> None:
        response = await self._client.get("models", timeout=min(self._opts.timeout_s, 10.0))
        response.raise_for_status()

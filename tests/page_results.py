"""One page image through a `DocumentPipeline` to its wire result, files inline, as the service writes page 0."""

from __future__ import annotations

import asyncio

import numpy as np

from serve.delivery import InlineDelivery
from serve.pipeline import DocumentPipeline, ParseOptions
from serve.protocol import LayoutParsingResult


def parse_page(pipeline: DocumentPipeline, page: np.ndarray, options: ParseOptions) -> LayoutParsingResult:
    async def run() -> LayoutParsingResult:
        read = await pipeline.read_page(page, options)
        return await pipeline.page_result(read, 0, options, InlineDelivery())

    return asyncio.run(run())

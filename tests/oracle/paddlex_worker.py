"""Runs PaddleX's own functions for the differential tests; started with the reference venv's Python
(var/refvenv, see scripts/setup_reference.sh), never imported by the project.

Protocol: one JSON object per line on stdin, {"fn": name, "args": {...}}; one JSON line back per request,
{"result": ...} or {"error": "..."}. A line "ready" is printed once PaddleX is imported.
"""

import json
import sys

# The protocol owns stdout; anything PaddleX prints goes to stderr.
PROTOCOL = sys.stdout
sys.stdout = sys.stderr

from bs4 import BeautifulSoup
from paddlex.inference.pipelines.paddleocr_vl.pipeline import _PaddleOCRVLPipeline
from paddlex.inference.pipelines.paddleocr_vl.uilts import (
    convert_otsl_to_html,
    filter_overlap_boxes,
    truncate_repetitive_content,
)
from paddlex.inference.serving.basic_serving._pipeline_apps._common.common import prune_result


def restructure_pages(pages, merge_tables, relevel_titles, concatenate_pages):
    """What `/restructure-pages` does with the pages' prunedResults, plus what the wire hides: each block's
    title level (`title_level` is not serialised) and each result's Markdown text."""
    # As the serving app hands them over: wrapped, with the input path and page index pruning removed.
    originals = [{"res": {**pruned, "input_path": "", "page_index": i}} for i, pruned in enumerate(pages)]
    # `restructure_pages` never touches `self`; calling it unbound spares building the whole pipeline.
    results = _PaddleOCRVLPipeline.restructure_pages(
        None, originals, merge_tables=merge_tables, relevel_titles=relevel_titles,
        concatenate_pages=concatenate_pages,
    )
    return [
        {
            "pruned": prune_result(result.json["res"]),
            "title_levels": [getattr(block, "title_level", None) for block in result["parsing_res_list"]],
            "markdown": result._to_markdown(pretty=True)["markdown_texts"],
        }
        for result in results
    ]


FUNCTIONS = {
    "otsl_to_html": lambda text: convert_otsl_to_html(text),
    "truncate_repetitive_content": lambda text, min_count: truncate_repetitive_content(text, min_count=min_count),
    "filter_overlap_boxes": lambda boxes: filter_overlap_boxes({"boxes": boxes}, "rect")["boxes"],
    "restructure_pages": restructure_pages,
    # BeautifulSoup's re-serialisation, which PaddleX applies to a table it merges into.
    "normalise_html": lambda text: str(BeautifulSoup(text, "html.parser")),
}


def main() -> None:
    print("ready", file=PROTOCOL, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"result": FUNCTIONS[request["fn"]](**request["args"])}
        except Exception as exc:  # the oracle's own failure is a test result, reported to the caller
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), file=PROTOCOL, flush=True)


if __name__ == "__main__":
    main()

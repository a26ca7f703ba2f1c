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

from paddlex.inference.pipelines.paddleocr_vl.uilts import (
    convert_otsl_to_html,
    filter_overlap_boxes,
    truncate_repetitive_content,
)

FUNCTIONS = {
    "otsl_to_html": lambda text: convert_otsl_to_html(text),
    "truncate_repetitive_content": lambda text, min_count: truncate_repetitive_content(text, min_count=min_count),
    "filter_overlap_boxes": lambda boxes: filter_overlap_boxes({"boxes": boxes}, "rect")["boxes"],
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

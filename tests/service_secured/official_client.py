"""Drives the official `paddleocr` Job API client (PaddleOCRClient, paddleocr 3.7) from the reference venv, never
imported by the project: `python official_client.py '<json>'` runs one call and prints one JSON line.

The JSON names the call: {"base_url", "token", "call": "parse" | "batch", "file_path" | "file_url",
"options": {...extra_options}, "batch_id", "page_ranges"}. The answer is {"pages": [...], "data_info"} for a parse,
{"jobs": [...]} for a batch, or {"error": <exception class name>, "message"} when the client raised.
"""

import json
import sys

from paddleocr import PaddleOCRClient, PaddleOCRVLOptions


def main() -> None:
    args = json.loads(sys.argv[1])
    client = PaddleOCRClient(token=args["token"], base_url=args["base_url"], poll_timeout=args.get("timeout", 300))
    try:
        if args["call"] == "batch":
            status = client.get_batch_status(args["batch_id"])
            answer = {"jobs": [{"job_id": job.job_id, "state": job.state} for job in status.jobs]}
        else:
            options = PaddleOCRVLOptions(extra_options=args.get("options") or None)
            result = client.parse_document(
                file_path=args.get("file_path"), file_url=args.get("file_url"), options=options,
                page_ranges=args.get("page_ranges"), batch_id=args.get("batch_id"),
            )
            answer = {
                "pages": [{"markdown_text": page.markdown_text, "markdown_images": page.markdown_images,
                           "pruned_result": page.pruned_result} for page in result.pages],
                "data_info": result.data_info,
            }
    except Exception as exc:  # the client's own error classes are what the tests check
        answer = {"error": type(exc).__name__, "message": str(exc)}
    print(json.dumps(answer))


if __name__ == "__main__":
    main()

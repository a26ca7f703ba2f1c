"""CPU per page of each of the VL service's processes, this tree against a base commit, side by side.

    .venv/bin/python -m loadtest.tiny_models var/models/tiny-paddleocr-vl
    .venv/bin/python -m loadtest.bench vl-cpu --base a5f781b      # starts configs/vl-cpu-tiny.yaml itself

Full pages (the PubLayNet dev scans, never the same page twice, JPEG, layout detection on, visualisation off, a
few new tokens per region so the engine's own work stays small) go through the VL stack in a closed loop, `--pages`
per round at `--concurrency`. Rounds alternate between a service of the base commit (checked out into a temporary
worktree, served with the same venv) and one of this tree, so both see the same machine state. Each round reads the CPU
time of every process of the service's session from /proc before and after, grouped by what the process is:
the HTTP proxy, the ingress, the layout stage (its model on CPU), the recognition stage (which also runs vLLM's
front end: tokenising, the image processor, detokenising) and the engine (vLLM's core and workers). Prints the
mean per page of every round of each tree, and this tree's as a multiple of the base's.
"""

from __future__ import annotations

import base64
import statistics
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import cv2

from loadtest.bench import benchmark_parser
from loadtest.bench_vl import EVAL, FRONT_PROCESSES, cpu_of, darker_copies
from loadtest.commits import served_from, worktree
from loadtest.processes import server_pid, session_of
from loadtest.runs import post_closed_loop
from loadtest.service import REPO, running_service
from loadtest.table import Column, format_table

CONFIG = Path("configs/vl-cpu-tiny.yaml")
MAX_NEW_TOKENS = 8
WARM_UP_PAGES = 4
# The pages are re-encoded (each copy differs) at the quality of the dev set's scans.
JPEG_QUALITY = 100
# Process name prefix (loadtest.processes.process_name) -> the group its CPU counts in. "proxy" is the HTTP front
# (`FRONT_PROCESSES`): HAProxy with its manager and backup proxy actor, or Ray's proxy actor alone.
GROUPS = {
    **dict.fromkeys(FRONT_PROCESSES, "proxy"),
    "ray::ServeReplica:ocrvl:Ingress": "ingress",
    "ray::ServeReplica:ocrvl:LayoutStage": "layout",
    "ray::ServeReplica:ocrvl:RecognitionStage": "recognition",
    "VLLM::": "engine",
}
# Our own request path, besides the models: what the lean VL path is about.
OURS = ("proxy", "ingress", "recognition")


def page_payloads(count: int) -> list[dict]:
    """`count` different pages made from the dev set's scans (`darker_copies`)."""
    scans = [cv2.imread(str(path)) for path in sorted((EVAL / "publaynet_examples" / "images").glob("*.jpg"))]
    bodies = []
    for page in darker_copies(scans, count):
        jpeg = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1]
        bodies.append({"file": base64.b64encode(jpeg.tobytes()).decode(), "fileType": 1, "visualize": False,
                       "maxNewTokens": MAX_NEW_TOKENS})
    return bodies


def group_of(name: str) -> str | None:
    return next((group for prefix, group in GROUPS.items() if name.startswith(prefix)), None)


def cpu_per_page(url: str, payloads: list[dict], concurrency: int) -> dict[str, float]:
    """Milliseconds of CPU per page spent by each group of the service's processes over one closed-loop run."""
    warm_up, payloads = payloads[:WARM_UP_PAGES], payloads[WARM_UP_PAGES:]
    post_closed_loop("warm-up", f"{url}/layout-parsing", warm_up, concurrency)
    session = session_of(server_pid(url))
    before = cpu_of(session)
    run = post_closed_loop("pages", f"{url}/layout-parsing", payloads, concurrency)
    after = cpu_of(session)
    spent = dict.fromkeys(GROUPS.values(), 0.0)
    for pid, (name, seconds) in after.items():
        if (group := group_of(name)) is not None:
            spent[group] += seconds - before.get(pid, (name, 0.0))[1]
    per_page = {group: 1000 * seconds / len(run.latencies) for group, seconds in spent.items()}
    per_page["pages/s"] = run.per_s
    return per_page


def table(rounds: dict[str, list[dict[str, float]]]) -> str:
    means = {tree: {key: statistics.mean(r[key] for r in runs) for key in runs[0]} for tree, runs in rounds.items()}
    for tree in means:
        means[tree]["ours"] = sum(means[tree][group] for group in OURS)
    base, ours = means["base"], means["this tree"]
    keys = [*dict.fromkeys(GROUPS.values()), "ours", "pages/s"]
    columns = [Column("per page", align="<"), Column("base", "{:.1f}"), Column("this tree", "{:.1f}"),
               Column("this / base", "{:.2f}x")]
    rows = [(f"{key} CPU ms" if key != "pages/s" else key, base[key], ours[key],
             ours[key] / base[key] if base[key] else float("nan")) for key in keys]
    return format_table(columns, rows)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__name__, __doc__)
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--pages", type=int, default=60, help="pages per round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each tree, alternating")
    args = parser.parse_args(argv)

    payloads = page_payloads(WARM_UP_PAGES + args.pages)
    rounds: dict[str, list[dict[str, float]]] = {"base": [], "this tree": []}
    with worktree(args.base) as base:
        services: dict[str, Callable[[Path], AbstractContextManager[str]]] = {
            "base": lambda work: served_from(base, work, CONFIG),
            "this tree": lambda work: running_service(work, REPO / CONFIG),
        }
        for _ in range(args.rounds):
            for tree, service in services.items():
                with tempfile.TemporaryDirectory() as work, service(Path(work)) as url:
                    rounds[tree].append(cpu_per_page(url, payloads, args.concurrency))
    print(f"{args.pages} pages per round, {args.concurrency} concurrent, {args.rounds} rounds of each tree "
          f"(base {args.base}); ours = proxy + ingress + recognition\n")
    print(table(rounds))
    return 0

"""`loadtest`: load a /layout-parsing service with real documents and report its throughput/latency curve.

    loadtest run http://127.0.0.1:8080 --docs ./docs report.pdf --concurrency 1,2,4,8 --duration 60
    loadtest run http://127.0.0.1:8080 --docs ./docs --rate 0.5,1,2 --max-p99 30 --max-error-rate 0.01
    loadtest plot results/a.json results/b.json --out compare.png

Each value of --concurrency (closed loop) or --rate (open loop, Poisson arrivals) is one point, bounded by
--duration and --max-requests. Results go to --out as <label>.json (every sample) and <label>.png. Exit status:
0, or 1 when an SLO (--max-p99, --max-error-rate) is missed at any point, 2 on bad usage or a refused target.
The token comes from --token or LOADTEST_TOKEN and is sent as `Authorization: token <TOKEN>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from loadtest.generator import CLOSED, OPEN, Limits, sweep
from loadtest.mix import Mix, MixError
from loadtest.report import RunResult, load_result, plot, slo_violations, summary_table
from loadtest.target import Target, TargetRefused, allowed_hosts_from_env, check_target

TOKEN_ENV = "LOADTEST_TOKEN"
SLO_MISSED = 1
USAGE = 2


def _numbers(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("expected positive numbers")
    return values


def _positive(kind: type[int] | type[float]):
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError("expected a positive number")
        return value

    return parse


def _options(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="load a service and report its curve")
    run.add_argument("url", help="the service's base URL, e.g. http://127.0.0.1:8080")
    run.add_argument("--docs", type=Path, nargs="+", required=True,
                     help="PDFs and images to send, or directories of them")
    load = run.add_mutually_exclusive_group()
    load.add_argument("--concurrency", type=_numbers, help="closed loop: clients per point, e.g. 1,2,4 (default 1)")
    load.add_argument("--rate", type=_numbers, help="open loop: offered requests/s per point, e.g. 0.5,1,2")
    run.add_argument("--duration", type=_positive(float), default=60.0, help="seconds per point (default %(default)s)")
    run.add_argument("--max-requests", type=_positive(int), default=1000,
                     help="requests per point at most (default %(default)s)")
    run.add_argument("--warmup", type=int, default=0, help="unmeasured requests before the first point")
    run.add_argument("--weight-by", choices=["uniform", "pages"], default="uniform",
                     help="pick documents alike, or in proportion to their pages (default %(default)s)")
    run.add_argument("--options", type=_options, default={"visualize": False},
                     help='extra request fields as JSON (default \'{"visualize": false}\')')
    run.add_argument("--path", default="/layout-parsing", help="endpoint path (default %(default)s)")
    run.add_argument("--token", default=os.environ.get(TOKEN_ENV), help=f"API key (default: ${TOKEN_ENV})")
    run.add_argument("--timeout", type=_positive(float), default=600.0,
                     help="seconds per request (default %(default)s)")
    run.add_argument("--seed", type=int, default=0, help="document picks and arrivals (default %(default)s)")
    run.add_argument("--allow-host", action="append", default=[],
                     help="a non-loopback host this run may load (repeatable; also LOADTEST_ALLOWED_HOSTS)")
    run.add_argument("--out", type=Path, default=Path("loadtest-results"), help="where results go")
    run.add_argument("--label", help="result file name (default: mode and time)")
    run.add_argument("--max-p99", type=float, help="SLO: p99 latency of successes in seconds, at every point")
    run.add_argument("--max-error-rate", type=float, help="SLO: share of failed requests (0-1), at every point")

    compare = commands.add_parser("plot", help="draw the curves of one or more result files in one figure")
    compare.add_argument("results", type=Path, nargs="+")
    compare.add_argument("--out", type=Path, required=True, help="PNG file to write")
    compare.add_argument("--title")
    return parser


def _run(args: argparse.Namespace, target: Target, mix: Mix) -> RunResult:
    mode = OPEN if args.rate else CLOSED
    label = args.label or f"{mode}-{time.strftime('%Y%m%d-%H%M%S')}"
    settings = {k: v for k, v in vars(args).items() if k in ("duration", "max_requests", "warmup", "weight_by",
                                                               "options", "timeout", "seed")}
    points = asyncio.run(sweep(target, mix.picks(args.seed), mode, args.rate or args.concurrency or [1.0],
                               Limits(args.duration, args.max_requests), args.warmup, args.seed))
    return RunResult(label, target.endpoint, mode, mix.describe(), settings, points)


def _command_run(args: argparse.Namespace) -> int:
    if args.concurrency and any(c != int(c) for c in args.concurrency):
        print("loadtest: --concurrency takes whole numbers", file=sys.stderr)
        return USAGE
    endpoint = args.url.rstrip("/") + args.path
    try:
        check_target(endpoint, set(args.allow_host) | allowed_hosts_from_env())
        mix = Mix.from_paths(args.docs, args.options, args.weight_by)
    except (TargetRefused, MixError, OSError) as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return USAGE
    target = Target(endpoint, args.token, args.timeout)
    pages = sum(d.pages for d in mix.documents)
    print(f"loadtest: {len(mix.documents)} documents ({pages} pages) -> {endpoint}", file=sys.stderr)
    result = _run(args, target, mix)
    record, figure = result.write(args.out)
    print(summary_table(result))
    print(f"results: {record}\nplot: {figure}")
    violations = slo_violations(result, args.max_p99, args.max_error_rate)
    for violation in violations:
        print(f"SLO missed: {violation}")
    return SLO_MISSED if violations else 0


def _command_plot(args: argparse.Namespace) -> int:
    try:
        results = [load_result(path) for path in args.results]
    except (OSError, ValueError, KeyError) as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return USAGE
    plot(results, args.out, args.title)
    print(f"plot: {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return _command_run(args) if args.command == "run" else _command_plot(args)


if __name__ == "__main__":
    sys.exit(main())

"""`python -m loadtest.bench NAME [ARGS...]`: the one entry point of the benchmarks, each with its own options.

    .venv/bin/python -m loadtest.bench --help              # every benchmark, with what it measures
    .venv/bin/python -m loadtest.bench embedded --help     # one benchmark's options
    .venv/bin/python -m loadtest.bench embedded --in-flight 1 2 4
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
from pathlib import Path

from loadtest.table import Column, format_table

PROG = "python -m loadtest.bench"
USAGE = 2
# Name -> module; each module has `main(argv) -> int` and a docstring whose first line says what it measures.
BENCHMARKS = {
    "embedded": "loadtest.bench_embedded",
    "vl": "loadtest.bench_vl",
    "vl-cpu": "loadtest.bench_vl_cpu",
    "reference": "loadtest.bench_reference",
    "overload": "loadtest.bench_overload",
    "replicas": "loadtest.bench_replicas",
    "recovery": "loadtest.bench_recovery",
    "layout": "loadtest.bench_layout",
    "soak": "loadtest.soak",
    "delivery": "loadtest.bench_delivery",
    "jobs": "loadtest.bench_jobs",
    "pages": "loadtest.bench_pages",
    "structure": "loadtest.bench_structure",
    "cache": "loadtest.bench_cache",
    "priorities": "loadtest.bench_priorities",
    "autoscaling": "loadtest.bench_autoscaling",
}


def summary(module: str) -> str:
    """The first line of the module's docstring, read from its source: importing it would load its model
    libraries, which takes longer than a help text may."""
    source = Path(importlib.util.find_spec(module).origin).read_text()
    return ast.get_docstring(ast.parse(source)).splitlines()[0]


def help_text() -> str:
    rows = [(name, summary(module)) for name, module in BENCHMARKS.items()]
    listing = format_table([Column("benchmark", align="<"), Column("what it measures", align="<")], rows)
    return f"usage: {PROG} NAME [ARGS...]   ({PROG} NAME --help for its options)\n\n{listing}"


def benchmark_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The argument parser of the benchmark in `module`, its usage line naming the command that runs it."""
    [name] = [name for name, path in BENCHMARKS.items() if path == module]
    return argparse.ArgumentParser(prog=f"{PROG} {name}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(help_text())
        return 0
    if not argv or argv[0] not in BENCHMARKS:
        problem = f"unknown benchmark {argv[0]!r}" if argv else "no benchmark given"
        print(f"{PROG}: {problem}\n\n{help_text()}", file=sys.stderr)
        return USAGE
    name, *rest = argv
    return importlib.import_module(BENCHMARKS[name]).main(rest)


if __name__ == "__main__":
    sys.exit(main())

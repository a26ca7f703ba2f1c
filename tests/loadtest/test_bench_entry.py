"""`python -m loadtest.bench NAME [ARGS...]`, the benchmarks' one entry point, and the table every benchmark prints."""

from __future__ import annotations

import subprocess
import sys

import pytest

from loadtest.bench import BENCHMARKS, USAGE
from loadtest.service import REPO
from loadtest.table import Column, format_table


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loadtest.bench", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_a_table_aligns_each_column_to_its_widest_cell_and_writes_a_missing_figure_as_a_dash():
    columns = [Column("mode", align="<"), Column("clients"), Column("req/s", "{:.2f}"), Column("vs direct", "{:.2f}x")]
    rows = [("direct", 1, 0.5, 1.0), ("service", 16, 12.5, float("nan")), ("shed", None, 3.0, 0.25)]
    assert format_table(columns, rows) == (
        "mode     clients  req/s  vs direct\n"
        "----------------------------------\n"
        "direct         1   0.50      1.00x\n"
        "service       16  12.50          -\n"
        "shed           -   3.00      0.25x"
    )


def test_help_lists_every_benchmark_without_importing_any():
    listing = [sys.executable, "-c", "import sys; from loadtest.bench import BENCHMARKS, main; main(['--help']); "
               "print(sorted(set(BENCHMARKS.values()) & set(sys.modules)))"]
    done = subprocess.run(listing, cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    *help_lines, imported = done.stdout.splitlines()
    assert imported == "[]"
    assert {line.split()[0] for line in help_lines if line} >= set(BENCHMARKS)
    assert bench("--help").returncode == 0


def test_an_unknown_benchmark_exits_2_with_the_list():
    done = bench("no-such-benchmark", "--in-flight", "1")
    assert done.returncode == USAGE
    assert "unknown benchmark 'no-such-benchmark'" in done.stderr
    assert all(name in done.stderr for name in BENCHMARKS)


@pytest.mark.parametrize(("name", "own_option"), [("soak", "--interval"), ("layout", "--batches"),
                                                   ("reference", "--reference-venv")])
def test_the_arguments_after_the_name_go_to_that_benchmark(name, own_option):
    done = bench(name, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m loadtest.bench {name} ")
    assert own_option in done.stdout

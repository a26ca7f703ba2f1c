"""The plain-text tables that the benchmarks and the load tool print: one layout, so every table reads alike."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

GAP = "  "
MISSING = "-"


@dataclass(frozen=True)
class Column:
    """A column's header, the `str.format` template of its cells, and the side they align to: numbers right,
    names left."""

    header: str
    format: str = "{}"
    align: Literal["<", ">"] = ">"

    def cell(self, value: Any) -> str:
        # A figure that was not measured (no request shed, no 503 seen) reads "-", never "nan" or "None".
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return MISSING
        return self.format.format(value)


def format_table(columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> str:
    """The headers, a rule, then one line per row; each column as wide as its widest cell."""
    lines = [[column.header for column in columns]]
    lines += [[column.cell(value) for column, value in zip(columns, row, strict=True)] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    text = [GAP.join(f"{cell:{column.align}{width}}" for cell, column, width in zip(line, columns, widths)).rstrip()
            for line in lines]
    rule = "-" * (sum(widths) + len(GAP) * (len(columns) - 1))
    return "\n".join([text[0], rule, *text[1:]])

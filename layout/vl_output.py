"""Turning a PaddleOCR-VL answer into block content (spec §5.7): repetition guard, LaTeX delimiters, OTSL tables
to HTML and spotting locations.

All functions are pure and total on any string: the model can emit anything, and a malformed answer must become
(possibly raw) text, never an exception that fails the whole request.
"""

from __future__ import annotations

import html
import re
from collections import Counter

from layout.labels import FORMULA_NUMBER_LABEL
from layout.vl_prompts import SPOTTING, TABLE

# --- Repetition guard (spec §5.7 step 1) -------------------------------------------------------------------------
# Shorter answers are left alone: a short line repeating itself is as likely to be real (a row of dots) as a loop.
GUARD_MIN_CHARS = 50
# Tables are long and repetitive by nature (rows of similar cells), so only runaway ones are touched.
TABLE_GUARD_MIN_CHARS = 5000
# Rule 1 — a single line longer than this that ends in >= SUFFIX_MIN_REPEATS copies of a unit of at least
# SUFFIX_MIN_UNIT_CHARS characters, the copies covering more than SUFFIX_MIN_SHARE of it, loses the copies.
LONG_LINE_CHARS = 100
SUFFIX_MIN_UNIT_CHARS = 8
SUFFIX_MIN_REPEATS = 5
SUFFIX_MIN_SHARE = 0.5
# Rule 2 — a single line longer than this that is nothing but one unit repeated >= WHOLE_MIN_REPEATS times
# becomes one unit.
WHOLE_MIN_CHARS = 10
WHOLE_MIN_REPEATS = 10
# Rule 3 — when one non-empty line occurs >= LINE_MIN_REPEATS times and makes up >= LINE_MIN_SHARE of all
# non-empty lines, the answer is that line.
LINE_MIN_REPEATS = 10
LINE_MIN_SHARE = 0.8

# --- OTSL tables (spec §5.7 step 3) ------------------------------------------------------------------------------
FCEL = "<fcel>"  # cell with text, the text follows the tag
ECEL = "<ecel>"  # empty cell
LCEL = "<lcel>"  # merged with the cell to its left
UCEL = "<ucel>"  # merged with the cell above
XCEL = "<xcel>"  # merged with both (inside a 2-D span)
NL = "<nl>"  # end of row
_CELL_TAG_RE = re.compile("(" + "|".join(re.escape(tag) for tag in (FCEL, ECEL, LCEL, UCEL, XCEL)) + ")")
_STARTS_CELL = (FCEL, ECEL)
_EXTENDS_RIGHT = (LCEL, XCEL)
_EXTENDS_DOWN = (UCEL, XCEL)

# --- Spotting (spec §5.5, §5.7 step 4) ---------------------------------------------------------------------------
# Location tokens carry coordinates normalised to 0..LOC_SCALE of the image the model saw.
LOC_SCALE = 1000
QUAD_VALUES = 8  # x1 y1 … x4 y4: a quadrilateral
BOX_VALUES = 4  # x1 y1 x2 y2: an axis-aligned box
_LOC_TOKEN = r"<\|LOC_\d+\|>"
# A run of location tokens; vLLM may put one space between special tokens when it does not skip them.
_LOC_RUN_RE = re.compile(rf"{_LOC_TOKEN}(?: ?{_LOC_TOKEN})*")
_LOC_VALUE_RE = re.compile(r"<\|LOC_(\d+)\|>")
_WRAPPER_RE = re.compile(r"<\|(?:TEXT_START|TEXT_END|LOC_BEGIN)\|>")
_LOC_END = "<|LOC_END|>"
SPOTTING_SEPARATOR = "\n\n"

Point = tuple[int, int]


def guard_repetition(text: str, *, is_table: bool) -> str:
    """Cut a decoding loop out of an answer (spec §5.7 step 1; upstream issues #16710, #17532, #17903).

    Rules, first match wins: (1) a long single line ending in a repeated unit keeps what precedes the repeats;
    (2) a single line that is one unit repeated becomes that unit; (3) an answer dominated by one line becomes
    that line.

    Two deliberate deviations in rule 1, both where upstream loses text the spec means to keep: it cuts the
    longest repeated tail over all qualifying unit sizes (upstream stops at the longest unit, which can leave
    copies in the prefix or miss a tail that a longer unit covers less than half of); and when the repeats are
    the whole line it keeps one copy of the line's shortest period, as rule 2 does, where upstream's empty prefix
    would blank the block.
    """
    if len(text) < (TABLE_GUARD_MIN_CHARS if is_table else GUARD_MIN_CHARS):
        return text
    stripped = text.strip()
    if not stripped:
        return text
    if "\n" not in stripped:
        if len(stripped) > LONG_LINE_CHARS:
            covered = _repeated_tail_length(stripped)
            if covered > SUFFIX_MIN_SHARE * len(stripped):
                return stripped[: len(stripped) - covered] or _period_unit(stripped)
        if len(stripped) > WHOLE_MIN_CHARS:
            unit = _period_unit(stripped)
            if len(stripped) // len(unit) >= WHOLE_MIN_REPEATS:
                return unit
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    line, count = Counter(lines).most_common(1)[0]
    if count >= LINE_MIN_REPEATS and count / len(lines) >= LINE_MIN_SHARE:
        return line
    return text


def _repeated_tail_length(line: str) -> int:
    """Characters covered by the longest tail made of >= SUFFIX_MIN_REPEATS copies of one unit of at least
    SUFFIX_MIN_UNIT_CHARS characters; 0 when there is none."""
    best = 0
    for size in range(SUFFIX_MIN_UNIT_CHARS, len(line) // SUFFIX_MIN_REPEATS + 1):
        unit = line[-size:]
        if not line.endswith(unit * SUFFIX_MIN_REPEATS):
            continue
        covered = SUFFIX_MIN_REPEATS * size
        while line.endswith(unit, 0, len(line) - covered):
            covered += size
        best = max(best, covered)
    return best


def _period_unit(line: str) -> str:
    """The shortest unit whose repetition is exactly `line` (the line itself when there is none)."""
    length = len(line)
    for size in range(1, length // 2 + 1):
        if length % size == 0 and line[:size] * (length // size) == line:
            return line[:size]
    return line


def normalise_latex_delimiters(text: str, *, label: str) -> str:
    r"""Rewrite `\(…\)` and `\[…\]` as Markdown math (spec §5.7 step 2): ` $ … $` and ` $$ … $$ `.

    Only when the answer has an opening and a closing delimiter of one kind; then every literal `$` goes first (it
    would otherwise open stray math), doubled `\[\[`/`\]\]` collapse to one. The padding spaces are upstream's and
    are kept byte for byte. A `formula_number` ("(3)") is text beside an equation, so its `$` are dropped again.
    """
    if not (("\\(" in text and "\\)" in text) or ("\\[" in text and "\\]" in text)):
        return text
    text = text.replace("$", "")
    text = text.replace("\\(", " $ ").replace("\\)", " $")
    text = text.replace("\\[\\[", "\\[").replace("\\]\\]", "\\]")
    text = text.replace("\\[", " $$ ").replace("\\]", " $$ ")
    if label == FORMULA_NUMBER_LABEL:
        text = text.replace("$", "")
    return text


def otsl_to_html(otsl: str) -> str:
    """An OTSL table answer as `<table><tr><td>…` HTML (spec §5.7 step 3), or "" when it holds no table.

    Rows end at `<nl>`; text after `<fcel>` is that cell's text (stripped, HTML-escaped), text after any other tag
    or before a row's first tag is dropped. A cell spans right over the `<lcel>`/`<xcel>` run after it and down over
    the `<ucel>`/`<xcel>` run below it. A spanning tag no cell reaches becomes an empty `<td>`, so every row still
    fills the width. No `<th>`: the model does not mark header rows.

    Ragged answers are squared first (see `_square`). "" when no cell is ever started (no `<fcel>`/`<ecel>`), e.g.
    the model answered in prose or HTML; the caller then keeps the raw answer.
    """
    rows = _square(_otsl_rows(otsl))
    if not any(tag in _STARTS_CELL for row in rows for tag, _ in row):
        return ""
    height, width = len(rows), len(rows[0])
    covered = [[False] * width for _ in range(height)]
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    for r, row in enumerate(rows):
        for c, (tag, _) in enumerate(row):
            if tag not in _STARTS_CELL:
                continue
            colspan = 1 + _run(rows[r][c + 1 :], _EXTENDS_RIGHT)
            rowspan = 1 + _run([below[c] for below in rows[r + 1 :]], _EXTENDS_DOWN)
            spans[r, c] = (rowspan, colspan)
            for rr in range(r, r + rowspan):
                for cc in range(c, c + colspan):
                    covered[rr][cc] = True
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, (tag, text) in enumerate(row):
            if (r, c) in spans:
                rowspan, colspan = spans[r, c]
                attributes = (f' rowspan="{rowspan}"' if rowspan > 1 else "") + (
                    f' colspan="{colspan}"' if colspan > 1 else ""
                )
                content = html.escape(text.strip()) if tag == FCEL else ""
                cells.append(f"<td{attributes}>{content}</td>")
            elif not covered[r][c]:
                cells.append("<td></td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return "<table>" + "".join(body) + "</table>"


def _otsl_rows(otsl: str) -> list[list[tuple[str, str]]]:
    """(tag, following text) per cell, per row; rows without a cell tag (blank lines, stray text) are skipped."""
    rows = []
    for line in otsl.split(NL):
        parts = _CELL_TAG_RE.split(line)
        cells = list(zip(parts[1::2], parts[2::2]))
        if cells:
            rows.append(cells)
    return rows


def _square(rows: list[list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
    """Rows padded with `<ecel>` or truncated to one width (spec: "cost-optimal width").

    The width minimises the total number of cells added plus cells cut over all rows (a median of the row
    lengths, so one runaway or truncated row does not reshape the table), the smallest such width on ties, and
    is never narrower than the last `<fcel>` of any row, so no recognised text is cut away.
    """
    if not rows:
        return rows
    lengths = [len(row) for row in rows]
    narrowest = max((c + 1 for row in rows for c, (tag, _) in enumerate(row) if tag == FCEL), default=1)
    candidates = range(narrowest, max(lengths) + 1)
    width = min(candidates, key=lambda w: sum(abs(length - w) for length in lengths))
    return [row[:width] + [(ECEL, "")] * (width - len(row)) for row in rows]


def _run(tags: list[tuple[str, str]], kinds: tuple[str, ...]) -> int:
    """How many cells at the start of `tags` are of one of `kinds`."""
    count = 0
    for tag, _ in tags:
        if tag not in kinds:
            break
        count += 1
    return count


def parse_spotting(text: str, page_size: tuple[int, int]) -> tuple[list[list[Point]], list[str]]:
    """The `spotting_res` of a "Spotting:" answer (spec §3.4, §5.5): one polygon and one text per located text.

    Assumed format: each text is followed by its location, a run of `<|LOC_n|>` tokens, n = 0..1000 normalised to
    the picture the model saw, x and y alternating — 8 values are a quadrilateral (kept in the model's point
    order), 4 values an axis-aligned box x1 y1 x2 y2 (expanded clockwise from top-left). The text is whatever lies
    between the previous location and this one, stripped. Upstream's wrapped form
    `<|TEXT_START|>t<|TEXT_END|><|LOC_BEGIN|>…<|LOC_END|>` parses the same way. Runs of any other length are
    dropped with their text; text after the last location has no place and is dropped.

    `page_size` is (width, height) of the page in pixels — the image the crop was cut from, before any upscaling,
    because the coordinates are relative. Points are rounded and clipped to the page.
    """
    width, height = page_size
    polygons: list[list[Point]] = []
    texts: list[str] = []
    for found, values in _spotting_entries(text):
        xs = [_scale(v, width) for v in values[0::2]]
        ys = [_scale(v, height) for v in values[1::2]]
        if len(values) == BOX_VALUES:
            xs, ys = [xs[0], xs[1], xs[1], xs[0]], [ys[0], ys[0], ys[1], ys[1]]
        polygons.append(list(zip(xs, ys)))
        texts.append(found)
    return polygons, texts


def _spotting_entries(text: str) -> list[tuple[str, list[int]]]:
    cleaned = _WRAPPER_RE.sub("", text).replace(_LOC_END, "\n")
    entries = []
    start = 0
    for run in _LOC_RUN_RE.finditer(cleaned):
        found = cleaned[start : run.start()].strip()
        start = run.end()
        values = [int(value) for value in _LOC_VALUE_RE.findall(run.group())]
        if len(values) in (QUAD_VALUES, BOX_VALUES):
            entries.append((found, values))
    return entries


def _scale(value: int, size: int) -> int:
    return min(max(round(value / LOC_SCALE * size), 0), size)


def clean_output(text: str | None, *, task: str, label: str) -> str:
    """Steps 1–2 of spec §5.7, common to every task: None → "", repetition guard, LaTeX delimiters.

    For spotting, pass this (not the raw answer) to `parse_spotting`, as upstream parses the cleaned text.
    """
    text = guard_repetition(text or "", is_table=task == TABLE)
    return normalise_latex_delimiters(text, label=label)


def postprocess_output(text: str | None, *, task: str, label: str) -> str:
    """A block's content from the model's answer, in spec §5.7 order: `clean_output`, then for tables OTSL → HTML
    (the cleaned answer kept when it is not OTSL), for spotting the located texts separated by blank lines.

    `[F<n>]` figure tokens in tables are left for the caller, which knows the figures' image paths.
    """
    text = clean_output(text, task=task, label=label)
    if task == TABLE:
        return otsl_to_html(text) or text
    if task == SPOTTING:
        return SPOTTING_SEPARATOR.join(found for found, _ in _spotting_entries(text))
    return text

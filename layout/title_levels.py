"""Heading levels of paragraph titles chosen across a whole document (spec §5.10, "title re-levelling").

Three signals vote on each numbered title: the level its numbering implies (`2.1` → 2), the rank of its
numbering style among the styles in order of first use, and the rank of its line height among the document's
title heights (taller → higher). Unnumbered titles take the height rank, or level 1 for well-known section names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from layout.types import Block

# Titles are grouped into at most this many height classes (about as many font sizes as headings use).
MAX_HEIGHT_CLASSES = 4
# PaddleX's k-means settings (scikit-learn's defaults but for the seed), repeated so that our classes equal its.
KMEANS_SEED = 42
KMEANS_MAX_ITERATIONS = 300
KMEANS_RELATIVE_TOLERANCE = 1e-4  # of the heights' variance: smaller total centre moves end the iterations
# Voting can yield a level below this (a number shallower than the document's first dotted one); it is raised
# to this top heading level, that of the document title.
TOP_LEVEL = 0
SECTION_NAME_LEVEL = 1


@dataclass(frozen=True)
class NumberingStyle:
    name: str
    pattern: re.Pattern[str]
    level: int | None  # None: one level per dotted part of the number the pattern captures


# Tried in this order; the first match decides. Dotted numbers followed by a bracket are caught by the
# bracketed style first, which is why the dotted pattern needs no guard against a closing bracket.
NUMBERING_STYLES: tuple[NumberingStyle, ...] = (
    NumberingStyle("bracketed", re.compile(r"^\s*[(（]?\d+(?:\.\d+)*[)）]"), 4),  # (1)  1.2)  （3）
    NumberingStyle("roman", re.compile(r"^\s*[IVX]+(?:[.．)\s]|$)", re.IGNORECASE), 1),  # IV.  ii)
    NumberingStyle(
        "chinese",
        # 一、  第三章  （五）: a numeral not running on into a word
        re.compile(r"^\s*(?:第|[（(])?[一二三四五六七八九十]{1,2}(?:[章节篇卷部条题讲课回）)]|(?![a-zA-Z\u4e00-\u9fa5]))"),
        1,
    ),
    NumberingStyle("letter", re.compile(r"^\s*[A-Z][.．)\s]", re.IGNORECASE), 2),  # A.  b)
    NumberingStyle("dotted", re.compile(r"^\s*(\d+(?:\.\d+)*)"), None),  # 2  2.1  3.2.1
)
DOTTED = "dotted"

# Section names that are first-level headings however they are printed (compared upper-case, spaces removed).
SECTION_NAMES: frozenset[str] = frozenset(
    {
        "ABSTRACT", "SUMMARY", "RESUME", "CONTENTS", "INTRODUCTION", "BACKGROUND", "BACKGROUNDANDRELATEDWORK",
        "RELATEDWORK", "THEORETICALMODELS", "DATA", "METHOD", "METHODS", "METHODOLOGY", "TOPICANALYSIS",
        "RESULT", "RESULTS", "DISCUSSION", "CONCLUSION", "CONCLUSIONS", "LIMITATIONS", "ACKNOWLEDGMENTS",
        "REFERENCE", "REFERENCES", "APPENDIX", "APPENDICES",
        "绪论", "引言", "目录", "研究背景", "相关工作", "研究方法", "实验结果", "讨论", "结论", "致谢", "参考文献", "附录",
    }
)  # fmt: skip
# Trailing punctuation a section name may carry ("References:").
SECTION_NAME_TRAILER = "：: "


@dataclass(frozen=True)
class Numbering:
    style: str
    level: int


def title_levels(titles: Sequence[Block]) -> list[int]:
    """The heading level of each paragraph title, in document order (`#` × (level + 1) in Markdown)."""
    numberings = [numbering_of(title.content) for title in titles]
    height_classes = height_ranks([line_height(title) for title in titles])
    style_ranks: dict[str, int] = {}
    for numbering in numberings:
        if numbering is not None:
            style_ranks.setdefault(numbering.style, len(style_ranks) + 1)
    # The first dotted title takes the dotted style's rank; every other one goes a rank deeper per extra dot (and
    # shallower per missing one), so a document whose dotted numbers start at `1.1` ranks `1.1` like `1`.
    first_dotted_level: int | None = None
    levels = []
    for title, numbering, height_class in zip(titles, numberings, height_classes):
        if numbering is not None:
            rank = style_ranks[numbering.style]
            if numbering.style == DOTTED:
                if first_dotted_level is None:
                    first_dotted_level = numbering.level
                rank += numbering.level - first_dotted_level
            # Of the three votes, two that agree win, and the style rank decides a three-way split: so the
            # numbering's own level wins exactly when the height agrees with it.
            level = numbering.level if numbering.level == height_class else rank
        elif _section_name(title.content) in SECTION_NAMES:
            level = SECTION_NAME_LEVEL
        else:
            level = height_class
        levels.append(max(level, TOP_LEVEL))
    return levels


def numbering_of(title: str) -> Numbering | None:
    """The title's leading numbering style and the level it implies, or None when it has none."""
    for style in NUMBERING_STYLES:
        match = style.pattern.match(title)
        if match is not None:
            level = style.level if style.level is not None else match.group(1).count(".") + 1
            return Numbering(style.name, level)
    return None


def line_height(title: Block) -> int:
    """Height of one text line of the title: its box across the reading direction over its line count."""
    x1, y1, x2, y2 = title.bbox
    width, height = x2 - x1, y2 - y1
    lines = title.content.strip().count("\n") + 1
    # A box taller than wide holds vertical text, whose lines stack side by side.
    across = height if width >= height else width
    return int(across / lines)


def height_ranks(heights: Sequence[int]) -> list[int]:
    """Each height's class rank, 1 for the tallest: the heights grouped into at most MAX_HEIGHT_CLASSES classes by
    k-means, each distinct height ranked by the class centre nearest to it."""
    distinct = sorted(set(heights))
    if not distinct:
        return []
    centres = _kmeans_centres(heights, min(MAX_HEIGHT_CLASSES, len(distinct)))
    rank_of_class = {int(cls): rank for rank, cls in enumerate(np.argsort(-centres), 1)}
    rank_of = {h: rank_of_class[int(np.argmin(np.abs(h - centres)))] for h in distinct}
    return [rank_of[h] for h in heights]


def _kmeans_centres(heights: Sequence[int], count: int) -> np.ndarray:
    """Centres of `count` k-means classes of the heights, computed as PaddleX's scikit-learn call
    (`KMeans(n_clusters=count, random_state=42, n_init="auto")`) computes them: one k-means++ seeding with the same
    random draws, then Lloyd iterations, in the same floating-point steps, on heights centred on their mean.

    The result is a local optimum, not always the best grouping; repeating it keeps the levels equal to
    PaddleX's. Only a height exactly halfway between two centres, which BLAS kernels settle differently on
    different CPUs (in PaddleX too), may fall either way.
    """
    # A one-feature column, as scikit-learn holds it, so that sums run in the same order and round alike.
    column = np.asarray(heights, dtype=np.float64)[:, None]
    tolerance = np.var(column, axis=0).mean() * KMEANS_RELATIVE_TOLERANCE
    mean = column.mean(axis=0)[0]
    x = column[:, 0] - mean
    centres = _kmeans_plus_plus(x, count)
    labels_before = np.full(len(x), -1)
    for _ in range(KMEANS_MAX_ITERATIONS):
        # Squared distance less the point's own square (irrelevant to the nearest centre), as scikit-learn's GEMM.
        labels = np.argmin((centres * centres)[None, :] + -2.0 * (x[:, None] @ centres[None, :]), axis=1)
        counts = np.bincount(labels, minlength=count)
        sums = np.bincount(labels, weights=x, minlength=count)
        # scikit-learn multiplies by the reciprocal; dividing rounds differently and can flip a later tie. A class
        # left empty (scikit-learn would move it to the farthest point; never seen with title heights) keeps its
        # centre.
        moved = np.where(counts > 0, sums * (1.0 / np.maximum(counts, 1)), centres)
        shift = float((np.sqrt((moved - centres) ** 2) ** 2).sum())
        centres = moved
        if np.array_equal(labels, labels_before) or shift <= tolerance:
            break
        labels_before = labels
    return centres + mean


def _kmeans_plus_plus(x: np.ndarray, count: int) -> np.ndarray:
    """scikit-learn's greedy k-means++ seeding: the first centre drawn uniformly, each next one the best of a few
    candidates drawn with probability proportional to their squared distance from the centres so far."""
    rng = np.random.RandomState(KMEANS_SEED)
    weights = np.ones(len(x))
    candidates_per_step = 2 + int(np.log(count))
    centres = np.empty(count)
    first = rng.choice(len(x), p=weights / weights.sum())
    centres[0] = x[first]
    closest = _squared_distances(x[[first]], x)  # row shape (1, n) first, as scikit-learn's
    potential = closest @ weights
    for step in range(1, count):
        draws = rng.uniform(size=candidates_per_step) * potential
        candidates = np.minimum(np.searchsorted(np.cumsum(weights * closest), draws), len(x) - 1)
        closest_with = np.minimum(closest, _squared_distances(x[candidates], x))
        potentials = closest_with @ weights[:, None]
        best = int(np.argmin(potentials))
        potential, closest, centres[step] = potentials[best], closest_with[best], x[candidates[best]]
    return centres


def _squared_distances(points: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Squared distance of each point to each x, in scikit-learn's order of operations (a² − 2ab + b²)."""
    distances = -2 * (points[:, None] @ x[None, :])
    distances += (points * points)[:, None]
    distances += (x * x)[None, :]
    return np.maximum(distances, 0)


def _section_name(title: str) -> str:
    return title.upper().strip().rstrip(SECTION_NAME_TRAILER).replace(" ", "")

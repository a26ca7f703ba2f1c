"""Text accuracy against the dev set's ground truth: 1 − normalised edit distance, the score its README names.

Markdown and HTML syntax, case and whitespace are left out of the comparison, so the score measures the characters
read and their order, not how the two sides format headings or tables.
"""

from __future__ import annotations

import re
from pathlib import Path

from rapidfuzz.distance import Levenshtein

# Pictures (`![alt](path)`, `<img …>`) carry no text; tags and Markdown markers are formatting.
_PICTURES = re.compile(r"!\[[^\]]*\]\([^)]*\)|<img[^>]*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
_MARKERS = re.compile(r"[#*_|`>]|^\s*[-+]\s", re.MULTILINE)
_SPACE = re.compile(r"\s+")


def normalised(text: str) -> str:
    text = _TAGS.sub(" ", _PICTURES.sub(" ", text))
    return _SPACE.sub(" ", _MARKERS.sub(" ", text)).strip().lower()


def text_accuracy(read: str, truth: str) -> float:
    return 1.0 - Levenshtein.normalized_distance(normalised(read), normalised(truth))


def ground_truth(document: Path) -> Path:
    """Where the dev set keeps a document's Markdown ground truth (`<set>/groundtruth/<name>.md`)."""
    return document.parent.parent / "groundtruth" / f"{document.stem}.md"

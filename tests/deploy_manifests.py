"""What the deploy/ manifests refer to, for tests: the metric names the Grafana dashboard queries.

`dashboard_metric_names` is shared by the unit tests of deploy/ and the service tests, which compare it with what a
running service exports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "ocrvl-dashboard.json"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_COMMENT = re.compile(r"#[^\n]*")
# Label matchers, range and subquery durations: `{...}` and `[...]` never nest once strings are gone.
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
# Label lists after grouping and vector-matching modifiers: `by (le, endpoint)`, `on (instance)`, ...
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
# An identifier that is not part of a number (`5m`, `1e3`) or a Grafana variable (`$__rate_interval`).
_IDENTIFIER = re.compile(r"(?<![\w$.])[A-Za-z_:][A-Za-z0-9_:]*")
# PromQL's keywords and literals; function and aggregation names are recognised by the `(` that follows them.
_KEYWORDS = frozenset({
    "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "offset", "inf", "nan",
})


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in one PromQL expression, exactly as written (histograms keep their `_bucket` suffix)."""
    text = _COMMENT.sub(" ", _STRING.sub('""', expr))
    text = _LABEL_LIST.sub(" ", text)
    text = _BRACES.sub("{}", _BRACKETS.sub("[]", text))
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group()
        if name.lower() in _KEYWORDS or text[match.end():].lstrip().startswith("("):
            continue
        names.add(name)
    return names


def dashboard_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from dashboard_panels(panel)


def dashboard_metric_names(dashboard: dict[str, Any]) -> set[str]:
    """Every metric name used by any panel target's `expr`, as written in the queries."""
    return {
        name
        for panel in dashboard_panels(dashboard)
        for target in panel.get("targets", [])
        for name in promql_metric_names(target.get("expr", ""))
    }


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    return json.loads(path.read_text())

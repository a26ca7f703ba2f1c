"""Responses of this tree against those of an earlier commit, field for field, on the dev documents.

    .venv/bin/python scripts/compare_responses.py --base ffc5fb2                       # configs/local.yaml
    .venv/bin/python scripts/compare_responses.py --base ffc5fb2 --config configs/vl-cpu-tiny.yaml
    .venv/bin/python scripts/compare_responses.py --base 4b4235a --fields '{"textLayer": "off"}'

For a refactor that must not change behaviour: the base commit is checked out into a temporary worktree and
served with the same venv (its modules first on PYTHONPATH, which Ray's workers inherit), one service after the
other. Dev documents (the first of each dev set; see --per-set) are posted with visualisation on and with
a few option mixes (each with `--fields` added: a field the base does not know is ignored there, as by any
server of the contract), and the two JSON answers are compared with `logId` taken out. Prints one line per
difference and a summary; exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loadtest.commits import served_from, worktree  # noqa: E402
from loadtest.service import running_service  # noqa: E402

EVAL = REPO.parent / "shared" / "eval"
SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
OPTION_MIXES = (
    {"visualize": True},
    {"visualize": False, "useDocOrientationClassify": True, "formatBlockContent": True, "prettifyMarkdown": False},
    {"visualize": False, "useLayoutDetection": False},
)


def documents(per_set: int) -> list[Path]:
    """The first `per_set` documents of each dev set: every kind of document, not the first sets only."""
    found = sorted(p for p in EVAL.rglob("*") if p.suffix.lower() in SUFFIXES and "groundtruth" not in p.parts)
    chosen: dict[str, list[Path]] = {}
    for path in found:
        picked = chosen.setdefault(path.relative_to(EVAL).parts[0], [])
        if len(picked) < per_set:
            picked.append(path)
    return [path for picked in chosen.values() for path in picked]


def answers(url: str, docs: list[Path], fields: dict) -> dict[str, dict]:
    out = {}
    with httpx.Client(base_url=url, timeout=600) as client:
        for doc in docs:
            for i, options in enumerate(OPTION_MIXES):
                body = {"file": base64.b64encode(doc.read_bytes()).decode(), **options, **fields}
                response = client.post("/layout-parsing", json=body)
                answer = response.json()
                answer.pop("logId", None)
                out[f"{doc.relative_to(EVAL)} #{i}"] = {"status": response.status_code, "body": answer}
    return out


def differences(a: object, b: object, path: str = "") -> Iterator[str]:
    if type(a) is not type(b):
        yield f"{path}: {type(a).__name__} {str(a)[:60]!r} != {type(b).__name__} {str(b)[:60]!r}"
    elif isinstance(a, dict):
        if list(a) != list(b):
            yield f"{path}: keys {list(a)} != {list(b)}"
        for key in a.keys() & b.keys():
            yield from differences(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        if len(a) != len(b):
            yield f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            yield from differences(x, y, f"{path}[{i}]")
    elif a != b:
        yield f"{path}: {str(a)[:60]!r} != {str(b)[:60]!r}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--config", type=Path, default=Path("configs/local.yaml"))
    parser.add_argument("--per-set", type=int, default=1, help="documents from each dev set")
    parser.add_argument("--fields", type=json.loads, default={}, help="request fields added to every option mix")
    args = parser.parse_args(argv)
    docs = documents(args.per_set)
    with tempfile.TemporaryDirectory() as work:
        with running_service(Path(work), REPO / args.config) as url:
            ours = answers(url, docs, args.fields)
    with worktree(args.base) as base, tempfile.TemporaryDirectory() as work, \
            served_from(base, Path(work), args.config) as url:
        theirs = answers(url, docs, args.fields)
    found = [f"{name}{line}" for name in ours for line in differences(theirs[name], ours[name])]
    for line in found:
        print(line)
    print(f"{len(ours)} answers compared ({len(docs)} documents x {len(OPTION_MIXES)} option mixes): "
          f"{len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

"""Another commit checked out beside this tree, for side-by-side benchmarks and comparisons."""

import subprocess

from loadtest.commits import worktree
from loadtest.service import REPO


def listed_worktrees() -> str:
    return subprocess.run(["git", "-C", str(REPO), "worktree", "list"], check=True, capture_output=True,
                          text=True).stdout


def test_a_commit_is_checked_out_with_this_trees_models_and_removed_afterwards() -> None:
    with worktree("HEAD") as tree:
        assert (tree / "loadtest" / "service.py").is_file()
        assert (tree / "var").resolve() == (REPO / "var").resolve()
        assert str(tree) in listed_worktrees()
    assert not tree.exists()
    assert str(tree) not in listed_worktrees()

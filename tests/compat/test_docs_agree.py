"""The compatibility matrix as published agrees with what `make compat` last observed.

docs/compatibility.json holds the facts of the last run; README.md's "Which SDK reads what"
table and docs/compatibility.md are rendered from it by compat/report.py. These tests render
them again and compare, so a hand edit of the table, or facts committed without their pages,
fails `make test` without running a single client. The recommendation rules are checked on
small made-up rows, so "use" can only say what the outcomes support, and so are the checks a
strict run (CI) makes against the committed facts and the Node version check of the JavaScript
clients (compat/engines.py, against the real compat/js/package-lock.json and a stand-in node).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "compat"))

import engines  # noqa: E402
import report  # noqa: E402


def test_readme_table_and_matrix_page_agree_with_the_last_runs_facts():
    assert report.problems(REPO) == []


def test_every_client_and_mode_has_a_published_outcome_with_its_message():
    facts = report.load(REPO / "docs" / "compatibility.json")
    cells = report.cell_map(facts)
    for client in facts["clients"]:
        for mode in facts["modes"]:
            cell = cells[(client["id"], mode["id"])]
            assert cell["outcome"] in ("works", "recovers", "fails", "not run"), cell
            if cell["outcome"] != "works":
                assert cell.get("message"), cell


def _copy(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    for name in ("README.md", "docs/compatibility.json", "docs/compatibility.md"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_a_hand_edited_readme_table_is_caught(tmp_path):
    root = _copy(tmp_path)
    readme = (root / "README.md").read_text()
    section = report.current_section(readme)
    first_row = next(line for line in section.splitlines() if line.startswith("| ") and "client |" not in line)
    edited = first_row.replace("✗", "✓", 1) if "✗" in first_row else first_row.replace("✓", "✗ `Edited`", 1)
    assert edited != first_row
    (root / "README.md").write_text(readme.replace(first_row, edited))
    assert any("README.md's table disagrees" in p for p in report.problems(root))


def test_facts_changed_without_their_pages_are_caught(tmp_path):
    root = _copy(tmp_path)
    facts = json.loads((root / "docs" / "compatibility.json").read_text())
    cell = next(c for c in facts["cells"] if c["outcome"] == "works")
    cell.update(outcome="fails", message="ExpiredToken: The provided token has expired.")
    (root / "docs" / "compatibility.json").write_text(json.dumps(facts))
    found = report.problems(root)
    assert any("README.md" in p for p in found) and any("compatibility.md" in p for p in found)


def _facts(row: dict[str, str]) -> dict:
    modes = ["file", "file-env", "serve", "serve-token", "serve-token-file", "serve-long-term",
             "credential-process", "print-env", "exec", "exec-file"]
    return {
        "modes": [{"id": m, "title": m, "setup": ""} for m in modes],
        "clients": [{"id": "c", "title": "c", "kind": "long-running", "version": "1"}],
        "cells": [{"client": "c", "mode": m, "outcome": row.get(m, "not run"),
                   "message": "x" if row.get(m, "not run") != "not run" else f"why {m} did not run"}
                  for m in modes],
    }


def test_use_follows_from_the_row():
    # rclone rcd as the outside check saw it: the file never re-read, the endpoint fine.
    assert report.recommend(_facts({"file": "fails", "file-env": "fails", "serve": "works", "serve-token": "works",
                                    "exec": "works"}), "c") == "the endpoint (`--serve`) or `--`, not the file"
    # Keys put in the environment once: a long-running client keeps them past their expiry.
    assert report.recommend(_facts({"file": "fails", "file-env": "fails", "serve": "works", "print-env": "fails"}),
                            "c") == (
        "the endpoint (`--serve`), not the file or `--print env`")
    assert report.recommend(_facts({"file": "recovers", "file-env": "recovers", "print-env": "fails"}), "c") == (
        "the file (one `ExpiredToken` per rotation: the SDK re-reads it only then); not `--print env`")
    # Harbor's chain: no container provider, the file re-read after one ExpiredToken.
    assert report.recommend(_facts({"file": "recovers", "file-env": "recovers", "serve": "fails"}), "c").startswith(
        "the file (one `ExpiredToken` per rotation")
    # A short-lived CLI reads the file afresh every run.
    assert report.recommend(_facts({"file": "works", "file-env": "works", "serve": "works"}), "c") == "the file"
    # The token-file variable unread: say which token variable to use.
    assert report.recommend(_facts({"file": "fails", "serve": "works", "serve-token": "works",
                                    "serve-token-file": "fails"}), "c").endswith(
        "token as `AWS_CONTAINER_AUTHORIZATION_TOKEN`, not `_FILE`")
    # Only the home-directory path is read.
    assert report.recommend(_facts({"file": "recovers", "file-env": "fails"}), "c").endswith(
        "it finds the file only as `$HOME/.aws/credentials`")
    assert report.recommend(_facts({}), "c") == "no mode that ran worked"
    # JavaScript v2: an endpoint answering long-term keys (empty Token) is refused; the file is not.
    assert report.recommend(_facts({"file": "recovers", "serve": "works", "serve-long-term": "fails",
                                    "exec": "works"}), "c").endswith(
        "the endpoint (also `--` without `--file`) needs temporary credentials: with long-term keys "
        "(an empty `Token`) use the file")
    assert "long-term" not in report.recommend(_facts({"serve": "works", "serve-long-term": "works"}), "c")


def test_drift_counts_changed_outcomes_and_cells_that_ran_only_now():
    before = _facts({"file": "fails", "serve": "works"})
    after = _facts({"file": "fails", "serve": "fails", "exec": "works"})
    changes, now_runnable, stopped = report.drift(before, after)
    assert changes == ["c / serve: works -> fails"] and now_runnable == 1 and stopped == []
    assert report.strict_failures(before, after) == ["outcome changed: c / serve: works -> fails"]


def test_strict_fails_on_a_cell_that_ran_before_and_not_now_naming_it_and_why():
    before = _facts({"file": "fails", "serve": "works", "exec": "works"})
    after = _facts({"file": "fails", "serve": "works"})  # exec: not run, "why exec did not run"
    changes, now_runnable, stopped = report.drift(before, after)
    assert changes == [] and now_runnable == 0
    assert stopped == ["c / exec: works in the committed facts, not run now: why exec did not run"]
    assert report.strict_failures(before, after) == [f"stopped running: {stopped[0]}"]
    # Without a previous run, or with nothing that stopped, strict has nothing to say.
    assert report.strict_failures(None, after) == []
    assert report.strict_failures(after, after) == []


def test_cells_the_committed_facts_lack_are_not_drift():
    # A mode added since the facts were committed: its cells are new, whatever their outcome.
    before = _facts({"file": "fails", "serve": "works"})
    before["modes"] = [m for m in before["modes"] if m["id"] not in ("print-env", "serve-long-term")]
    before["cells"] = [c for c in before["cells"] if c["mode"] not in ("print-env", "serve-long-term")]
    after = _facts({"file": "fails", "serve": "works", "print-env": "fails"})
    assert report.drift(before, after) == ([], 0, []) and report.strict_failures(before, after) == []


LOCKFILE = REPO / "compat" / "js" / "package-lock.json"


def _node(tmp_path: Path, version: str) -> str:
    node = tmp_path / "node"
    node.write_text(f"#!/bin/sh\necho v{version}\n")
    node.chmod(0o755)
    return str(node)


def test_a_node_below_the_lockfiles_engines_is_named_with_the_package_that_asks_more(tmp_path):
    declared = json.loads(LOCKFILE.read_text())["packages"]["node_modules/@aws-sdk/client-s3"]
    least = engines.minimum(declared["engines"]["node"])
    assert least is not None and engines.parse_version(least) > (18, 19, 0), "the pin no longer needs Node > 18"
    why = engines.too_old(_node(tmp_path, "18.19.0"), LOCKFILE, "@aws-sdk/client-s3")
    assert why is not None and why.startswith(
        f"Node 18.19.0 < {least} required by @aws-sdk/client-s3 {declared['version']}"), why
    # JavaScript v2 asks less of Node; both are fine on a Node that meets every declared range.
    assert engines.too_old(_node(tmp_path, "18.19.0"), LOCKFILE, "aws-sdk") is None
    assert engines.too_old(_node(tmp_path, "99.0.0"), LOCKFILE, "@aws-sdk/client-s3") is None
    assert "cannot be run" in engines.too_old(str(tmp_path / "no-node"), LOCKFILE, "aws-sdk")


@pytest.mark.parametrize("range_text, version, ok", [
    (">=20.0.0", "18.19.0", False), (">=20.0.0", "20.0.0", True), (">= 0.4", "0.4.0", True),
    (">=0.4.x", "0.3.9", False), ("^14.17.0 || >=16", "15.0.0", False), ("^14.17.0 || >=16", "14.18.1", True),
    ("~1.2", "1.3.0", False), ("1.x", "1.9.9", True), ("1.2 - 2", "2.9.0", True), ("1.2 - 2", "3.0.0", False),
    (">4 <6", "5.0.0", True), ("<=4", "4.5.0", True), ("something odd", "1.0.0", True),
])
def test_engines_ranges(range_text, version, ok):
    assert engines.satisfies(engines.parse_version(version), range_text) is ok

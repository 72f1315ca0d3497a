"""gankit.files: whole-file writes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gankit.files import write_atomic, write_json


def test_write_json_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    p = tmp_path / "recipe.json"
    p.write_text("old")
    write_json(p, {"a": [1, 2]})
    assert json.loads(p.read_text()) == {"a": [1, 2]}
    assert [f.name for f in tmp_path.iterdir()] == ["recipe.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text("old")

    with pytest.raises(TypeError):
        write_atomic(p, object())  # not bytes: the write fails after the temp file is open
    assert p.read_text() == "old" and [f.name for f in tmp_path.iterdir()] == ["x.json"]

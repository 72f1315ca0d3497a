"""gankit.files: whole-file writes."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gankit.files import TEMP_SUFFIX, sweep_temps, temp_path, write_atomic, write_json


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


def _dead_pid() -> int:
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(p.stdout)


def test_sweep_removes_the_temps_of_dead_writers_only(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = tmp_path / f".a.json.{dead}{TEMP_SUFFIX}"
    stale_dir = tmp_path / f".run.{dead}{TEMP_SUFFIX}"
    mine = temp_path(tmp_path / "b.json")
    live = tmp_path / f".c.json.1{TEMP_SUFFIX}"  # pid 1 always exists
    other = tmp_path / f".d.json.{dead}.tmp"  # not our naming: never touched
    for p in (stale, mine, live, other):
        p.write_text("x")
    stale_dir.mkdir()
    (stale_dir / "config.json").write_text("{}")
    assert sorted(sweep_temps(tmp_path)) == sorted([stale, stale_dir])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (mine, live, other))


def test_a_failed_write_names_the_final_file_and_keeps_the_old_one(tmp_path: Path, monkeypatch) -> None:
    p = tmp_path / "ckpt.safetensors"
    p.write_bytes(b"old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as e:
        write_atomic(p, b"new bytes")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(p)  # not the temp's name
    assert p.read_bytes() == b"old" and [f.name for f in tmp_path.iterdir()] == ["ckpt.safetensors"]


def test_a_kill_mid_write_leaves_the_old_file_and_the_next_write_sweeps_the_temp(tmp_path: Path) -> None:
    """A real SIGKILL halfway through the bytes ($GANKIT_FAULT=kill_in_write:NAME)."""
    p = tmp_path / "report.html"
    p.write_text("old")
    code = f"from gankit.files import write_atomic; write_atomic({str(p)!r}, b'new' * 1000)"
    env = {**os.environ, "GANKIT_FAULT": "kill_in_write:report.html"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert r.returncode == -signal.SIGKILL, r.stderr
    temps = [f for f in tmp_path.iterdir() if f.name.endswith(TEMP_SUFFIX)]
    assert p.read_text() == "old" and len(temps) == 1 and temps[0].stat().st_size == 1500  # half of it, never renamed
    write_atomic(tmp_path / "other.json", b"{}")  # any later write into the folder
    assert sorted(f.name for f in tmp_path.iterdir()) == ["other.json", "report.html"]


def test_a_new_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    from gankit.files import new_folder

    with pytest.raises(OSError):
        with new_folder(tmp_path / "run") as build:
            (build / "config.json").write_text("{}")
            raise OSError(errno.ENOSPC, "No space left on device")  # the disk fills halfway through the build
    assert list(tmp_path.iterdir()) == []  # no partial run, no temp
    with new_folder(tmp_path / "run") as build:
        (build / "config.json").write_text("{}")
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and (tmp_path / "run" / "config.json").exists()


def test_read_json_object_names_what_the_file_holds_instead(tmp_path):
    from gankit.files import read_json_object

    cases = {"ok.json": b'{"a": 1}', "list.json": b"[1, 2]", "number.json": b"3", "broken.json": b'{"a": ',
             "latin1.json": '{"é": 1}'.encode("latin-1")}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert read_json_object(tmp_path / "ok.json") == {"a": 1}
    for name, words in (("list.json", "a JSON list, not an object"), ("number.json", "a JSON int, not an object"),
                        ("broken.json", "Expecting value"), ("latin1.json", "can't decode byte 0xe9")):
        with pytest.raises(ValueError) as e:
            read_json_object(tmp_path / name)
        assert words in str(e.value) and "\n" not in str(e.value), (name, str(e.value))
    with pytest.raises(OSError):
        read_json_object(tmp_path / "missing.json")

"""One process per run directory: a second `gankit train` on the same --out is refused; stale locks are taken over."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from gankit.runlock import LOCK_NAME

ARGS = ["--preset", "mlp-grid25", "--set", "train.metrics=none", "--set", "train.tensorboard=false",
        "--set", "train.threads=1"]


def train(out: Path, kimg: str = "0.5") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gankit", "train", *ARGS, "--kimg", kimg, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_process_on_the_same_out_is_refused_in_one_line(tmp_path: Path) -> None:
    first = train(tmp_path, "30")
    deadline = time.time() + 60
    while not (tmp_path / LOCK_NAME).exists() and time.time() < deadline:
        time.sleep(0.1)
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == first.pid
    second = train(tmp_path, "30")
    _, err = second.communicate(timeout=120)
    first.terminate()  # SIGTERM: finishes the step, saves, exits 0 and removes its lock
    first.communicate(timeout=120)
    assert second.returncode == 2 and f"in use by pid {first.pid}" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert first.returncode == 0 and not (tmp_path / LOCK_NAME).exists()


def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "start": None}))
    out, err = train(tmp_path).communicate(timeout=300)
    assert f"took over the lock of {tmp_path} from pid {dead.pid}" in out + err
    assert (tmp_path / "checkpoints").is_dir() and not (tmp_path / LOCK_NAME).exists()


def test_a_torn_lock_file_counts_as_stale(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text("")  # its writer died between creating and writing it
    p = train(tmp_path)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0 and "took over the lock" in out + err, err


def test_a_lock_held_on_another_host_is_refused_with_the_way_out(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": "elsewhere.example", "since": "then"}))
    p = train(tmp_path)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2 and "on host elsewhere.example" in err and f"delete {tmp_path / LOCK_NAME}" in err, err
    assert sorted(x.name for x in tmp_path.iterdir()) == [LOCK_NAME]  # nothing written


def test_a_reused_pid_does_not_keep_a_dead_run_locked(tmp_path: Path) -> None:
    """The pid runs (this test's own process) but started at another time than the lock says: stale."""
    if not Path(f"/proc/{os.getpid()}/stat").exists():
        import pytest

        pytest.skip("no /proc: process start times unknown on this system")
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "start": "1"}))
    p = train(tmp_path)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0 and f"from pid {os.getpid()}" in out + err, err

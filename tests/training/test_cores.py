"""Threads on a shared machine (training.cores): the load of other processes from /proc, the thread count it leaves,
and a run that follows it."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from gankit.training import cores


def write_proc(tmp: Path, busy: int, idle: int, own: int) -> tuple[str, str]:
    """A /proc/stat first line with `busy` jiffies spread over user/system/irq and `idle` over idle/iowait, and a
    /proc/self/stat whose utime + stime is `own` (its command name holds a space and a parenthesis, as they may)."""
    (tmp / "stat").write_text(f"cpu  {busy - 30} 0 10 {idle - 5} 5 10 5 5 0 0\ncpu0 0 0 0 0\n")
    (tmp / "own").write_text(f"123 (py (thon) x) R 1 2 3 4 5 6 7 8 9 10 {own - 7} 7 0 0 20 0 3 0 1 2 3\n")
    return str(tmp / "stat"), str(tmp / "own")


def test_other_load_is_the_machines_busy_time_minus_this_process_per_second(tmp_path, monkeypatch):
    clock = iter([100.0, 102.0])
    monkeypatch.setattr(cores.time, "monotonic", lambda: next(clock))
    stat, own = write_proc(tmp_path, busy=1000, idle=5000, own=400)
    load = cores.OtherLoad(stat, own)
    load.hz = 100
    # 2 s later: the machine spent 500 more busy jiffies (5 core-seconds... over 2 s), this process 150 of them
    write_proc(tmp_path, busy=1500, idle=5100, own=550)
    assert load.busy() == pytest.approx((500 - 150) / 100 / 2.0)  # 1.75 cores busy with others
    (tmp_path / "stat").write_text("not a stat file\n")
    assert load.busy() is None  # unreadable: the load is unknown


def test_threads_are_the_cores_others_leave_free_at_least_one():
    assert [cores.threads_for(2, b) for b in (None, 0.0, 0.3, 0.67, 1.0, 1.6, 3.0)] == [2, 2, 2, 1, 1, 1, 1]
    assert [cores.threads_for(8, b) for b in (0.0, 1.2, 2.6, 7.9)] == [8, 7, 5, 1]


def test_a_real_busy_process_is_seen_as_about_one_core():
    if cores.usable_cores() < 2 or not Path("/proc/stat").exists():
        pytest.skip("needs /proc/stat and 2 usable cores (here: %d)" % cores.usable_cores())
    spin = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 20\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.5)  # the competitor is running
        load = cores.OtherLoad()
        time.sleep(1.0)
        busy = load.busy()
    finally:
        spin.kill()
        spin.wait()
    assert busy is not None and busy >= 0.7  # other work on the machine can only add to it


def test_the_count_follows_the_load_and_each_change_is_an_event(monkeypatch):
    seq = iter([1.0, 1.0, 0.0, 0.0])  # start: one busy core; then the same; then the competitor is gone
    monkeypatch.setattr(cores.OtherLoad, "busy", lambda self: next(seq))
    monkeypatch.setattr(cores, "usable_cores", lambda: 2)
    monkeypatch.setattr(cores, "SAMPLE_S", 0.0)
    monkeypatch.setattr(cores, "RECHECK_S", 0.0)
    before = torch.get_num_threads()
    try:
        said, events = [], []
        t = cores.Threads(0, torch.device("cpu"), said.append)
        assert torch.get_num_threads() == 1 and "busy machine" in said[0] and "1.0 of the 2 usable cores" in said[0]
        t.event = lambda images, message: events.append((images, message))
        state = type("S", (), {"images": 640})()
        t.after_step(state, {})
        assert torch.get_num_threads() == 1 and events == []  # unchanged: no event
        t.after_step(state, {})
        assert torch.get_num_threads() == 2 and events == [(640, "threads 1 -> 2: other processes use 0.0 of 2 cores")]
        monkeypatch.setattr(cores, "RECHECK_S", 3600.0)
        t.after_step(state, {})  # not yet time to look again: nothing read
        assert next(seq) == 0.0
    finally:
        torch.set_num_threads(before)


def test_a_fixed_count_stays_and_one_above_the_cores_is_warned(monkeypatch):
    monkeypatch.setattr(cores, "usable_cores", lambda: 2)
    monkeypatch.setattr(cores.OtherLoad, "busy", lambda self: pytest.fail("a fixed count reads no load"))
    before = torch.get_num_threads()
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            t = cores.Threads(1, torch.device("cpu"))
            t.after_step(type("S", (), {"images": 0})(), {})
            assert torch.get_num_threads() == 1 and not w
            cores.Threads(3, torch.device("cpu"))
        assert torch.get_num_threads() == 3
        assert len(w) == 1 and "train.threads=3 exceeds the 2 usable cores" in str(w[0].message)
        assert "25% of their quiet rate" in str(w[0].message)
    finally:
        torch.set_num_threads(before)


def test_usable_cores_follow_the_affinity(monkeypatch):
    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: {0, 3, 5})
    assert cores.usable_cores() <= 3


def test_the_cpu_is_named_by_its_model_line_and_torchs_kernels(tmp_path, monkeypatch):
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Some CPU 9000 @ 2GHz\nflags\t: avx\n"
                                      "processor\t: 1\nmodel name\t: Some CPU 9000 @ 2GHz\n")
    monkeypatch.setattr(cores, "CPUINFO", tmp_path / "cpuinfo")
    monkeypatch.setattr(cores.torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert cores.cpu_name() == "Some CPU 9000 @ 2GHz (AVX512)"
    monkeypatch.setattr(cores, "CPUINFO", tmp_path / "absent")
    monkeypatch.setattr(cores.platform, "processor", lambda: "")
    monkeypatch.setattr(cores.platform, "machine", lambda: "aarch64")  # ARM: no model name line, no processor
    assert cores.cpu_name() == "aarch64 (AVX512)"
    monkeypatch.setattr(cores.platform, "machine", lambda: "")
    assert cores.cpu_name() == "unknown CPU (AVX512)"


def test_a_run_on_a_busy_machine_says_so_at_the_start(tmp_path):
    if cores.usable_cores() < 2 or not Path("/proc/stat").exists():
        pytest.skip("needs /proc/stat and 2 usable cores (here: %d)" % cores.usable_cores())
    spin = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 120\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.5)
        p = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "r3gan-tiny", "--kimg", "0.032",
                            "--set", "train.metrics=none", "--set", "train.tensorboard=false", "--out", str(tmp_path / "r")],
                           capture_output=True, text=True, timeout=300)
    finally:
        spin.kill()
        spin.wait()
    assert p.returncode == 0, p.stderr[-2000:]
    assert "busy machine: other processes use" in p.stdout + p.stderr
    assert json.loads((tmp_path / "r" / "run.json").read_text())["cpu"] == cores.cpu_name()  # bitwise reruns need the same

"""Runs that survive: SIGKILL at random points (one mid-checkpoint) resumes bitwise exactly, NaN rollback,
SIGTERM stop-and-save, a corrupt latest checkpoint, a full disk. Real `gankit train` processes on CPU."""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from gankit.training import health
from gankit.checkpoint import list_checkpoints, load_checkpoint, load_latest
from gankit.cli import main
from gankit.files import TEMP_SUFFIX
from gankit.run import MetricsLog, run_time

# 16 steps of batch 16, a checkpoint every 2 steps, no snapshot metrics (they do not touch the training state)
ARGS = ["--preset", "r3gan-tiny", "--kimg", "0.256", "--set", "train.snapshot_kimg=0.032", "--set", "train.threads=1",
        "--set", "train.metrics=none", "--set", "train.tensorboard=false"]


def run(out: Path, fault: str = "", extra: tuple = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "GANKIT_FAULT": fault, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "gankit", "train", *ARGS, *extra, "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)


def final_state(out: Path) -> dict:
    return load_checkpoint(list_checkpoints(out)[-1])[0]


def assert_bitwise_equal(a, b, where="state"):
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            assert_bitwise_equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_bitwise_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_sigkill_three_times_resumes_bitwise(tmp_path):
    ref = run(tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    # 1: killed after step 5 (last checkpoint: step 4)
    p = run(out, "kill_at_step:5")
    assert p.returncode == -signal.SIGKILL
    # 2: resumed at step 4, killed halfway through its 2nd checkpoint write (step 8): tensors written, no JSON
    p = run(out, "kill_in_save:2")
    assert p.returncode == -signal.SIGKILL
    assert (out / "checkpoints" / "ckpt-000000128.safetensors").exists()  # the interrupted write
    assert not (out / "checkpoints" / "ckpt-000000128.json").exists()
    states, meta, path = load_latest(out)  # the newest complete checkpoint loads (step 6)
    assert meta["step"] == 6 and path.name == "ckpt-000000096"
    # 3: resumed at step 6, killed after step 13
    p = run(out, "kill_at_step:13")
    assert p.returncode == -signal.SIGKILL
    # 4: resumed at step 12, runs to the end
    p = run(out)
    assert p.returncode == 0, p.stderr
    assert "resuming" in p.stdout
    assert not list((out / "checkpoints").glob(f"*{TEMP_SUFFIX}"))
    a, b = final_state(tmp_path / "ref"), final_state(out)
    assert a["counters"]["step"] == b["counters"]["step"] == 16
    assert_bitwise_equal(a, b)  # weights, EMA, both Adam states, loader, every RNG stream


def test_nan_rolls_back_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANKIT_FAULT", "nan_at_step:7")
    monkeypatch.setattr(health, "_FIRED", set())
    out = tmp_path / "nan"
    assert main(["train", *ARGS, "--out", str(out)]) == 0
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    events = [ln for ln in lines if ln.get("event") == "rollback"]
    assert len(events) == 1 and "loss_d" in events[0]["message"] and "ckpt-000000096" in events[0]["message"]
    assert events[0]["lr_scale"] == 0.5
    assert lines[-1]["images"] == 256 and "event" not in lines[-1]
    last = [ln for ln in lines if "loss_d" in ln][-1]
    from gankit.presets import resolve
    from gankit.training.loop import schedule
    cfg = resolve("r3gan-tiny", {"train.kimg": 0.256})
    cfg.train.horizon_kimg = 0.256
    assert abs(last["lr"] - 0.5 * schedule(cfg, 256)["lr"]) < 1e-12  # the lowered learning rate stays
    state = final_state(out)
    assert state["counters"]["rollbacks"] == 1 and all(torch.isfinite(v).all() for v in state["G"].values())
    assert "rollback: non-finite loss_d" in capsys.readouterr().out


def test_nan_with_no_rollbacks_left_stops_clearly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANKIT_FAULT", "nan_at_step:3")
    monkeypatch.setattr(health, "_FIRED", set())
    assert main(["train", *ARGS, "--set", "train.max_rollbacks=0", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "non-finite loss_d at step 3" in err and "lower train.lr" in err


def test_the_divergence_advice_names_only_keys_this_run_accepts(tmp_path, monkeypatch, capsys):
    """The stop message's "resume this run" advice (--set KEY=VALUE) must be accepted on the same run directory:
    every such key is a resume-safe key, and the re-run with them continues the run to its end."""
    import re

    from gankit.run import SAFE_KEYS

    monkeypatch.setenv("GANKIT_FAULT", "nan_at_step:3")
    monkeypatch.setattr(health, "_FIRED", set())
    out = tmp_path / "r"
    assert main(["train", *ARGS, "--set", "train.max_rollbacks=0", "--out", str(out)]) == 2
    advice = re.findall(r"--set (\S+?)=(\S+?)[ )]", capsys.readouterr().err.split("start over")[0])
    assert advice and all(k in SAFE_KEYS for k, _ in advice), advice
    for k, v in advice:
        monkeypatch.setattr(health, "_FIRED", set())
        monkeypatch.setenv("GANKIT_FAULT", "")
        assert main(["train", *ARGS, "--set", "train.max_rollbacks=0", "--set", f"{k}={v}", "--out", str(out)]) == 0, \
            capsys.readouterr().err


def test_sigterm_finishes_the_step_saves_and_exits_0(tmp_path):
    out = tmp_path / "term"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    long = [a if a != "0.256" else "50" for a in ARGS]
    p = subprocess.Popen([sys.executable, "-m", "gankit", "train", *long, "--set", "train.log_kimg=0.016", "--out", str(out)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 2):
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 0, stderr
    stop = [json.loads(ln) for ln in log.read_text().splitlines() if '"event"' in ln]
    assert stop and stop[-1]["event"] == "stop" and "SIGTERM" in stop[-1]["message"]
    ckpt = list_checkpoints(out)[-1]
    assert load_checkpoint(ckpt)[1]["images"] == stop[-1]["images"] > 0


def test_corrupt_latest_checkpoint_falls_back_with_a_warning(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["train", *ARGS, "--kimg", "0.064", "--out", str(out)]) == 0
    ckpts = list_checkpoints(out)
    ckpts[-1].with_suffix(".safetensors").write_bytes(b"\0" * 100)  # e.g. a disk error
    assert main(["train", *ARGS, "--kimg", "0.096", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"{ckpts[-1].name} cannot be loaded" in captured.out + captured.err
    assert f"resuming {out} from {ckpts[-2].name}" in captured.out
    assert final_state(out)["counters"]["images"] == 96


def test_full_disk_is_a_clear_error_and_the_previous_checkpoint_survives(tmp_path, monkeypatch, capsys):
    import gankit.checkpoint as ck

    out = tmp_path / "d"
    assert main(["train", *ARGS, "--kimg", "0.032", "--out", str(out)]) == 0
    before = list_checkpoints(out)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ck, "write_atomic", full)
    assert main(["train", *ARGS, "--kimg", "0.064", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "No space left on device" in err and "earlier checkpoints are intact" in err and "\n" not in err
    assert list_checkpoints(out) == before and not list((out / "checkpoints").glob(f"*{TEMP_SUFFIX}"))
    load_checkpoint(before[-1])  # still loads


def test_prefetching_run_killed_and_resumed_equals_the_synchronous_run(tmp_path):
    """train.prefetch=2 (a worker thread loads batches ahead): same batches, and the checkpointed loader position
    is the next batch handed out, so a SIGKILL and resume give the synchronous run's state bitwise."""
    ref = run(tmp_path / "ref", extra=("--set", "train.prefetch=0"))
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "prefetch"
    p = run(out, "kill_at_step:7", extra=("--set", "train.prefetch=2"))
    assert p.returncode == -signal.SIGKILL
    p = run(out, extra=("--set", "train.prefetch=2"))
    assert p.returncode == 0 and "resuming" in p.stdout, p.stderr
    assert_bitwise_equal(final_state(tmp_path / "ref"), final_state(out))


def test_stylegan_with_snapshot_metrics_resumes_bitwise(tmp_path):
    """StyleGAN draws its noise and mixing from the global torch RNG; the snapshot's mode metric loads the digit
    classifier, whose construction must not move that RNG, or a resumed run parts from an uninterrupted one."""
    extra = ("--preset", "stylegan-digits", "--set", "model.widths=16,16,16", "--set", "model.mapping_layers=2",
             "--set", "train.batch=16", "--set", "train.metrics=modes", "--set", "train.eval_n=64")
    ref = run(tmp_path / "ref", extra=extra)
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    p = run(out, "kill_at_step:5", extra=extra)
    assert p.returncode == -signal.SIGKILL
    p = run(out, extra=extra)
    assert p.returncode == 0 and "resuming" in p.stdout, p.stderr
    assert_bitwise_equal(final_state(tmp_path / "ref"), final_state(out))


def test_a_kill_right_after_a_snapshot_checkpoint_loses_neither_its_metrics_record_nor_best(tmp_path):
    """SIGKILL just after the snapshot's checkpoint is complete. The resume starts after that checkpoint, so its
    metrics record must already be in metrics.jsonl and checkpoints/best must still learn of it. Catches a loop
    that logs the record (or updates best) only after the checkpoint, with no repair on resume."""
    extra = ("--set", "train.metrics=modes", "--set", "train.eval_n=64", "--set", "train.best_metric=modes")
    ref = run(tmp_path / "ref", extra=extra)
    assert ref.returncode == 0, ref.stderr
    best_images = json.loads((tmp_path / "ref" / "checkpoints" / "best.json").read_text())["meta"]["images"]
    out = tmp_path / "killed"  # killed right after the checkpoint that became best (save 1 is the one at 0 images)
    p = run(out, f"kill_after_save:{best_images // 32 + 1}", extra=extra)
    assert p.returncode == -signal.SIGKILL
    assert list_checkpoints(out)[-1].name == f"ckpt-{best_images:09d}"
    best = out / "checkpoints" / "best.json"  # the kill came before the copy: best is absent or an earlier one
    assert not best.exists() or json.loads(best.read_text())["meta"]["images"] < best_images
    p = run(out, extra=extra)
    assert p.returncode == 0 and "resuming" in p.stdout, p.stderr

    def records(run_dir: Path) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("time", "img_per_s", "data_wait", "snapshot_s")}
                for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "event" not in r]

    want = records(tmp_path / "ref")
    assert sum("modes" in r for r in want) == 8 and records(out) == want
    log = MetricsLog.read(out / "metrics.jsonl")  # the resume is logged where it started, each snapshot with its cost
    assert [r["images"] for r in log if r.get("event") == "resume"] == [best_images]
    assert all(r["snapshot_s"] > 0 for r in log if "modes" in r)
    t = run_time(log)
    assert t.stretches == 2 and t.untimed_snapshots == 0 and 0 < t.snapshot_seconds < t.seconds
    best = [json.loads((d / "checkpoints" / "best.json").read_text())["meta"] for d in (tmp_path / "ref", out)]
    assert best[0]["images"] == best[1]["images"] and best[0]["metrics"] == best[1]["metrics"]


def test_a_torn_last_log_line_does_not_block_the_resume(tmp_path):
    """A kill while metrics.jsonl is being appended leaves half a line; the resume warns, drops it, and the log
    lines fall at the same images as an uninterrupted run's."""
    ref = run(tmp_path / "ref", extra=("--set", "train.log_kimg=0.048"))
    out = tmp_path / "torn"
    p = run(out, "kill_at_step:9", extra=("--set", "train.log_kimg=0.048"))
    assert ref.returncode == 0 and p.returncode == -signal.SIGKILL
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"time": 1795700000.0, "images": 160, "kimg": 0.16, "loss_d": 0.69')  # no closing brace, no newline
    p = run(out, extra=("--set", "train.log_kimg=0.048"))
    assert p.returncode == 0 and "resuming" in p.stdout, p.stderr
    assert "skipped 1 unreadable line" in p.stderr
    images = lambda d: [r["images"] for r in map(json.loads, (d / "metrics.jsonl").read_text().splitlines())  # noqa: E731
                        if "loss_d" in r]
    assert images(out) == images(tmp_path / "ref") and images(out)


def _digest(out: Path) -> dict:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_a_run_whose_checkpoints_all_fail_stops_untouched_and_names_the_ways_out(tmp_path, capsys):
    """Restarting it from zero would truncate its log and prune what is left; it stops with one line instead."""
    out = tmp_path / "all-bad"
    metrics = ["--set", "train.metrics=modes", "--set", "train.eval_n=64"]
    assert main(["train", *ARGS, *metrics, "--kimg", "0.096", "--out", str(out)]) == 0
    for p in list_checkpoints(out):
        p.with_suffix(".safetensors").write_bytes(b"\0" * 64)
    before = _digest(out)
    capsys.readouterr()
    assert main(["train", *ARGS, *metrics, "--kimg", "0.128", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no checkpoint of" in err and "nothing was changed" in err and "--from-best" in err and "--restart" in err
    assert "\n" not in err and _digest(out) == before
    # --from-best resumes from checkpoints/best; the unreadable checkpoints after it and a copy of the log go aside
    best_images = load_checkpoint(out / "checkpoints" / "best")[1]["images"]
    assert main(["train", *ARGS, *metrics, "--kimg", "0.128", "--out", str(out), "--from-best"]) == 0
    assert f"resuming {out} from best at {best_images / 1000:.2f} kimg" in capsys.readouterr().out
    (aside,) = out.glob("aside-*")
    assert (aside / "metrics.jsonl").read_bytes() == before["metrics.jsonl"]
    assert {p.name for p in (aside / "checkpoints").iterdir()} == {
        k.split("/")[-1] for k in before if k.startswith("checkpoints/ckpt-")
        and int(k.split("-")[1].split(".")[0]) > best_images}
    assert final_state(out)["counters"]["images"] == 128


def test_restart_moves_the_old_run_aside_and_starts_over(tmp_path):
    out = tmp_path / "again"
    assert main(["train", *ARGS, "--kimg", "0.064", "--out", str(out)]) == 0
    before = _digest(out)
    assert main(["train", *ARGS, "--kimg", "0.032", "--out", str(out), "--restart"]) == 0
    (aside,) = out.glob("aside-*")
    assert _digest(aside) == before  # every old file kept, byte for byte
    assert final_state(out)["counters"]["images"] == 32


def test_pruning_never_deletes_the_checkpoint_just_written(tmp_path, capsys):
    """An unreadable checkpoint whose name sorts after the new ones must not make pruning delete them."""
    out = tmp_path / "prune"
    assert main(["train", *ARGS, "--kimg", "0.064", "--out", str(out)]) == 0
    (out / "checkpoints" / "ckpt-999999999.json").write_text("{}")
    (out / "checkpoints" / "ckpt-999999999.safetensors").write_bytes(b"\0")
    assert main(["train", *ARGS, "--kimg", "0.128", "--out", str(out)]) == 0
    readable = [p.name for p in list_checkpoints(out) if p.name != "ckpt-999999999"]
    assert readable == ["ckpt-000000096", "ckpt-000000128"], readable


def _mount_small(path: Path, size: str) -> bool:
    """A real small tmpfs at `path` (needs root and mount rights); False where the system refuses."""
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_real_full_disk_ends_in_one_line_and_the_run_resumes_after_space_is_freed(tmp_path, monkeypatch, capsys):
    """On a 600 KB tmpfs the checkpoints stop fitting (their bytes are written by files.write_atomic, so the error
    is Python's OSError naming the file). Where no filesystem can be mounted, that error is raised by hand."""
    fs = tmp_path / "fs"
    mounted = _mount_small(fs, "600k")
    try:
        if mounted:
            p = run(fs / "run")
            err = p.stderr.strip()
        else:
            import gankit.checkpoint as ck

            out = fs / "run"
            assert main(["train", *ARGS, "--kimg", "0.064", "--out", str(out)]) == 0

            def full(path, data):
                raise OSError(errno.ENOSPC, "No space left on device", str(path))

            monkeypatch.setattr(ck, "write_atomic", full)
            capsys.readouterr()
            p = subprocess.CompletedProcess([], main(["train", *ARGS, "--out", str(out)]))
            err = capsys.readouterr().err.strip()
        assert p.returncode == 2, err
        assert "No space left on device" in err and "Traceback" not in err and "\n" not in err, err
        ckpts = list_checkpoints(fs / "run")
        assert ckpts and not list((fs / "run" / "checkpoints").glob(f"*{TEMP_SUFFIX}"))
        load_checkpoint(ckpts[-1])  # the newest one left still loads
        if mounted:
            subprocess.run(["mount", "-o", "remount,size=16m", str(fs)], check=True)
            p = run(fs / "run")
            assert p.returncode == 0 and "resuming" in p.stdout, p.stderr
            assert final_state(fs / "run")["counters"]["step"] == 16
    finally:
        if mounted:
            subprocess.run(["umount", str(fs)], capture_output=True)


def test_a_read_only_out_ends_in_one_line(tmp_path):
    if os.geteuid() == 0:  # root writes through file modes: use a read-only mount where one can be made
        ro = tmp_path / "ro"
        if not _mount_small(ro, "1m"):
            import pytest

            pytest.skip("running as root and no tmpfs can be mounted: a read-only folder cannot be made")
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
    try:
        p = run(ro / "run")
        err = p.stderr.strip()
        assert p.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
        assert "Read-only file system" in err or "Permission denied" in err, err
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], capture_output=True)


def _damage(path: Path, how: str) -> None:
    """Damage checkpoint `path` so that it still parses: its JSON's shape, a tensor's shape, a counter, a key."""
    js, st = path.with_suffix(".json"), path.with_suffix(".safetensors")
    record = json.loads(js.read_text())
    if how == "json-shape":
        record = {"meta": [], "structure": 5}
    elif how == "counter":
        record["structure"]["counters"]["images"] = "many"
    elif how == "missing-key":
        del record["structure"]["G_ema"]
    elif how == "tensor-shape":
        from safetensors.torch import load_file, save_file

        tensors = load_file(str(st))
        tensors["G_ema.basis.basis"] = torch.zeros(3, 3)
        tensors["G.basis.basis"] = torch.zeros(3, 3)
        save_file(tensors, str(st))
    js.write_text(json.dumps(record))


import pytest  # noqa: E402


@pytest.mark.parametrize("how", ["json-shape", "counter", "missing-key", "tensor-shape"])
def test_a_damaged_but_parseable_newest_checkpoint_is_skipped_with_a_warning(tmp_path, capsys, how):
    out = tmp_path / "damaged"
    assert main(["train", *ARGS, "--kimg", "0.064", "--out", str(out)]) == 0
    ckpts = list_checkpoints(out)
    _damage(ckpts[-1], how)
    capsys.readouterr()
    grid = tmp_path / "g.png"
    generate = ["generate", "--run", str(out), "--n", "4", "--out", str(grid)]
    if how == "counter":  # the generator needs only G_ema and meta: a bad counter does not stop it
        assert main(generate) == 0
    else:
        with pytest.warns(UserWarning, match=f"{ckpts[-1].name} cannot be loaded"):
            assert main(generate) == 0
    assert grid.exists()
    assert main(["train", *ARGS, "--kimg", "0.096", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"{ckpts[-1].name} cannot be loaded" in captured.out + captured.err
    assert f"resuming {out} from {ckpts[-2].name}" in captured.out
    assert final_state(out)["counters"]["images"] == 96


def test_twelve_sigkills_at_random_moments_with_metrics_on_resume_bitwise(tmp_path):
    """The default preset with its snapshot metrics on, SIGKILLed from outside at 10 random moments (startup,
    steps, snapshots, metrics, log writes: wherever the clock falls) and twice inside a checkpoint write, then
    resumed to the end: the final checkpoint equals an uninterrupted run's bitwise, and metrics.jsonl holds the
    same records at the same images (the training log and every snapshot's metrics)."""
    import random

    args = ["--kimg", "2.88", "--set", "train.snapshot_kimg=0.288", "--set", "train.log_kimg=0.096", "--set",
            "train.threads=1", "--set", "train.eval_n=256", "--set", "train.tensorboard=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def start(out: Path, fault: str = "") -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "gankit", "train", *args, "--out", str(out)],
                                env={**env, "GANKIT_FAULT": fault}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def near_end(out: Path) -> bool:  # the checkpoint before the final one is written
        ckpts = list_checkpoints(out) if (out / "checkpoints").is_dir() else []
        return bool(ckpts) and int(ckpts[-1].name.split("-")[1]) >= 2880 - 288

    ref = start(tmp_path / "ref")
    assert ref.wait(300) == 0, ref.stderr.read()
    out, rng, kills, progress = tmp_path / "killed", random.Random(15), 0, []
    while kills < 12:
        fault = {3: "kill_in_save:1", 7: "kill_in_save:1"}.get(kills, "")  # the resumed process's first write
        p = start(out, fault)
        if not fault:  # a random moment, but before the last snapshot: on a fast machine 12 lives could finish the run
            deadline = time.time() + rng.uniform(1.0, 4.5)
            while time.time() < deadline and not near_end(out):
                time.sleep(0.02)
            p.kill()
        assert p.wait(300) == -signal.SIGKILL, f"the run ended before kill {kills + 1}: {p.stderr.read()}"
        kills += 1
        ckpts = list_checkpoints(out) if (out / "checkpoints").is_dir() else []
        progress.append(int(ckpts[-1].name.split("-")[1]) if ckpts else -1)
    assert sorted(progress) == progress and progress[-1] < 2880, progress  # every kill interrupted unfinished work
    p = start(out)
    assert p.wait(300) == 0, p.stderr.read()
    a, b = final_state(tmp_path / "ref"), final_state(out)
    assert a["counters"]["step"] == b["counters"]["step"] == 90
    assert_bitwise_equal(a, b)

    def records(run: Path) -> list[dict]:
        timing = ("time", "img_per_s", "data_wait", "snapshot_s")
        return [{k: v for k, v in r.items() if k not in timing}
                for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "event" not in r]

    want = records(tmp_path / "ref")
    assert sum("modes" in r for r in want) == 10 and records(out) == want
    print("checkpoint images at each kill:", progress)


def test_a_leftover_config_tmp_never_blocks_the_next_run(tmp_path, capsys):
    """A first start killed between writing config.json.tmp and renaming it leaves only that file: the next
    start treats the folder as new (the .tmp is overwritten), not as 'files but no gankit run'."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json.tmp").write_text('{"model": {"ar')
    assert main(["train", *ARGS, "--kimg", "0.032", "--out", str(out)]) == 0, capsys.readouterr().err
    assert (out / "config.json").exists() and not (out / "config.json.tmp").exists()


def test_fault_injection_is_a_hook_the_test_passes_in(tmp_path):
    """The loop knows no fault: a test hands train() a hook (health.Faults), which turns step 3's D loss into NaN once;
    the run rolls back and finishes. Without the hook, the same run has no rollback."""
    from gankit.presets import resolve
    from gankit.training.health import Faults
    from gankit.training.loop import train

    cfg = resolve("r3gan-tiny", {"train.threads": "1", "train.metrics": "none", "train.tensorboard": "false"})
    for hooks, rollbacks in (([Faults(["nan_at_step:3"])], 1), ([], 0)):
        out = tmp_path / f"run{rollbacks}"
        train(cfg, out, progress=lambda m: None, hooks=hooks)
        lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
        events = [ln for ln in lines if ln.get("event") == "rollback"]
        assert len(events) == rollbacks and all("non-finite loss_d at step 3" in e["message"] for e in events)
        assert final_state(out)["counters"]["rollbacks"] == rollbacks


def test_checkpoints_between_snapshots_resume_bitwise(tmp_path):
    """train.checkpoint_kimg writes checkpoints alone between snapshots: a kill loses at most that many images,
    and the run resumed from one ends bitwise equal to the uninterrupted run."""
    extra = ("--set", "train.snapshot_kimg=0.128", "--set", "train.checkpoint_kimg=0.048", "--set", "train.keep_checkpoints=20")
    ref = run(tmp_path / "ref", extra=extra)
    assert ref.returncode == 0, ref.stderr
    # checkpoints at 0, at multiples of 48 images, and at the snapshots (128, 256); samples only at the snapshots
    assert [int(p.name.split("-")[1]) for p in list_checkpoints(tmp_path / "ref")] == [0, 48, 96, 128, 144, 192, 240, 256]
    assert sorted({p.name[8:17] for p in (tmp_path / "ref").glob("samples-*.png")}) == ["000000128", "000000256"]
    out = tmp_path / "killed"
    p = run(out, "kill_at_step:5", extra=extra)  # step 5 = 80 images: the last checkpoint is the one at 48
    assert p.returncode == -signal.SIGKILL and list_checkpoints(out)[-1].name == "ckpt-000000048"
    p = run(out, extra=extra)
    assert p.returncode == 0 and "resuming" in p.stdout and "at 0.05 kimg" in p.stdout, p.stderr
    assert_bitwise_equal(final_state(tmp_path / "ref"), final_state(out))


def test_the_log_after_a_resume_equals_the_uninterrupted_log(tmp_path):
    """A log line every 3 steps, a checkpoint every 2, killed after step 5: the line at step 6 averages steps 4-6
    in both runs (the accumulators are in the checkpoint). Only wall-clock fields may differ."""
    log = ["--set", "train.log_kimg=0.048"]
    ref = run(tmp_path / "ref", extra=tuple(log))
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    assert run(out, "kill_at_step:5", extra=tuple(log)).returncode == -signal.SIGKILL
    p = run(out, extra=tuple(log))
    assert p.returncode == 0 and "resuming" in p.stdout, p.stderr
    clock = {"time", "img_per_s", "data_wait"}

    def records(d: Path) -> list[dict]:
        return [{k: v for k, v in json.loads(ln).items() if k not in clock}
                for ln in (d / "metrics.jsonl").read_text().splitlines()]
    a, b = records(tmp_path / "ref"), records(out)
    assert [r for r in b if r.get("event") == "resume"] == [  # the one record the resume adds: where it started
        {"images": 64, "kimg": 0.064, "event": "resume", "message": "from ckpt-000000064 at 0.06 kimg"}]
    b = [r for r in b if r.get("event") != "resume"]
    assert [r["images"] for r in a] == [r["images"] for r in b]
    assert a == b

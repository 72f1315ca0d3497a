"""Scaling and speed options on CPU: torchrun with gloo equals one process, micro-batches equal one batch,
bf16 stages and lazy regularization run, and a run writes TensorBoard events and plots."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from gankit.checkpoint import list_checkpoints, load_checkpoint
from gankit.cli import main

# R1 and R2 on (r3gan-tiny's default), no augmentation: the only per-rank randomness, so 1 and 2 processes see the same math
COMMON = ["--preset", "r3gan-tiny", "--set", "train.threads=1", "--set", "train.aug_p=0", "--set", "train.metrics=none",
          "--set", "train.tensorboard=false"]


def weights(out: Path) -> dict:
    return load_checkpoint(list_checkpoints(out)[-1])[0]


def max_diff(a: dict, b: dict, key: str) -> float:
    return max(float((a[key][n] - b[key][n]).abs().max()) for n in a[key])


def test_torchrun_two_processes_equal_one_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as sock:  # a free port, not torchrun's default 29500, which another process may hold
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
                          "-m", "gankit", "train", *COMMON, "--out", str(tmp_path / "two")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    assert main(["train", *COMMON, "--out", str(tmp_path / "one")]) == 0
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert a["counters"] == b["counters"] and a["counters"]["step"] == 8
    assert json.loads((tmp_path / "two" / "run.json").read_text())["processes"] == 2
    assert len(b["rng"]["ranks"]) == 2  # both ranks' RNG states are in the checkpoint
    # The same global batch, the same z and data (each rank a slice), gradients summed by hand: only the order of
    # float32 additions differs (per-rank means weighted 1/2 and an all-reduce vs one mean), about 1e-8 per step.
    for key in ("G", "D", "G_ema"):
        assert max_diff(a, b, key) < 1e-5, key


def test_micro_batches_equal_one_batch(tmp_path):
    assert main(["train", *COMMON, "--out", str(tmp_path / "full")]) == 0
    assert main(["train", *COMMON, "--set", "train.batch_gpu=4", "--out", str(tmp_path / "micro")]) == 0
    a, b = weights(tmp_path / "full"), weights(tmp_path / "micro")
    for key in ("G", "D"):
        assert max_diff(a, b, key) < 1e-5, key


def test_bad_batch_splits_are_refused(tmp_path, capsys):
    assert main(["train", *COMMON, "--set", "train.batch_gpu=5", "--out", str(tmp_path / "x")]) == 2
    assert "batch_gpu=5 must divide the per-process batch 16" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_bf16_stages_train_finite_on_cpu(tmp_path):
    assert main(["train", *COMMON, "--set", "train.precision=bf16", "--out", str(tmp_path / "bf")]) == 0
    w = weights(tmp_path / "bf")
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in w["G"].values())
    lines = [json.loads(ln) for ln in (tmp_path / "bf" / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(ln["loss_d"])) for ln in lines if "loss_d" in ln)


def test_lazy_regularization_every_k_steps_with_gamma_times_k(tmp_path, monkeypatch):
    import gankit.objectives.adversarial as tr  # the game calls step.d_step from here

    calls = []
    real_d_step = tr.d_step

    def spy(G, D, loss, regs, real, c, z, gamma, aug_p, aug_cfg, rng, weight, reg_weights, noise):
        calls.append((sorted(regs), reg_weights))
        return real_d_step(G, D, loss, regs, real, c, z, gamma, aug_p, aug_cfg, rng, weight, reg_weights, noise)

    monkeypatch.setattr(tr, "d_step", spy)
    assert main(["train", *COMMON, "--kimg", "0.064", "--set", "loss.reg_interval=2", "--out", str(tmp_path / "lazy")]) == 0
    assert [r for r, _ in calls] == [["r1", "r2"], [], ["r1", "r2"], []]
    cfg_gamma = 0.1  # r3gan-tiny's gamma at t = 0: R1 and R2 weighted k * gamma / 2 on the steps that have them
    assert abs(calls[0][1]["r1"] - 2 * cfg_gamma / 2) < 1e-12 and calls[1][1] == {}


def test_tensorboard_events_and_plots(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    assert main(["train", "--preset", "r3gan-tiny", "--set", "train.threads=1", "--out", str(out)]) == 0
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"loss/loss_d", "loss/loss_g", "penalty/r1", "penalty/r2", "logits/logit_gap", "metrics/modes"} <= set(tags)
    steps = [e.step for e in acc.Scalars("loss/loss_d")]
    assert steps == sorted(steps) and steps[-1] == 128
    assert main(["plot", str(out)]) == 0
    import numpy as np
    from PIL import Image
    for name in ("losses", "penalties", "logits", "metrics"):
        im = np.asarray(Image.open(out / "plots" / f"{name}.png").convert("L"))
        assert im.shape[1] >= 600 and len(np.unique(im)) > 10  # a drawn figure, not a blank page


def test_torchrun_worker_skips_interpreter_teardown(tmp_path):
    """A torchrun worker (WORLD_SIZE > 1) leaves by os._exit after flushing (distributed.exit_process): gloo could
    abort in teardown after a finished run. Seen from outside: atexit handlers do not run, output and code arrive."""
    hook = tmp_path / "sitecustomize.py"
    hook.write_text("import atexit\natexit.register(lambda: print('TEARDOWN RAN', flush=True))\n")
    for world, teardown in (("2", False), ("1", True)):
        env = {**os.environ, "WORLD_SIZE": world, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
        ok = subprocess.run([sys.executable, "-m", "gankit", "presets"], env=env, capture_output=True, text=True, timeout=120)
        assert ok.returncode == 0 and "r3gan-tiny" in ok.stdout
        assert ("TEARDOWN RAN" in ok.stdout) == teardown, world
        bad = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "nope"], env=env, capture_output=True,
                             text=True, timeout=120)
        assert bad.returncode == 2 and "unknown preset 'nope'" in bad.stderr

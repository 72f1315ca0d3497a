"""Bad input to the real command line: exit code 2, one line on stderr naming the problem, no traceback, and no
run directory written. Each row is one malformed command."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gankit.cli import main

T = ["train", "--preset", "r3gan-tiny", "--set", "train.metrics=none", "--set", "train.tensorboard=false"]
BAD_SETS = [
    ("train.lr=nan", "finite"), ("train.lr=inf", "finite"), ("train.lr=-1e-3", "> 0"), ("train.lr=0", "> 0"),
    ("train.lr_final=-1", ">= 0"), ("train.kimg=0", "> 0"), ("train.kimg=-5", "> 0"), ("train.kimg=inf", "finite"),
    ("train.batch=0", ">= 1"), ("train.batch=-8", ">= 1"), ("train.batch=2.5", "not a valid int"),
    ("train.batch=many", "not a valid int"), ("train.beta1=1", "[0, 1)"), ("train.beta1=-0.1", "[0, 1)"),
    ("train.beta2=1.5", "[0, 1)"), ("train.beta2_final=1", "[0, 1)"), ("train.betas_d=0.5", "two numbers"),
    ("train.betas_d=0.5,1.2", "two numbers"), ("train.aug_p=1.5", "[0, 1]"), ("train.aug_p=-0.1", "[0, 1]"),
    ("train.ema_kimg=-1", ">= 0"), ("train.n_critic=0", ">= 1"), ("train.grid=0", ">= 1"), ("train.eval_n=0", ">= 1"),
    ("train.keep_checkpoints=0", ">= 1"), ("train.nonfinite_lr_factor=1", "(0, 1)"),
    ("train.nonfinite_lr_factor=0", "(0, 1)"), ("train.max_rollbacks=-1", ">= 0"), ("train.device=tpu", "cuda:N"),
    ("train.lr_d_ratio=0", "> 0"), ("train.threads=-2", ">= 0"), ("train.snapshot_kimg=-1", ">= 0"),
    ("train.prefetch=-3", "train.prefetch"), ("train.tf32=maybe", "not a valid bool"),
    ("loss.gamma=-1", ">= 0"), ("loss.gamma=nan", "finite"), ("loss.gamma_final=-0.1", ">= 0"),
    ("loss.lambda_gp=-10", ">= 0"), ("loss.smooth_real=2", "[0, 1]"), ("loss.reg_interval=0", ">= 1"),
    ("loss.mma_batch=0", ">= 1"), ("loss.name=nope", "nope"), ("loss.regularizers=r1,r9", "r9"),
    ("model.z_dim=0", ">= 1"), ("model.widths=16,0", "positive integers"), ("model.groups=0,2", "positive integers"),
    ("model.blocks=0", ">= 1"), ("model.arch=vit", "vit"), ("model.style_mixing=1.5", "[0, 1]"),
    ("model.expansion=-2", ">= 0"), ("data.name=cifar", "cifar"), ("train.bogus=1", "unknown config key"),
    ("bogus.key=1", "unknown config key"), ("preset=r3gan-digits", "use --preset"), ("train.kimg", "KEY=VALUE"),
]


@pytest.mark.parametrize("item, message", BAD_SETS, ids=[b[0] for b in BAD_SETS])
def test_a_bad_value_is_one_line_and_writes_nothing(tmp_path: Path, capsys, item: str, message: str) -> None:
    out = tmp_path / "run"
    assert main([*T, "--set", item, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: ") and "\n" not in err and message in err, err
    assert not out.exists()


BAD_COMMANDS = [
    (["train", "--preset", "nope"], "nope"),
    (["train", "--kimg", "nan", "--preset", "r3gan-tiny"], "finite"),
    (["train", "--kimg", "-1", "--preset", "r3gan-tiny"], "> 0"),
    (["generate", "--run", "/nonexistent/run", "--n", "4", "--out", "x.png"], "not a gankit run"),
    (["generate", "--run", "/nonexistent/run", "--n", "0", "--out", "x.png"], "--n"),
    (["generate", "--run", "/nonexistent/run", "--n", "4", "--out", "x.jpg"], ".png"),
    (["eval", "--images", "/nonexistent/folder", "--metrics", "modes", "--n", "10"], "/nonexistent/folder"),
    (["eval", "--images", "stackedmnist", "--protocol", "fid99k"], "fid50k_full"),
    (["experiment", "no-such-study"], "no-such-study"),
    (["describe", "--preset", "r3gan-tiny", "--set", "model.z_dim=0"], ">= 1"),
]


@pytest.mark.parametrize("argv, message", BAD_COMMANDS, ids=[" ".join(a[:3]) for a, _ in BAD_COMMANDS])
def test_a_bad_command_is_one_line(tmp_path: Path, capsys, monkeypatch, argv: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: ") and "\n" not in err and message in err, err
    assert not any(tmp_path.iterdir())


def test_debug_shows_the_traceback_in_a_real_subprocess(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "gankit", *T, "--set", "train.lr=nan", "--out", str(tmp_path / "r")]
    plain = subprocess.run(cmd, capture_output=True, text=True)
    debug = subprocess.run(cmd + ["--debug"], capture_output=True, text=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr and len(plain.stderr.strip().splitlines()) == 1
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "train.lr=nan" in debug.stderr

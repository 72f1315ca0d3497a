"""Every writing verb, SIGKILLed halfway through one of its files ($GANKIT_FAULT=kill_in_write:NAME), in real
subprocesses: the final path holds the old file or none (never a part), and the same command run again succeeds
and leaves no temp behind."""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gankit.files import TEMP_SUFFIX

TINY = ["--preset", "r3gan-tiny", "--kimg", "0.064", "--set", "train.snapshot_kimg=0.032", "--set", "train.threads=1",
        "--set", "train.metrics=none", "--set", "train.tensorboard=false"]
EVAL = ["--metrics", "pr", "--extractor", "digits", "--n", "64"]  # two metrics: truncation draws its plot


def gankit(*argv: str, fault: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "GANKIT_FAULT": fault, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "gankit", *argv], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("torn") / "run"
    p = gankit("train", *TINY, "--out", str(out))
    assert p.returncode == 0, p.stderr
    return out


def temps(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(f"*{TEMP_SUFFIX}")] if folder.exists() else []


# (case, argv with {run} and {tmp}, the file killed mid-write relative to {tmp})
CASES = [
    ("train: config.json", ["train", *TINY, "--out", "{tmp}/new"], "new/config.json"),
    ("train: run.json", ["train", *TINY, "--out", "{tmp}/new"], "new/run.json"),
    ("train: reals.png", ["train", *TINY, "--out", "{tmp}/new"], "new/reals.png"),
    ("train: checkpoint", ["train", *TINY, "--out", "{tmp}/new"], "new/checkpoints/ckpt-000000032.safetensors"),
    ("train: samples", ["train", *TINY, "--out", "{tmp}/new"], "new/samples-000000064.png"),
    ("generate: png", ["generate", "--run", "{run}", "--n", "4", "--out", "{tmp}/g.png"], "g.png"),
    ("generate: npz", ["generate", "--run", "{run}", "--n", "4", "--out", "{tmp}/g.npz"], "g.npz"),
    ("export: torchscript", ["export", "--run", "{run}", "--format", "torchscript", "--out", "{tmp}/g.pt"], "g.pt"),
    ("export: its json", ["export", "--run", "{run}", "--format", "torchscript", "--out", "{tmp}/g.pt"], "g.pt.json"),
    ("export: onnx", ["export", "--run", "{run}", "--format", "onnx", "--out", "{tmp}/g.onnx"], "g.onnx"),
    ("report", ["report", "{run}", "--out", "{tmp}/report.html"], "report.html"),
    ("plot", ["plot", "{run}", "--out", "{tmp}"], "losses.png"),
    ("eval --save-ref", ["eval", "--run", "{run}", *EVAL, "--no-cache", "--save-ref", "{tmp}/ref.safetensors"],
     "ref.safetensors"),
    ("truncation: json", ["truncation", "--run", "{run}", *EVAL, "--no-cache", "--values", "1,0.5", "--out", "{tmp}"],
     "truncation.json"),
    ("truncation: png", ["truncation", "--run", "{run}", *EVAL, "--no-cache", "--values", "1,0.5", "--out", "{tmp}"],
     "truncation.png"),
]


@pytest.mark.parametrize("case,argv,target", CASES, ids=[c[0] for c in CASES])
def test_a_kill_mid_write_leaves_no_torn_file_and_the_rerun_cleans_up(run: Path, tmp_path: Path, case: str,
                                                                      argv: list[str], target: str) -> None:
    if case == "export: onnx" and importlib.util.find_spec("onnxscript") is None:
        pytest.skip("onnxscript is not installed (pip install 'gankit[export]'): the ONNX export cannot run")
    argv = [a.format(run=run, tmp=tmp_path) for a in argv]
    path = tmp_path / target
    old = None
    if not case.startswith("train"):  # an earlier file at the final path must survive the kill whole
        path.parent.mkdir(parents=True, exist_ok=True)
        old = b"an earlier file"
        path.write_bytes(old)
    p = gankit(*argv, fault=f"kill_in_write:{path.name}")
    assert p.returncode == -signal.SIGKILL, f"{case}: the fault never fired\n{p.stderr[-2000:]}"
    assert (path.read_bytes() if path.exists() else None) == old, f"{case}: a torn file at {path}"
    assert temps(path.parent), f"{case}: killed mid-write, the half-written temp should be there"
    q = gankit(*argv)
    assert q.returncode == 0, f"{case}: the rerun failed\n{q.stderr[-2000:]}"
    assert path.exists() and path.read_bytes() != old, f"{case}: the rerun did not write {path}"
    assert not temps(tmp_path), f"{case}: temps left after the rerun: {temps(tmp_path)}"

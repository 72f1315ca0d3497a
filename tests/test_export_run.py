"""`gankit export --format run`: a slim run folder (G_ema alone) samples exactly as the run it came from, holds
nothing else, and is refused where a full run is needed (resuming training) or where it would overwrite."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

from gankit.checkpoint import list_checkpoints
from gankit.cli import main
from gankit.export import export_generator
from gankit.run import load_generator

TINY = ["--preset", "r3gan-tiny", "--set", "data.name=digits", "--set", "model.cond=true", "--set", "train.metrics=none",
        "--set", "train.tensorboard=false", "--set", "train.threads=1", "--kimg", "0.064"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "full"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def inputs(G):
    z = torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(3))
    return z, torch.arange(4) % G.num_classes


def images(run_dir, which="G_ema", checkpoint="latest"):
    G = load_generator(run_dir, which, checkpoint=checkpoint)
    z, labels = inputs(G)
    with torch.no_grad():
        return G(z, torch.nn.functional.one_hot(labels, G.num_classes).float())


def test_slim_run_samples_as_the_run_and_holds_g_ema_alone(run, tmp_path):
    slim = tmp_path / "slim"
    p = subprocess.run([sys.executable, "-m", "gankit", "export", "--run", str(run), "--format", "run", "--out", str(slim)],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert torch.equal(images(slim), images(run))
    assert not torch.equal(images(run, "G"), images(run))  # the run's raw G differs: the test can tell them apart
    (ckpt,) = list_checkpoints(slim)
    assert ckpt.name == list_checkpoints(run)[-1].name
    with safe_open(str(ckpt.with_suffix(".safetensors")), "pt") as f:
        assert {k.split(".", 1)[0] for k in f.keys()} == {"G_ema"}
    assert set(json.loads(ckpt.with_suffix(".json").read_text())["structure"]) == {"G_ema"}
    for name in ("config.json", "run.json"):  # run.json: the precision the run sampled in
        assert (slim / name).read_bytes() == (run / name).read_bytes()
    assert json.loads((slim / "export.json").read_text())["checkpoint"] == ckpt.name
    assert main(["generate", "--run", str(slim), "--n", "4", "--out", str(tmp_path / "grid.png")]) == 0


def test_slim_run_refuses_training_and_an_existing_out(run, tmp_path, capsys):
    slim = tmp_path / "slim"
    export_generator(run, "run", slim)
    before = {p: p.read_bytes() for p in slim.rglob("*") if p.is_file()}
    assert main(["train", *TINY, "--out", str(slim)]) == 2
    err = capsys.readouterr().err
    assert "loads" in err and "nothing was changed" in err and len(err.strip().splitlines()) == 1, err
    assert {p: p.read_bytes() for p in slim.rglob("*") if p.is_file()} == before
    assert main(["export", "--run", str(run), "--format", "run", "--out", str(slim)]) == 2
    assert "exists" in capsys.readouterr().err


def test_export_takes_the_checkpoint_asked_for(run, tmp_path, capsys):
    *_, older, latest = list_checkpoints(run)
    assert not torch.equal(images(run, checkpoint=older.name), images(run))  # the two snapshots sample differently
    slim = tmp_path / "slim"
    assert main(["export", "--run", str(run), "--format", "run", "--out", str(slim), "--checkpoint", older.name]) == 0
    assert f"G_ema of {older.name}" in capsys.readouterr().out
    assert torch.equal(images(slim), images(run, checkpoint=older.name))
    assert [p.name for p in list_checkpoints(slim)] == [older.name]  # the slim run's latest, so every verb takes it
    out = tmp_path / "g.pt"
    info = export_generator(run, "torchscript", out, checkpoint=older.name)
    assert info["checkpoint"] == older.name and info["images"] == int(older.name.split("-")[1])
    with torch.no_grad():
        got = torch.jit.load(str(out))(*inputs(load_generator(run)))
    assert (got - images(run, checkpoint=older.name)).abs().max() < 1e-5
    assert main(["export", "--run", str(run), "--format", "run", "--out", str(tmp_path / "x"), "--checkpoint", "ckpt-7"]) == 2
    err = capsys.readouterr().err
    assert f"no checkpoint 'ckpt-7'; use one of latest, {older.name}, {latest.name}" in err and not (tmp_path / "x").exists()

"""`gankit export`: a run's EMA generator as ONNX (run by onnxruntime) and TorchScript gives the PyTorch generator's
images within 1e-4, for two families (R3GAN; StyleGAN with its psi input), unconditional and conditional, at a batch
size other than the one traced."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gankit.cli import main
from gankit.export import Sampler, export_generator
from gankit.run import load_generator

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test extra: pip install -e '.[test]'")

QUIET = ["--set", "train.metrics=none", "--set", "train.tensorboard=false", "--kimg", "0.016"]
RUNS = {
    "r3gan": ["--preset", "r3gan-tiny"],
    "r3gan-cond": ["--preset", "r3gan-tiny", "--set", "data.name=digits", "--set", "model.cond=true"],
    "stylegan": ["--preset", "stylegan-digits", "--set", "model.widths=16,16,16", "--set", "model.mapping_layers=2",
                 "--set", "data.resolution=8", "--set", "train.batch=8"],
    "stylegan-cond": ["--preset", "stylegan-digits", "--set", "model.widths=16,16,16", "--set", "model.mapping_layers=2",
                      "--set", "data.resolution=8", "--set", "train.batch=8", "--set", "model.cond=true"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    for name, args in RUNS.items():
        assert main(["train", *args, *QUIET, "--out", str(root / name)]) == 0
    return {name: root / name for name in RUNS}


def reference(run: Path, psi: float) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, list[str]]:
    """Inputs at batch 5 and the images of the PyTorch G_ema as gankit samples with it (fused modconv, float32)."""
    G = load_generator(run)
    names = Sampler(G).inputs
    g = torch.Generator().manual_seed(7)
    z = torch.randn(5, G.z_dim, generator=g)
    labels = torch.arange(5) % max(1, G.num_classes)
    c = F.one_hot(labels, G.num_classes).float() if G.num_classes else None
    with torch.no_grad():
        images = G(z, c, psi) if "psi" in names else G(z, c)
    values = {"z": z, "class": labels, "psi": torch.tensor(psi)}
    return tuple(values[k] for k in names), images, names


@pytest.mark.parametrize("name", list(RUNS))
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_parity(runs, tmp_path, name, fmt):
    out = tmp_path / f"g.{fmt}"
    info = export_generator(runs[name], fmt, out)
    assert json.loads(out.with_suffix(out.suffix + ".json").read_text()) == info
    for psi in (1.0, 0.5):
        inputs, want, names = reference(runs[name], psi)
        assert names == list(info["inputs"]) and ("class" in names) == name.endswith("cond")
        assert ("psi" in names) == name.startswith("stylegan")
        if fmt == "onnx":
            session = ort.InferenceSession(str(out))
            got = torch.from_numpy(session.run(None, {k: v.numpy() for k, v in zip(names, inputs)})[0])
        else:
            got = torch.jit.load(str(out))(*inputs)
        assert got.shape == want.shape == (5, *want.shape[1:])
        assert (got - want).abs().max() < 1e-4, (name, fmt, psi, (got - want).abs().max())
        if "psi" not in names:
            break
    if "psi" in names:  # psi is a live input, not a constant baked in at export
        _, half, _ = reference(runs[name], 0.5)
        _, full, _ = reference(runs[name], 1.0)
        assert (half - full).abs().max() > 1e-3


def test_export_from_the_command_line(runs, tmp_path, capsys):
    out = tmp_path / "g.onnx"
    p = subprocess.run([sys.executable, "-m", "gankit", "export", "--run", str(runs["r3gan-cond"]), "--format", "onnx",
                        "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "" and "class int64" in p.stdout, p.stderr
    assert out.stat().st_size > 0
    assert main(["export", "--run", str(runs["r3gan"]), "--format", "onnx", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["export", "--run", str(tmp_path / "none"), "--format", "torchscript", "--out", str(out)]) == 2
    assert "not a gankit run" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_an_out_of_range_class_is_refused_by_both_runtimes(runs, tmp_path, fmt):
    """The digits run has 10 classes: 10 and -1 are refused (ONNX's OneHot used to give a zero row, silently)."""
    out = tmp_path / f"g.{fmt}"
    export_generator(runs["r3gan-cond"], fmt, out)
    G = load_generator(runs["r3gan-cond"])
    z = torch.randn(2, G.z_dim)
    run = (lambda z, c: ort.InferenceSession(str(out)).run(None, {"z": z.numpy(), "class": c.numpy()})[0]) \
        if fmt == "onnx" else torch.jit.load(str(out))
    run(z, torch.tensor([0, 9]))  # in range: fine
    for bad in ([3, 10], [-1, 2]):
        with pytest.raises(Exception):  # noqa: B017  (onnxruntime's and torch's own error types)
            run(z, torch.tensor(bad))

"""`gankit export`: a run's EMA generator as an ONNX graph or a TorchScript module, for use outside gankit, or as a
slim run folder (format "run": G_ema alone, safetensors + JSON) that gankit's generate, eval and export take.

The exported function takes `z` (float32 [N, z_dim], N free), `class` (int64 [N]) when the generator is
class-conditional, and `psi` (float32 scalar) where the family has a mapping network (StyleGAN's truncation
w = w_avg + psi (w - w_avg); 1: none), and returns `images` (float32 [N, C, H, W], the generator's range, about
[-1, 1]). It computes in float32 (a run's bf16 stages are a training-speed choice). ONNX goes through
torch.export (`pip install gankit[export]`: onnx, onnxscript); TorchScript through torch.jit.trace, which PyTorch
has deprecated in favour of torch.export but which C++ and older runtimes still load.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import GankitError
from .files import encode, write_atomic, write_json

FORMATS = ("onnx", "torchscript", "run")


class Sampler(nn.Module):
    """G_ema as a function of named tensors: z, then class (conditional), then psi (families with a mapping)."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G
        self.inputs = ["z"] + (["class"] if G.num_classes else []) + (["psi"] if getattr(G, "mapping", None) is not None else [])

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        a = dict(zip(self.inputs, args))
        c = self.one_hot(a["class"]) if "class" in a else None
        if "psi" not in a:
            return self.G(a["z"], c)
        w_avg = self.G.mapping.w_avg  # StyleGAN's truncation as tensor arithmetic, so psi stays an input
        w = w_avg + a["psi"] * (self.G.mapping(a["z"], c) - w_avg)
        return self.G.synthesis(w[:, None].repeat(1, self.G.num_ws, 1), a["z"], c)

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        """Rows of the identity: an index outside 0..K-1 fails in both runtimes (ONNX's OneHot would give a zero row
        without a word); a negative one is moved past K first, since a gather counts it from the end."""
        k = self.G.num_classes
        eye = torch.eye(k, device=labels.device)
        return eye[labels + (labels < 0).long() * (2 * k)]

    def example(self, n: int = 2) -> tuple[torch.Tensor, ...]:
        """Inputs of batch n (the export traces these; N stays free)."""
        g = torch.Generator().manual_seed(0)
        out = {"z": torch.randn(n, self.G.z_dim, generator=g), "class": torch.arange(n) % max(1, self.G.num_classes),
               "psi": torch.tensor(0.7)}
        return tuple(out[k] for k in self.inputs)


def export_generator(run: Path, fmt: str, out: Path, checkpoint: str = "latest") -> dict[str, Any]:
    """Write run's G_ema (of its latest checkpoint, "best" or one named) to `out` in `fmt` (onnx, torchscript or run),
    with `out`.json describing its inputs and its snapshot; returns that."""
    from .networks import set_bf16
    from .run import load_generator, load_run_config

    if fmt not in FORMATS:
        raise GankitError(f"--format {fmt} is unknown; use {', '.join(FORMATS)}")
    out = Path(out)
    if fmt == "run":
        return export_run(Path(run), out, checkpoint)
    if not out.parent.is_dir():
        raise GankitError(f"--out {out}: folder {out.parent} does not exist; create it first")
    if out.is_dir():
        raise GankitError(f"--out {out} is a folder; name a file, e.g. {out / ('generator.' + ('onnx' if fmt == 'onnx' else 'pt'))}")
    _check_not_the_runs_own(Path(run), out)
    G = load_generator(run, checkpoint=checkpoint)
    set_bf16(load_run_config(run).model.arch, False, G)  # export in float32
    for m in G.modules():  # StyleGAN's modulated convs: the batch-independent form (groups = batch cannot export)
        if hasattr(m, "fused"):
            m.fused = False
    model = Sampler(G).eval()
    example = model.example()
    if fmt == "onnx":
        _onnx(model, example, out)
    else:
        with warnings.catch_warnings():  # torch.jit is deprecated: said once in the docs, not at every export
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, example, check_trace=False)
            data = encode(lambda f: torch.jit.save(traced, f))  # bytes first: a full disk is then Python's error
        write_atomic(out, data)
    info = {"run": str(run), "format": fmt, **G.snapshot, "inputs": {k: _spec(k, G) for k in model.inputs},
            "outputs": {"images": f"float32 [N, {G.channels}, {G.resolution}, {G.resolution}], about [-1, 1]"}}
    write_json(out.with_suffix(out.suffix + ".json"), info)
    return info


def export_run(run: Path, out: Path, checkpoint: str = "latest") -> dict[str, Any]:
    """A new run folder `out` holding what sampling reads: config.json, run.json (the precision it sampled in) and one
    checkpoint's G_ema alone (the latest that loads, "best" or one named; about 1/6 of a full R3GAN checkpoint, which
    also holds G, D, both Adam states and the RNGs), so a trained generator can be shared, and `gankit
    generate/eval/export --run out` give what they give on `run` with that checkpoint. It cannot resume training.
    Refuses an existing `out`."""
    from .checkpoint import save_checkpoint
    from .files import new_folder
    from .run import load_run_config, load_snapshot

    load_run_config(run)  # not a run, or a damaged config: one line
    if out.exists():
        raise GankitError(f"--out {out} exists; name a new folder for the exported run")
    states, meta, path = load_snapshot(run, checkpoint, only=("G_ema",))
    info = {"run": str(run), "format": "run", "checkpoint": path.name, "images": meta.get("images"),
            "contents": "G_ema only: gankit generate, eval and export take it; training cannot resume from it"}
    with new_folder(out) as build:  # whole or not at all; named by its images, as the latest checkpoint there
        save_checkpoint(build / "checkpoints" / f"ckpt-{int(meta['images']):09d}", states, meta)
        for name in ("config.json", "run.json"):
            if (run / name).exists():
                write_atomic(build / name, (run / name).read_bytes())
        write_json(build / "export.json", info)
    return info


def _check_not_the_runs_own(run: Path, out: Path) -> None:
    """Refuse to overwrite a file of the run itself (a checkpoint, config.json): an export replaces only an export."""
    sidecar = out.with_suffix(out.suffix + ".json")
    try:
        earlier = json.loads(sidecar.read_text()).get("format") in FORMATS
    except (OSError, ValueError, AttributeError):
        earlier = False
    root = run.resolve()
    for target in (out, sidecar):
        t = target.resolve()
        if t.exists() and root in t.parents and not earlier:
            raise GankitError(f"--out {out} would overwrite {t.relative_to(root)}, a file of the run {run}; name a new "
                              f"file, e.g. --out {run / 'generator.onnx'}")


def _onnx(model: Sampler, example: tuple[torch.Tensor, ...], out: Path) -> None:
    try:
        import onnxscript  # noqa: F401  (torch.export's ONNX translator)
    except ImportError:
        raise GankitError("ONNX export needs the onnx and onnxscript packages: pip install 'gankit[export]' "
                          "(or pip install onnx onnxscript)") from None
    n = torch.export.Dim("n")
    dynamic = tuple({0: n} if k in ("z", "class") else {} for k in model.inputs)
    quiet = logging.getLogger("torch.onnx")  # it logs one line per torchvision op it cannot register
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # and prints its progress
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, example, input_names=model.inputs, output_names=["images"],
                                        dynamic_shapes=(dynamic,), dynamo=True)  # one entry: the *args tuple
    finally:
        quiet.setLevel(level)
    write_atomic(out, program.model_proto.SerializeToString())


def _spec(name: str, G: nn.Module) -> str:
    return {"z": f"float32 [N, {G.z_dim}], N(0, 1)", "class": f"int64 [N] in 0..{G.num_classes - 1}",
            "psi": "float32 scalar: truncation towards w_avg (1: none, 0.7: typical)"}[name]

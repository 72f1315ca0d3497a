"""Results are bitwise unchanged by refactoring: short fixed-seed runs of every method, network family and loop option
give final checkpoints (G, G_ema, D, both Adam states, counters, RNG and loader states, a loss's state) whose sha256
equals the one recorded in tests/fixtures/bitwise.json.

Record (only when a change is meant to change results, and say so in the commit): GANKIT_RECORD_BITWISE=1 pytest
tests/training/test_bitwise.py. Hashes hold for one set of CPU kernels at 1 thread: oneDNN picks other kernels (other
rounding) on an AMX Intel than on an AVX-512 AMD, so the record is kept per kernel fingerprint (vendor, ISA, torch).
A machine with no record skips, naming its fingerprint: record it at a commit before the change under test.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
from pathlib import Path
from typing import Any

import pytest
import torch

from gankit.checkpoint import list_checkpoints, load_checkpoint
from gankit.presets import resolve
from gankit.training.loop import train

ROOT = Path(__file__).resolve().parents[2]
RECORD = Path(__file__).parents[1] / "fixtures" / "bitwise.json"
QUIET = {"train.threads": "1", "train.metrics": "none", "train.tensorboard": "false"}


def _catalog() -> dict[str, dict[str, str]]:
    spec = importlib.util.spec_from_file_location("catalog_2d", ROOT / "scripts" / "catalog_2d.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: sets for name, (_, sets) in module.COMBOS.items()}


MLP = {"train.kimg": "0.384", "data.size": "2000", "train.ema_kimg": "0.05"}  # 6 steps at batch 64
DIGITS = {"train.batch": "16", "train.kimg": "0.048", "data.size": "256", "train.grid": "16", "train.ema_kimg": "0.01"}
RUNS: dict[str, tuple[str, dict[str, str]]] = {
    **{f"catalog {name}": ("mlp-grid25", {**MLP, **sets}) for name, sets in _catalog().items()},
    "r3gan-tiny (default-style: aug, R1 + R2, EMA)": ("r3gan-tiny", {}),
    "r3gan-tiny lazy R1/R2 every 2 steps": ("r3gan-tiny", {"loss.reg_interval": "2"}),
    "r3gan-tiny micro-batches of 4": ("r3gan-tiny", {"train.batch_gpu": "4"}),
    "r3gan-tiny conditional": ("r3gan-tiny", {"model.cond": "true"}),
    "r3gan-tiny bf16 stages": ("r3gan-tiny", {"train.precision": "bf16"}),
    "mma-gan mlp K4, L_div, reused latents": ("mlp-ring8", {**MLP, "loss.name": "mma", "model.heads": "4",
                                                            "loss.mma_lambda": "0.5", "loss.mma_batch": "32",
                                                            "train.g_reuse_z": "true", "loss.regularizers": "[]"}),
    "mma-gan dcgan K4 with BN and augmentation": ("dcgan-digits", {**DIGITS, "loss.name": "mma", "model.heads": "4",
                                                                   "loss.mma_lambda": "0.5", "loss.mma_batch": "16",
                                                                   "train.g_reuse_z": "true", "train.aug_p": "0.3"}),
    "dcgan-digits": ("dcgan-digits", DIGITS),
    "sngan-digits (resnet, hinge, SN, n_critic, TTUR betas)": ("sngan-digits", DIGITS),
    "biggan-digits (conditional resnet, ortho init)": ("biggan-digits", DIGITS),
    "biggan-digits with the orthogonal penalty": ("biggan-digits", {**DIGITS, "loss.ortho_beta": "1e-4"}),
    "stylegan-digits": ("stylegan-digits", DIGITS),
    "pggan-digits (growing, fade-in, WGAN-GP + drift)": ("pggan-digits", {**DIGITS, "train.grow_kimg": "0.008"}),
}


def kernels() -> str:
    """What decides the CPU kernels' rounding: the vendor, the ISA torch dispatches to, AMX, and torch's version."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    vendor = next((ln.split(":")[1].strip() for ln in info.splitlines() if ln.startswith("vendor_id")),
                  platform.processor() or platform.machine())
    amx = " AMX" if " amx_tile" in info else ""
    return f"{vendor} {torch.backends.cpu.get_cpu_capability()}{amx} torch {torch.__version__}"


def digest(value: Any, h: "hashlib._Hash") -> None:
    """Feed a nested checkpoint state into h in a fixed order: tensors by dtype, shape and bytes, the rest by repr."""
    if isinstance(value, dict):
        for k in sorted(value, key=str):
            h.update(repr(k).encode())
            digest(value[k], h)
    elif isinstance(value, (list, tuple)):
        for v in value:
            digest(v, h)
    elif isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        h.update(f"{t.dtype}{tuple(value.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    else:
        h.update(repr(value).encode())


def final_hashes(run: Path) -> dict[str, str]:
    states, _ = load_checkpoint(list_checkpoints(run)[-1])
    out = {}
    for name, state in sorted(states.items()):
        h = hashlib.sha256()
        digest(state, h)
        out[name] = h.hexdigest()[:16]
    return out


@pytest.fixture(scope="module")
def recorded() -> dict[str, dict[str, str]]:
    records = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    if kernels() not in records and os.environ.get("GANKIT_RECORD_BITWISE") != "1":
        pytest.skip(f"no bitwise record for this CPU's kernels ({kernels()}; recorded: {sorted(records)}): "
                    "run GANKIT_RECORD_BITWISE=1 pytest tests/training/test_bitwise.py at a commit before the change")
    return records.get(kernels(), {})


@pytest.mark.parametrize("name", list(RUNS))
def test_results_are_bitwise_unchanged(name, tmp_path, recorded):
    preset, sets = RUNS[name]
    cfg = resolve(preset, {**sets, **QUIET, "train.seed": "3"})
    cfg.train.snapshot_kimg = cfg.train.kimg  # one snapshot, at the end
    train(cfg, tmp_path / "run", progress=lambda m: None)
    got = final_hashes(tmp_path / "run")
    if os.environ.get("GANKIT_RECORD_BITWISE") == "1":
        data = json.loads(RECORD.read_text()) if RECORD.exists() else {}
        data.setdefault(kernels(), {})[name] = got
        data[kernels()] = dict(sorted(data[kernels()].items()))
        RECORD.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")
        return
    if name not in recorded:  # a run added after this machine's kernels were recorded
        pytest.skip(f"no record of {name!r} for this CPU's kernels ({kernels()}): run GANKIT_RECORD_BITWISE=1 once")
    # "log" (the sums behind the next log line) and "phema" are bookkeeping added after most records: not compared
    assert set(got) - set(recorded[name]) <= {"log", "phema"}, sorted(got)
    assert {k: got.get(k) for k in recorded[name]} == recorded[name], \
        {k: (got.get(k), v) for k, v in recorded[name].items() if got.get(k) != v}

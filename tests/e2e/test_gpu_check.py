"""benchmarks/gpu_check: the weights travel in two parts and come back byte for byte; the dry run passes every stage."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check  # noqa: E402


def test_weights_split_in_two_and_join_byte_for_byte(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    state = {f"layer{i}.weight": torch.randn(64, 8 * (6 - i), generator=g) for i in range(6)}  # larger first
    src = tmp_path / "w.safetensors"
    save_file(state, str(src), metadata={"source": "test"})
    first_max = 26_000  # bytes of tensor data the first call may carry (the tensors hold 43,008)
    gpu_check.split_weights(src, tmp_path / "parts", first_max=first_max)
    p1, p2 = (load_file(str(tmp_path / "parts" / s / "inception.safetensors")) for s in ("w1", "w2"))
    assert p1 and p2 and not set(p1) & set(p2) and set(p1) | set(p2) == set(state)
    size = {k: t.numel() * t.element_size() for k, t in state.items()}
    in_w1 = sum(size[k] for k in p1)
    assert in_w1 <= first_max  # the first call's part fits what it may carry ...
    assert all(in_w1 + size[k] > first_max for k in p2)  # ... and no tensor left for the second would have fitted
    target = tmp_path / "cache" / "joined.safetensors"
    assert gpu_check.join_weights(tmp_path / "parts", target) == ""
    assert target.read_bytes() == src.read_bytes()


def test_a_changed_or_missing_part_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "w.safetensors"
    save_file({"a": torch.ones(300), "b": torch.zeros(100)}, str(src))
    gpu_check.split_weights(src, tmp_path / "parts")
    part = tmp_path / "parts" / "w2" / "inception.safetensors"
    tensors = load_file(str(part))
    save_file({k: v + 1 for k, v in tensors.items()}, str(part))
    target = tmp_path / "joined.safetensors"
    assert "differ" in gpu_check.join_weights(tmp_path / "parts", target) and not target.exists()
    part.unlink()
    assert "missing" in gpu_check.join_weights(tmp_path / "parts", target)


def test_dry_run_passes_every_stage_at_toy_size(tmp_path: Path) -> None:
    """The whole check on the CPU (compile skipped here for time; the docs record a dry run with it)."""
    p = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--skip", "compile",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    records = json.loads((tmp_path / "gpu_check.json").read_text())
    assert {r["stage"] for r in records} == {"env", "data", "step", "train", "fid", "ddp"}
    bad = [r for r in records if r["status"] != "ok" and not (r["status"] == "skipped" and r.get("why") == "--skip")]
    assert not bad, bad
    steps = [r for r in records if r["stage"] == "step" and r["status"] == "ok"]
    assert {(r["batch"], r["batch_gpu"], r["precision"]) for r in steps} == {(4, 4, "fp32"), (4, 4, "bf16"),
                                                                             (8, 4, "fp32"), (8, 4, "bf16")}
    fid = next(r for r in records if r["stage"] == "fid")
    assert fid["fid"] > 0 and set(fid["seconds_by_part"]) == {"generate", "extract", "reference", "score"}
    table = (tmp_path / "gpu_check.md").read_text()
    assert table.count("\n| ") == len(records)  # one row per record below the header

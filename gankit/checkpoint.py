"""Checkpoints as safetensors (tensors) plus JSON (everything else); written atomically, no pickles."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .errors import GankitError


def flatten_state(prefix: str, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Any:
    """Move the tensors of a (nested) state dict into `tensors` under dotted keys; return the rest."""
    if isinstance(state, torch.Tensor):
        tensors[prefix] = state.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(state, dict):
        return {str(k): flatten_state(f"{prefix}.{k}", v, tensors) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [flatten_state(f"{prefix}.{i}", v, tensors) for i, v in enumerate(state)]
    return state


def unflatten_state(meta: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of flatten_state (dict keys that were ints come back as ints, as optimizers need)."""
    if isinstance(meta, dict):
        if set(meta) == {"__tensor__"}:
            return tensors[meta["__tensor__"]]
        return {(int(k) if k.isdigit() else k): unflatten_state(v, tensors) for k, v in meta.items()}
    if isinstance(meta, list):
        return [unflatten_state(v, tensors) for v in meta]
    return meta


def save_checkpoint(path: Path, states: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write path.safetensors and path.json; each is written to a temporary name, then renamed."""
    tensors: dict[str, torch.Tensor] = {}
    structure = {name: flatten_state(name, state, tensors) for name, state in states.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    st, js = path.with_suffix(".safetensors"), path.with_suffix(".json")
    save_file(tensors, str(st) + ".tmp")
    with open(str(js) + ".tmp", "w") as f:
        json.dump({"meta": meta, "structure": structure}, f, indent=1)
    os.chmod(str(st) + ".tmp", 0o644)  # safetensors creates files readable by the owner only
    os.replace(str(st) + ".tmp", st)
    os.replace(str(js) + ".tmp", js)  # the JSON last: a checkpoint counts once its JSON exists


def load_checkpoint(path: Path, only: tuple[str, ...] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read (states, meta); `only` restricts to some top-level states (e.g. ("G_ema",))."""
    st, js = path.with_suffix(".safetensors"), path.with_suffix(".json")
    if not js.exists() or not st.exists():
        raise GankitError(f"checkpoint {path} is incomplete (needs {st.name} and {js.name})")
    try:
        record = json.loads(js.read_text())
        tensors = {}
        with safe_open(str(st), framework="pt") as f:
            for key in f.keys():
                if only is None or key.split(".", 1)[0] in only:
                    tensors[key] = f.get_tensor(key)
    except (OSError, ValueError, json.JSONDecodeError) as e:
        raise GankitError(f"checkpoint {path} cannot be read ({e}); delete it to fall back to an earlier one") from None
    structure = record["structure"]
    names = only if only is not None else tuple(structure)
    return {n: unflatten_state(structure[n], tensors) for n in names}, record["meta"]


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (paths without suffix)."""
    d = Path(run_dir) / "checkpoints"
    if not d.is_dir():
        return []
    return sorted(p.with_suffix("") for p in d.glob("ckpt-*.json") if p.with_suffix(".safetensors").exists())


def copy_checkpoint(src: Path, dst: Path) -> None:
    """Copy checkpoint src to dst (both without suffix), each file through a temporary name and a rename."""
    for suffix in (".safetensors", ".json"):  # the JSON last, as in save_checkpoint
        tmp = str(dst.with_suffix(suffix)) + ".tmp"
        shutil.copyfile(src.with_suffix(suffix), tmp)
        os.replace(tmp, dst.with_suffix(suffix))

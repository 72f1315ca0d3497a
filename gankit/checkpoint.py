"""Checkpoints as safetensors (tensors) plus JSON (everything else); written atomically, no pickles."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .errors import GankitError
from .files import sweep_temps, write_atomic


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


_SAVES = 0  # checkpoint writes in this process (fault injection counts them)


def save_checkpoint(path: Path, states: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write path.safetensors and path.json, each whole (files.write_atomic)."""
    from .training.health import fault, kill_self

    tensors: dict[str, torch.Tensor] = {}
    structure = {name: flatten_state(name, state, tensors) for name, state in states.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    st, js = path.with_suffix(".safetensors"), path.with_suffix(".json")
    global _SAVES
    _SAVES += 1
    try:
        write_atomic(st, save(tensors))  # bytes first: a full disk is then Python's OSError, not safetensors' own
        if fault("kill_in_save", _SAVES):
            kill_self()  # a test proves the previous checkpoint survives this
        write_atomic(js, json.dumps({"meta": meta, "structure": structure}, indent=1).encode())  # the JSON last:
    except OSError as e:                                                                        # it makes it count
        raise GankitError(f"cannot write checkpoint {path.name} ({e.strerror or e}); the earlier checkpoints are "
                          f"intact; free disk space in {path.parent} and re-run the same command to resume") from None
    if fault("kill_after_save", _SAVES):
        kill_self()  # a test proves what the caller does after a checkpoint (log, best) survives this


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
    except (OSError, ValueError, json.JSONDecodeError, SafetensorError) as e:
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
        write_atomic(dst.with_suffix(suffix), src.with_suffix(suffix).read_bytes())


def process_rng_state(device: torch.device) -> dict[str, Any]:
    """This process's global RNG states (torch CPU, CUDA, numpy, python) in checkpoint-friendly types."""
    import random

    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(), "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
             "has_gauss": int(has_gauss), "cached": float(cached)},
             "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next}}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_process_rng(state: dict[str, Any], device: torch.device) -> None:
    """Inverse of process_rng_state."""
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# what a damaged but parseable checkpoint raises: a missing key, a tensor of the wrong shape, a counter of the wrong type
DAMAGED = (GankitError, KeyError, IndexError, RuntimeError, ValueError, TypeError, AttributeError)


def load_latest(run_dir: Path, warn: Any = None, apply: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
                only: tuple[str, ...] | None = None) -> tuple[dict[str, Any], dict[str, Any], Path] | None:
    """(states, meta, path) of the newest checkpoint that loads and that `apply(states, meta)` accepts (e.g. a
    load_state_dict); unreadable or damaged newer ones are skipped with a warning."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            states, meta = load_checkpoint(path, only)
            if apply is not None:
                apply(states, meta)
            return states, meta, path
        except DAMAGED as e:
            msg = f"checkpoint {path.name} cannot be loaded ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); falling back to the previous one"
            (warn or _warn)(msg)
    return None


def _warn(msg: str) -> None:
    import warnings

    warnings.warn(msg, stacklevel=3)


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete the temps a killed write left in the run and its checkpoints (and the *.tmp older versions left)."""
    for d in (Path(run_dir), Path(run_dir) / "checkpoints"):
        sweep_temps(d)
        for p in d.glob("*.tmp") if d.is_dir() else ():
            p.unlink(missing_ok=True)

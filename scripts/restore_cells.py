"""Put a study's shipped cells back where `gankit experiment` looks for them, so a re-run trains only the rest.

    python scripts/restore_cells.py docs/results/gamma_rule/gamma-cifar10/cells /work/exp/gamma-cifar10

Shipped cells are flat (SETTING/METHOD/ARM/SEED/{config.json, metrics.jsonl, run.json, result.json, final.json}); an
experiment's cell keeps result.json (and a study's final metric, final.json) at its top and the run's files under
run/. A cell already present is left alone.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path


def restore(shipped: Path, root: Path) -> int:
    """Copy every shipped cell under `shipped` into `root`; returns how many were copied."""
    n = 0
    for result in sorted(shipped.rglob("result.json")):
        cell = root / result.parent.relative_to(shipped)
        if (cell / "result.json").exists():  # already here; a final metric measured elsewhere still comes along
            if (result.parent / "final.json").exists() and not (cell / "final.json").exists():
                shutil.copy2(result.parent / "final.json", cell / "final.json")
            continue
        (cell / "run").mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "metrics.jsonl", "run.json"):
            if (result.parent / name).exists():
                shutil.copy2(result.parent / name, cell / "run" / name)
        if (result.parent / "final.json").exists():
            shutil.copy2(result.parent / "final.json", cell / "final.json")
        shutil.copy2(result, cell / "result.json")  # last: a cell counts as finished only once it is whole
        n += 1
    return n


def ship(root: Path, shipped: Path) -> int:
    """The reverse: every finished cell of `root` flat under `shipped` (new or changed files only); returns the count."""
    n = 0
    for result in sorted(root.rglob("result.json")):
        dest = shipped / result.parent.relative_to(root)
        dest.mkdir(parents=True, exist_ok=True)
        for src in (result.parent / "run" / "config.json", result.parent / "run" / "metrics.jsonl",
                    result.parent / "run" / "run.json", result, result.parent / "final.json"):
            if src.exists() and (not (dest / src.name).exists() or (dest / src.name).read_bytes() != src.read_bytes()):
                shutil.copy2(src, dest / src.name)
        n += 1
    return n


if __name__ == "__main__":
    if len(sys.argv) != 3 and not (len(sys.argv) == 4 and sys.argv[1] == "--ship"):
        sys.exit("usage: restore_cells.py SHIPPED_CELLS STUDY_DIR   |   restore_cells.py --ship STUDY_DIR SHIPPED_CELLS")
    if sys.argv[1] == "--ship":
        print(f"shipped {ship(Path(sys.argv[2]), Path(sys.argv[3]))} finished cells")
    else:
        print(f"restored {restore(Path(sys.argv[1]), Path(sys.argv[2]))} cells")

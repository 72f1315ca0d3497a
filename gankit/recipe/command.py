"""The recipe on the command line: `gankit train|describe --data DIR [--minutes M]` with no --preset or --config."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..errors import GankitError

DEFAULT_MINUTES = 60.0  # `gankit train --data DIR` without --minutes


def is_recipe(args: argparse.Namespace) -> bool:
    """--data with neither --preset nor --config: the recipe sizes the run (gankit.recipe); --minutes needs that."""
    recipe = bool(getattr(args, "data", None)) and not args.preset and not getattr(args, "config", None)
    if args.minutes is not None and not recipe:
        raise GankitError("--minutes sizes the recipe for your own images: use it with --data and without --preset/--config "
                          "(a preset's length is --kimg)" if args.data else "--minutes sizes a run to your images: pass --data DIR too")
    if args.minutes is not None and args.kimg is not None:
        raise GankitError("--minutes and --kimg both set the run's length; give one of them")
    return recipe


def default_out(data: str) -> Path:
    """runs/<the folder's or archive's name>: where a recipe run goes without --out."""
    name = Path(data.rstrip("/")).name
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
        name = name.removesuffix(suffix)
    return Path("runs") / (name or "data")


def recipe_config(args: argparse.Namespace, out: Path | None):
    """(config, recipe record) for --data without a preset; a run in `out` that a recipe started keeps its own recipe."""
    from ..config import apply_overrides, parse_set, validate_ranges
    from ..distributed import resolve_device
    from ..run import load_run_config
    from ..training.cores import Threads
    from . import plan, survey
    from .measure import eval_images_per_second, images_per_second

    sets = parse_set(args.set or [])
    if out is not None and (out / "config.json").exists() and not getattr(args, "restart", False):
        old = load_run_config(out)
        if old.preset == "auto":  # resume: the recipe measured at the run's start, not a new one
            rec = json.loads((out / "recipe.json").read_text()) if (out / "recipe.json").exists() else None
            if rec and args.minutes is not None and float(args.minutes) != rec["minutes"]:
                raise GankitError(f"{out} was sized for {rec['minutes']:g} minutes; resume it without --minutes (or with "
                                  f"--kimg to lengthen it), or size a new run with --restart or another --out")
            cfg = apply_overrides(old, {**sets, "data.path": args.data,
                                        **({"train.kimg": args.kimg} if args.kimg is not None else {})})
            validate_ranges(cfg)
            return cfg, rec
    device = resolve_device(sets.get("train.device", "auto"))
    Threads(int(sets.get("train.threads", 0)), device)  # timed on the threads the run will start with (a busy machine: fewer)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    metrics = sets.get("train.metrics", "auto") not in ("", "none")
    r = plan(survey(args.data, sets.get("data.subdir", "")), DEFAULT_MINUTES if args.minutes is None else args.minutes,
             where, images_per_second, eval_images_per_second(str(device)) if metrics else None, sets, args.kimg)
    return r.config(), r

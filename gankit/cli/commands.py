"""The verbs that train, sample, run studies and show runs: train, generate, experiment, plot, presets, import,
phema, export, report, describe."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ..errors import GankitError


def _config(args: argparse.Namespace):
    """The preset, then --config FILE's keys, then --set, then --data and --kimg."""
    from ..config import parse_set
    from ..presets import DEFAULT_PRESET, resolve

    preset, overrides = "", {}
    if getattr(args, "config", None):
        from ..config_files import read_config_file

        preset, overrides = read_config_file(args.config)
        if args.preset and preset and args.preset != preset:
            raise GankitError(f"--preset {args.preset} and {args.config}'s preset '{preset}' disagree; drop one of them")
    overrides.update(parse_set(args.set or []))
    if getattr(args, "data", None):
        overrides["data.path"] = args.data
    if getattr(args, "kimg", None) is not None:
        overrides["train.kimg"] = args.kimg
    if preset == "auto" and not args.preset:  # a recipe run's config.json: it holds every key the recipe chose
        from ..config import Config, apply_overrides, validate_ranges

        cfg = apply_overrides(Config(preset="auto"), overrides)
        validate_ranges(cfg)
        return cfg
    return resolve(args.preset or preset or DEFAULT_PRESET, overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.health import Faults
    from ..training.loop import train

    from ..recipe.command import default_out, is_recipe, recipe_config

    notes = {}
    if is_recipe(args):
        out = Path(args.out) if args.out else default_out(args.data)
        cfg, r = recipe_config(args, out)
        if r is not None and not isinstance(r, dict):
            print("\n".join(r.lines()))
            r = r.to_dict()
        notes = {"recipe.json": r} if r else {}
    else:
        cfg = _config(args)
        out = Path(args.out) if args.out else Path("runs") / cfg.preset
    faults = Faults.from_env()  # tests of real subprocesses inject faults through $GANKIT_FAULT
    run_dir = train(cfg, out, restart=args.restart, from_best=args.from_best, hooks=[faults] if faults else [],
                    notes=notes)
    from .. import distributed

    if distributed.rank() == 0:
        print(f"run directory: {run_dir}")
    distributed.shutdown()
    return 0


MAX_GENERATE = 1_000_000  # samples per `gankit generate` call: all latents and images are held at once


def cmd_generate(args: argparse.Namespace) -> int:
    from ..run import load_generator
    from ..sampling import generate, save_samples, to_uint8

    out = Path(args.out)
    if not 1 <= args.n <= MAX_GENERATE:
        raise GankitError(f"--n must be 1 to {MAX_GENERATE:,} (more: several calls with different --seed)")
    if out.is_dir():
        raise GankitError(f"--out {out} is a folder; name a file in it, e.g. --out {out / 'samples.png'}")
    if out.suffix.lower() not in (".png", ".npz"):
        raise GankitError(f"--out {out} must end in .png (a grid) or .npz (an array of samples)")
    if args.floats and out.suffix.lower() != ".npz":
        raise GankitError(f"--float writes float32 arrays: name an .npz file (--out {out.with_suffix('.npz')})")
    if not out.parent.is_dir():
        raise GankitError(f"--out {out}: folder {out.parent} does not exist; create it first")
    if args.cls is not None and args.cls != "all" and not args.cls.lstrip("-").isdigit():
        raise GankitError(f"--class takes a class index or 'all', got '{args.cls}'")
    G = load_generator(args.run, which="G" if args.raw else "G_ema", checkpoint=args.checkpoint)
    classes, n, per_row = None, args.n, 0
    if args.cls is not None:
        if not G.num_classes:
            raise GankitError(f"--class given but the run {args.run} is unconditional; drop --class")
        if args.cls == "all":  # --n of each class, row by row: a conditional model's sample sheet
            n, per_row = args.n * G.num_classes, args.n
            if n > MAX_GENERATE:
                raise GankitError(f"--class all: --n {args.n} x {G.num_classes} classes exceeds {MAX_GENERATE:,}")
            classes = torch.arange(G.num_classes).repeat_interleave(args.n)
        elif not 0 <= int(args.cls) < G.num_classes:
            raise GankitError(f"--class {args.cls} is outside 0..{G.num_classes - 1}")
        else:
            classes = torch.full((n,), int(args.cls), dtype=torch.long)
    try:
        samples = generate(G, n, seed=args.seed, classes=classes, truncation=args.truncation, psi=args.psi)
    except ValueError as e:
        raise GankitError(str(e)) from None
    if out.suffix.lower() == ".npz":
        from ..files import encode, write_atomic

        array = to_uint8(samples).numpy() if samples.ndim == 4 and not args.floats else samples.float().numpy()
        write_atomic(out, encode(lambda f: np.savez(f, samples=array)))
    else:
        save_samples(samples, out, nrow=per_row)
    print(f"wrote {n} samples to {out}" + (f" ({args.n} per class, one row each)" if per_row else ""))
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from ..config import parse_set
    from ..lab.experiment import EXPERIMENTS, cells, collect, run_experiment

    if args.list:
        for name in EXPERIMENTS.names():
            exp = EXPERIMENTS.get(name)
            print(f"{name:18s} {len(cells(exp)):4d} cells  {exp.description}")
        return 0
    if not args.name:
        raise GankitError("name an experiment (gankit experiment --list shows them)")
    try:  # an empty --seeds is refused, not read as "the experiment's own seeds"
        seeds = [int(v) for v in args.seeds.split(",")] if args.seeds is not None else None
        if seeds is not None and min(seeds) < 0:
            raise ValueError
    except ValueError:
        raise GankitError(f"--seeds takes a comma list of integers >= 0, got '{args.seeds}'") from None
    if args.jobs < 1 or args.threads < 1:
        raise GankitError("--jobs and --threads must be at least 1")
    out = Path(args.out)
    summary = (collect(args.name, out, seeds) if args.collect_only else
               run_experiment(args.name, out, args.jobs, args.threads, seeds, parse_set(args.set or []),
                              only=[v for v in (args.only or "").split(",") if v] or None))
    root = out / args.name
    print(f"{len(summary)} configurations; tables in {root / 'summary.md'}, {root / 'summary.csv'}, {root / 'results.csv'}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from ..lab.plot import plot_run

    for path in plot_run(args.run_dir, args.out):
        print(f"wrote {path}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from ..presets import DEFAULT_PRESET, PRESETS, resolve

    for name in PRESETS:
        cfg = resolve(name)
        mark = " (default)" if name == DEFAULT_PRESET else ""
        res = "2-D" if cfg.model.arch == "mlp" else f"{cfg.data.resolution}px"
        print(f"{name:22s} {cfg.model.arch:6s} data={cfg.data.name:15s} {res:6s} "
              f"batch={cfg.train.batch:<5d} kimg={cfg.train.kimg:g}{mark}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from ..config import parse_set
    from ..import_r3gan import import_pickle

    rec = import_pickle(Path(args.pickle), Path(args.out), parse_set(args.set or []))
    print(f"imported {args.pickle} ({', '.join(rec['has'])}; {rec['resolution']}x{rec['resolution']}, "
          f"{rec['num_classes'] or 'no'} classes, preset {rec['preset']}) into {args.out}: "
          f"`gankit generate --run {args.out} ...`, `gankit eval --run {args.out} ...`, or fine-tune with "
          f"`gankit train --config {args.out}/config.json --data DATA --out {args.out}`")
    return 0


def cmd_phema(args: argparse.Namespace) -> int:
    from ..training.phema import write_phema_run

    out = Path(args.out) if args.out else Path(f"{str(args.run_dir).rstrip('/')}-phema{args.sigma_rel:g}")
    rec = write_phema_run(Path(args.run_dir), args.sigma_rel, out)
    print(f"wrote {out}: G_ema with post-hoc EMA sigma_rel {args.sigma_rel:g} at step {rec['step']:.0f}, mixed from "
          f"{rec['snapshots']} snapshots of profiles {rec['stored_sigma_rels']}; `gankit generate/eval/export --run {out}`")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..export import export_generator

    info = export_generator(Path(args.run), args.format, Path(args.out), args.checkpoint)
    if args.format == "run":
        print(f"wrote {args.out}: G_ema of {info['checkpoint']} ({info['images']:,} images) with config.json and "
              f"run.json; `gankit generate/eval/export --run {args.out}` take it")
        return 0
    inputs = ", ".join(f"{k} {v}" for k, v in info["inputs"].items())
    print(f"wrote {args.out} ({args.format}): G_ema of {info['checkpoint']} ({info['images']:,} images); inputs {inputs}; "
          f"output images {info['outputs']['images']}; described in {args.out}.json")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..lab.report import run_report

    print(f"wrote {run_report(Path(args.run_dir), Path(args.out) if args.out else None)}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from ..data import build_dataset, nominal_shape
    from ..networks import build_networks, count_params
    from ..validate import validate

    from ..recipe.command import is_recipe, recipe_config

    recipe = None
    if is_recipe(args):
        cfg, recipe = recipe_config(args, None)
    else:
        cfg = _config(args)
    try:
        ds = build_dataset(cfg.data)
        shape, classes = ds.shape, ds.num_classes
    except GankitError:  # data not at hand (e.g. no --data): shape from the config alone
        shape, classes = nominal_shape(cfg.data), cfg.data.classes
    if cfg.model.cond and not classes:
        raise GankitError(f"preset {cfg.preset} is conditional: pass --data or --set data.classes=N")
    validate(cfg, tuple(shape), classes, cfg.data.name)  # what `gankit train` would refuse, describe refuses too
    with torch.device("meta"):  # count parameters without allocating them
        G, D = build_networks(cfg.model, shape, classes if cfg.model.cond else 0)
    info = {"preset": cfg.preset, "config": cfg.to_dict(), "data_shape": list(shape),
            "num_classes": classes if cfg.model.cond else 0, "g_params": count_params(G), "d_params": count_params(D)}
    if recipe is not None:
        info["recipe"] = recipe.to_dict()
    if args.toml:
        from ..config_files import to_toml

        print(to_toml(cfg), end="")
    elif args.json:
        print(json.dumps(info, indent=2))
    elif recipe is not None:
        print("\n".join(recipe.lines()))
        print(f"R3GAN: G {info['g_params'] / 1e6:.2f}M params, D {info['d_params'] / 1e6:.2f}M params, data "
              f"{tuple(shape)}; `gankit train --data {args.data}"
              f"{'' if args.minutes is None else f' --minutes {args.minutes:g}'}"
              f"{''.join(f' --set {s}' for s in args.set or [])}` trains it")
    else:
        print(f"{cfg.preset}: G {info['g_params'] / 1e6:.2f}M params, D {info['d_params'] / 1e6:.2f}M params, "
              f"data {cfg.data.name} {tuple(shape)}")
        print(cfg.to_json())
    return 0


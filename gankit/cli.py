"""The `gankit` command line: train, generate, eval, truncation, experiment, plot, report, import, export, phema, presets, describe."""
from __future__ import annotations

import argparse
import errno
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from .errors import GankitError


def _config(args: argparse.Namespace):
    """The preset, then --config FILE's keys, then --set, then --data and --kimg."""
    from .config import parse_set
    from .presets import DEFAULT_PRESET, resolve

    preset, overrides = "", {}
    if getattr(args, "config", None):
        from .config_files import read_config_file

        preset, overrides = read_config_file(args.config)
        if args.preset and preset and args.preset != preset:
            raise GankitError(f"--preset {args.preset} and {args.config}'s preset '{preset}' disagree; drop one of them")
    overrides.update(parse_set(args.set or []))
    if getattr(args, "data", None):
        overrides["data.path"] = args.data
    if getattr(args, "kimg", None) is not None:
        overrides["train.kimg"] = args.kimg
    if preset == "auto" and not args.preset:  # a recipe run's config.json: it holds every key the recipe chose
        from .config import Config, apply_overrides, validate_ranges

        cfg = apply_overrides(Config(preset="auto"), overrides)
        validate_ranges(cfg)
        return cfg
    return resolve(args.preset or preset or DEFAULT_PRESET, overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from .training.health import Faults
    from .training.loop import train

    from .recipe.command import default_out, is_recipe, recipe_config

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
    from . import distributed

    if distributed.rank() == 0:
        print(f"run directory: {run_dir}")
    distributed.shutdown()
    return 0


MAX_GENERATE = 1_000_000  # samples per `gankit generate` call: all latents and images are held at once


def cmd_generate(args: argparse.Namespace) -> int:
    from .run import load_generator
    from .sampling import generate, save_samples, to_uint8

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
    G = load_generator(args.run, which="G" if args.raw else "G_ema")
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
        from .files import encode, write_atomic

        array = to_uint8(samples).numpy() if samples.ndim == 4 and not args.floats else samples.float().numpy()
        write_atomic(out, encode(lambda f: np.savez(f, samples=array)))
    else:
        save_samples(samples, out, nrow=per_row)
    print(f"wrote {n} samples to {out}" + (f" ({args.n} per class, one row each)" if per_row else ""))
    return 0


def _eval_setup(args: argparse.Namespace):
    """(options, source(truncation, psi), reference) from the eval arguments; the reference defaults to a run's training set."""
    from .eval.evaluate import METRICS, EvalOptions, generator_source, resolve_source
    from .eval.protocols import PROTOCOLS, dataset_labels

    protocol = PROTOCOLS.get(args.protocol) if args.protocol else None  # an unknown name lists the valid ones
    if protocol is not None:
        if args.ref or args.n_ref or not args.run:
            raise GankitError(f"--protocol {args.protocol} fixes the samples and the reference (the run's whole training "
                              "set): use it with --run and without --ref/--n-ref, or pass --metrics/--n instead")
        args.metrics, args.n = protocol.metric, protocol.n_gen
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    for m in metrics:
        METRICS.get(m)  # an unknown name fails here, before any data is read
    from .distributed import resolve_device

    for flag in ("n", "batch", "lpips_pairs", "kid_subsets", "kid_subset_size"):
        if getattr(args, flag) < 1:
            raise GankitError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.n_ref is not None and args.n_ref < 0:
        raise GankitError(f"--n-ref must be at least 1 (or left out: the same as --n), got {args.n_ref}")
    device = str(resolve_device(args.device or "auto"))
    from .eval.metrics.extractors import FEATURE_PRECISIONS

    FEATURE_PRECISIONS.get(args.feature_precision)  # before anything is generated or read
    opts = EvalOptions(metrics=metrics, n=args.n, seed=args.seed, extractor=args.extractor,
                       classifier=args.classifier or "", inception_weights=args.inception_weights,
                       dinov2_weights=args.dinov2_weights, feature_precision=args.feature_precision,
                       lpips_trunk=args.lpips_trunk, lpips_pairs=args.lpips_pairs, batch=args.batch,
                       kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size,
                       device=device, cache=not args.no_cache,
                       progress=None if args.quiet else lambda line: print(f"gankit: {line}", file=sys.stderr, flush=True))
    n_ref = args.n_ref or args.n
    ref = resolve_source(args.ref, n_ref, args.seed, args.ref_data or "", args.ref_subdir or "", args.resolution,
                         allow_stats=True) if args.ref else None
    if not args.run:
        src = resolve_source(args.images, args.n, args.seed, args.data or "", args.images_subdir or "", args.resolution)
        return opts, lambda truncation=0.0, psi=1.0: src, ref
    from .data import build_dataset
    from .eval.evaluate import CLASSIFIED_SETS, dataset_source, needs_reference
    from .run import load_generator, load_run_config

    cfg = load_run_config(Path(args.run))
    if args.data:  # the run's training set, moved (or, for an imported run, never recorded)
        cfg.data.path = args.data
    G = load_generator(args.run, which="G" if args.raw else "G_ema", device=device)
    try:
        dataset, err = build_dataset(cfg.data), None
    except GankitError as e:  # the run's data is not here: fine unless a metric needs it
        dataset, err = None, e
    need_ref = needs_reference(metrics) and ref is None  # default reference: the run's training set
    points_modes = "modes" in metrics and not args.classifier and cfg.data.name not in CLASSIFIED_SETS
    if dataset is None and (need_ref or points_modes):
        raise GankitError(f"the run's dataset is not available ({err}); pass --ref (and --classifier for modes)")
    if protocol is not None and dataset is None:
        raise GankitError(f"--protocol {args.protocol} needs the run's training set ({err})")
    if need_ref:
        n_ref = len(dataset) if protocol is not None else n_ref  # a protocol's reference is the whole set
        ref = dataset_source(dataset, n_ref, args.seed, cfg.data.name, {"config": cfg.data.__dict__})
    classes, labels = None, "cycled 0, 1, 2, ..."
    if protocol is not None:
        opts.protocol = protocol.describe(args.protocol)
        if G.num_classes:
            classes, labels = dataset_labels(dataset, args.n, args.seed), opts.protocol["labels"]
    describe = {"kind": "generator", "run": str(args.run), "network": "G" if args.raw else "G_ema", "seed": args.seed}
    if G.num_classes:
        describe["labels"] = labels

    def make_src(truncation: float = 0.0, psi: float = 1.0):
        try:
            return generator_source(G, args.n, args.seed, dataset, cfg.data.name, describe, truncation, psi, classes)
        except ValueError as e:
            raise GankitError(str(e)) from None

    return opts, make_src, ref


def cmd_eval(args: argparse.Namespace) -> int:
    from .eval.evaluate import evaluate

    if not args.run and (args.truncation or args.psi != 1):
        raise GankitError("--truncation and --psi sample a generator: use them with --run, not --images")
    opts, make_src, ref = _eval_setup(args)
    src = make_src(args.truncation, args.psi)
    try:
        results = evaluate(src, ref, opts, Path(args.save_ref) if args.save_ref else None)
    except ValueError as e:  # a bad truncation setting surfaces on the first batch
        raise GankitError(str(e)) from None
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for name, r in results.items():
        fields = "  ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()
                           if k not in ("protocol", "seconds"))
        p = r["protocol"]
        extra = f", n_ref {p['n_ref']}" if "n_ref" in p else ""
        who = f", {p['extractor']} {p['weights_sha256'][:8]}" if "extractor" in p else ""
        named = f"{p['named']['name']}: " if "named" in p else ""
        print(f"{name:10s} {fields}   ({named}n_gen {p['n_gen']}{extra}{who}, seed {p['seed']})")
    seen = {}
    for r in results.values():  # how the images were prepared for each network, in plain text
        p = r["protocol"]
        if "preprocessing" in p:
            seen[p["extractor"]] = f"{p['preprocessing']} (input {p['input_size']})"
    for who, how in seen.items():
        print(f"protocol  {who}: {how}")
    t = next(iter(results.values()))["seconds"]
    print("seconds   " + "  ".join(f"{k} {v:.1f}" for k, v in t.items() if k != "score")
          + "  score " + " ".join(f"{name} {r['seconds']['score']:.1f}" for name, r in results.items()))
    return 0


def cmd_truncation(args: argparse.Namespace) -> int:
    from .eval.truncation import sweep, write_sweep

    if not args.run:
        raise GankitError("gankit truncation samples a generator: pass --run RUN_DIR, not --images")
    try:
        values = [float(v) for v in args.values.split(",") if v.strip()]
    except ValueError:
        raise GankitError(f"--values takes a comma list of numbers, got '{args.values}'") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise GankitError(f"--values takes a comma list of finite numbers, got '{args.values}'")
    if not args.psi_sweep and min(values) < 0:  # refused before the reference is read
        raise GankitError(f"truncation threshold must be > 0 (0: off), got {min(values)}")
    opts, make_src, ref = _eval_setup(args)
    rows = sweep(make_src, ref, opts, values, "psi" if args.psi_sweep else "truncation")
    for path in write_sweep(rows, Path(args.out), opts.metrics):
        print(f"wrote {path}")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from .config import parse_set
    from .lab.experiment import EXPERIMENTS, cells, collect, run_experiment

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
    from .lab.plot import plot_run

    for path in plot_run(args.run_dir, args.out):
        print(f"wrote {path}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from .presets import DEFAULT_PRESET, PRESETS, resolve

    for name in PRESETS:
        cfg = resolve(name)
        mark = " (default)" if name == DEFAULT_PRESET else ""
        res = "2-D" if cfg.model.arch == "mlp" else f"{cfg.data.resolution}px"
        print(f"{name:22s} {cfg.model.arch:6s} data={cfg.data.name:15s} {res:6s} "
              f"batch={cfg.train.batch:<5d} kimg={cfg.train.kimg:g}{mark}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .config import parse_set
    from .import_r3gan import import_pickle

    rec = import_pickle(Path(args.pickle), Path(args.out), parse_set(args.set or []))
    print(f"imported {args.pickle} ({', '.join(rec['has'])}; {rec['resolution']}x{rec['resolution']}, "
          f"{rec['num_classes'] or 'no'} classes, preset {rec['preset']}) into {args.out}: "
          f"`gankit generate --run {args.out} ...`, `gankit eval --run {args.out} ...`, or fine-tune with "
          f"`gankit train --config {args.out}/config.json --data DATA --out {args.out}`")
    return 0


def cmd_phema(args: argparse.Namespace) -> int:
    from .training.phema import write_phema_run

    out = Path(args.out) if args.out else Path(f"{str(args.run_dir).rstrip('/')}-phema{args.sigma_rel:g}")
    rec = write_phema_run(Path(args.run_dir), args.sigma_rel, out)
    print(f"wrote {out}: G_ema with post-hoc EMA sigma_rel {args.sigma_rel:g} at step {rec['step']:.0f}, mixed from "
          f"{rec['snapshots']} snapshots of profiles {rec['stored_sigma_rels']}; `gankit generate/eval/export --run {out}`")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_generator

    info = export_generator(Path(args.run), args.format, Path(args.out))
    print(f"wrote {args.out} ({args.format}): inputs {', '.join(f'{k} {v}' for k, v in info['inputs'].items())}; "
          f"output images {info['outputs']['images']}; described in {args.out}.json")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .lab.report import run_report

    print(f"wrote {run_report(Path(args.run_dir), Path(args.out) if args.out else None)}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from .data import build_dataset, nominal_shape
    from .networks import build_networks, count_params
    from .validate import validate

    from .recipe.command import is_recipe, recipe_config

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
        from .config_files import to_toml

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


def add_eval_args(sp: argparse.ArgumentParser) -> None:
    """The source, reference and metric options shared by `gankit eval` and `gankit truncation`."""
    src = sp.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run directory (its EMA generator; --raw for the raw one)")
    src.add_argument("--images", help="images to score: an image folder/archive, an .npz, or a dataset name")
    sp.add_argument("--ref", help="reference: a dataset name, an image folder/archive, an .npz or a statistics .safetensors "
                   "(default with --run: the run's training set)")
    sp.add_argument("--metrics", default="fid", help="comma list of fid,fid_inf,kid,is,pr,dc,modes,lpips_div (default fid)")
    sp.add_argument("--protocol", help="a named protocol instead of --metrics/--n/--ref, e.g. fid50k_full (R3GAN's: "
                    "50k samples against the whole training set, labels drawn from its label distribution)")
    sp.add_argument("--n", type=int, default=10000, help="generated samples / images taken from --images (default 10000)")
    sp.add_argument("--n-ref", type=int, default=0, help="reference images (default: --n)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--extractor", default="inception", help="features for fid/kid/pr/dc: inception, dinov2 (FD-DINOv2), "
                    "digits or mnist")
    sp.add_argument("--classifier", help="digits or mnist: classifier for modes and is (default: from the dataset)")
    sp.add_argument("--inception-weights", help="Inception weights file (.safetensors, pytorch-fid .pth or FID TorchScript .pt)")
    sp.add_argument("--feature-precision", default="exact", help="exact (float32, the default: final numbers) or fast "
                    "(the network under bf16 autocast; results stamped 'fast', never to be compared with exact ones)")
    sp.add_argument("--dinov2-weights", help="DINOv2 ViT-L/14 weights file dinov2_vitl14_pretrain.pth (or $GANKIT_DINOV2_WEIGHTS)")
    sp.add_argument("--lpips-trunk", help="AlexNet features .pth for LPIPS (or $GANKIT_LPIPS_TRUNK)")
    sp.add_argument("--lpips-pairs", type=int, default=1000)
    sp.add_argument("--kid-subsets", type=int, default=100)
    sp.add_argument("--kid-subset-size", type=int, default=1000)
    sp.add_argument("--data", help="path for a dataset named by --images (e.g. the MNIST folder), or with --run: "
                    "where the run's training set is now")
    sp.add_argument("--ref-data", help="path for a dataset named by --ref")
    sp.add_argument("--images-subdir", help="sub-folder of --images (e.g. train)")
    sp.add_argument("--ref-subdir", help="sub-folder of --ref (e.g. test)")
    sp.add_argument("--resolution", type=int, default=0, help="resize folder images to this side (default: their own)")
    sp.add_argument("--batch", type=int, default=100)
    sp.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    sp.add_argument("--raw", action="store_true", help="use the raw generator instead of the EMA one")
    sp.add_argument("--no-cache", action="store_true", help="do not read or write cached reference statistics")
    sp.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (its usage block is one `--help` away)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"gankit: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    from .presets import DEFAULT_PRESET
    from .recipe.command import DEFAULT_MINUTES

    p = _Parser(prog="gankit", description="Train and evaluate GANs (R3GAN by default). "
                                "--debug anywhere on the line shows an error's traceback.")
    sub = p.add_subparsers(dest="command", required=True)

    def add_config_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--preset", help=f"preset name (default {DEFAULT_PRESET}; with --data and no preset: a recipe "
                        "sized to the data and the machine); see `gankit presets`")
        sp.add_argument("--config", metavar="FILE", help="a TOML or JSON config (a run's config.json works) on top of the "
                        "preset; --set, --data and --kimg go on top of it")
        sp.add_argument("--data", help="dataset folder or file (sets data.path)")
        sp.add_argument("--kimg", type=float, help="run length in thousands of images (sets train.kimg)")
        sp.add_argument("--minutes", type=float, help=f"with --data and no --preset: size an R3GAN to your images and "
                        f"this many minutes on this machine (default {DEFAULT_MINUTES:g}; docs/your_data.md)")
        sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. train.batch=32")

    t = sub.add_parser("train", help="train a GAN (resumes the run in --out if it is the same run)")
    add_config_args(t)
    t.add_argument("--out", help="run directory (default runs/PRESET)")
    t.add_argument("--restart", action="store_true", help="start the run in --out over; its old files move to OUT/aside-<time>/")
    t.add_argument("--from-best", action="store_true", help="resume from checkpoints/best; the checkpoints after it move aside")
    t.set_defaults(fn=cmd_train)

    g = sub.add_parser("generate", help="sample a trained run's EMA generator into a PNG grid or .npz")
    g.add_argument("--run", required=True, help="run directory written by `gankit train`")
    g.add_argument("--n", type=int, default=64)
    g.add_argument("--out", required=True, help="FILE.png or FILE.npz")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--class", dest="cls", help="class index for conditional runs, or 'all': --n samples of every "
                   "class, one row per class")
    g.add_argument("--raw", action="store_true", help="use the raw generator instead of the EMA one")
    g.add_argument("--truncation", type=float, default=0.0, help="z truncation threshold: redraw |z_i| > T (BigGAN; 0: off)")
    g.add_argument("--psi", type=float, default=1.0, help="StyleGAN psi-truncation towards the mean w (1: off)")
    g.add_argument("--float", dest="floats", action="store_true",
                   help="with --out FILE.npz: G's float32 outputs as they are (no clamp, no uint8), e.g. to compare "
                        "with another implementation")
    g.set_defaults(fn=cmd_generate)

    e = sub.add_parser("eval", help="score a run's generator or a set of images: FID, KID, IS, P/R, D/C, modes, LPIPS diversity")
    add_eval_args(e)
    e.add_argument("--truncation", type=float, default=0.0, help="z truncation threshold: redraw |z_i| > T (BigGAN; 0: off)")
    e.add_argument("--psi", type=float, default=1.0, help="StyleGAN psi-truncation towards the mean w (1: off)")
    e.add_argument("--save-ref", help="also write the reference statistics to this .safetensors file")
    e.add_argument("--json", action="store_true", help="print one JSON object keyed by metric name")
    e.set_defaults(fn=cmd_eval)

    tr = sub.add_parser("truncation", help="sweep the truncation threshold (or psi) of a run's generator: a quality "
                        "metric against a diversity metric, as a table and a PNG")
    add_eval_args(tr)
    tr.add_argument("--values", default="2.0,1.5,1.0,0.75,0.5,0.25",
                    help="comma list of z thresholds (0: none), or of psi values with --psi-sweep")
    tr.add_argument("--psi-sweep", action="store_true", help="sweep StyleGAN's psi instead of the z threshold")
    tr.add_argument("--out", required=True, help="folder for truncation.json, truncation.csv and truncation.png")
    tr.set_defaults(fn=cmd_truncation)

    x = sub.add_parser("experiment", help="run a declared grid of runs (datasets x methods x hyperparameters x seeds), "
                       "resuming where it stopped, and tabulate mean +- std")
    x.add_argument("name", nargs="?", help="experiment name (see --list)")
    x.add_argument("--list", action="store_true", help="list the declared experiments")
    x.add_argument("--out", default="runs/experiments", help="root folder (default runs/experiments)")
    x.add_argument("--jobs", type=int, default=1, help="cells trained at once (default 1)")
    x.add_argument("--threads", type=int, default=1, help="torch threads per cell (default 1)")
    x.add_argument("--seeds", help="comma list of seeds instead of the experiment's (e.g. 42)")
    x.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key in every cell, e.g. data.path=...")
    x.add_argument("--only", help="comma list of dataset labels or method names: run only their cells (e.g. 32px)")
    x.add_argument("--collect-only", action="store_true", help="only rebuild the tables and plots from finished cells")
    x.set_defaults(fn=cmd_experiment)

    pl = sub.add_parser("plot", help="PNG plots of a run's losses, penalties, logit gap and metrics against kimg")
    pl.add_argument("run_dir", help="run directory written by `gankit train`")
    pl.add_argument("--out", help="folder for the PNGs (default RUN_DIR/plots)")
    pl.set_defaults(fn=cmd_plot)

    im = sub.add_parser("import", help="turn an authors' R3GAN network pickle into a gankit run, running none of its code")
    im.add_argument("pickle", help="network-snapshot-*.pkl of brownvc/R3GAN's training loop")
    im.add_argument("--out", required=True, help="new run directory")
    im.add_argument("--set", action="append", metavar="KEY=VALUE", help="the fine-tuning recipe, e.g. train.batch=64 "
                    "(the networks' shape comes from the pickle)")
    im.set_defaults(fn=cmd_import)

    ph = sub.add_parser("phema", help="rebuild a run's G_ema with any EMA length from its post-hoc EMA snapshots "
                        "(train.phema; Karras et al. 2024) as a new run that generate, eval and export take")
    ph.add_argument("run_dir", help="run directory trained with train.phema")
    ph.add_argument("--sigma-rel", type=float, required=True, help="relative EMA length, e.g. 0.08 (EDM2's range "
                    "0.01-0.25; within what the stored profiles span)")
    ph.add_argument("--out", help="new run directory (default RUN_DIR-phemaSIGMA)")
    ph.set_defaults(fn=cmd_phema)

    ex = sub.add_parser("export", help="write a run's EMA generator as ONNX or TorchScript (float32; class and psi "
                        "inputs where the generator has them)")
    ex.add_argument("--run", required=True, help="run directory written by `gankit train` or `gankit import`")
    ex.add_argument("--format", required=True, choices=["onnx", "torchscript"])
    ex.add_argument("--out", required=True, help="file to write (e.g. generator.onnx), with FILE.json describing it")
    ex.set_defaults(fn=cmd_export)

    rp = sub.add_parser("report", help="one self-contained HTML page for a run: info, config, metrics with their "
                        "protocol, curves, samples, events, best checkpoint")
    rp.add_argument("run_dir", help="run directory written by `gankit train`")
    rp.add_argument("--out", help="HTML file to write (default RUN_DIR/report.html)")
    rp.set_defaults(fn=cmd_report)

    sub.add_parser("presets", help="list the presets").set_defaults(fn=cmd_presets)

    d = sub.add_parser("describe", help="print a preset's resolved config and parameter counts")
    add_config_args(d)
    d.add_argument("--json", action="store_true")
    d.add_argument("--toml", action="store_true", help="print the resolved config as a TOML file for --config")
    d.set_defaults(fn=cmd_describe)
    return p


_WAYS_OUT = {errno.ENOSPC: "free space on that disk", errno.EDQUOT: "free space within your quota",
             errno.EROFS: "the folder is read-only: choose a writable one", errno.EACCES: "fix its permissions or "
             "choose another path", errno.EPERM: "fix its permissions or choose another path",
             errno.ENOENT: "check the path", errno.ENOTDIR: "a part of the path is a file: check the path",
             errno.EISDIR: "it is a folder: name a file", errno.ENAMETOOLONG: "shorten the path",
             errno.EEXIST: "a file is in the way where a folder is needed: choose another path"}


MAX_LINE = 1000  # characters of a message; a 20 MB config value is not echoed whole


def one_line(message: str) -> str:
    """A message as one line of at most about MAX_LINE characters (a long middle, e.g. an echoed value, elided)."""
    text = " ".join(part.strip() for part in message.splitlines() if part.strip())
    if len(text) <= MAX_LINE:
        return text
    cut = len(text) - MAX_LINE
    return f"{text[:MAX_LINE * 2 // 3]} [... {cut:,} characters left out ...] {text[-MAX_LINE // 3:]}"


def os_error_line(e: OSError, resumes: bool = False) -> str:
    """One line for an error of the machine (disk, permissions, path): the file, the cause and the way out; `resumes`
    (training) adds that the re-run starts from the last checkpoint."""
    where = f" {e.filename}" if e.filename else ""
    way = _WAYS_OUT.get(e.errno or -1, "fix the disk or permissions")
    return (f"cannot access{where} ({e.strerror or e}); {way}, then re-run the same command"
            + (" (a run resumes from its last checkpoint)" if resumes else ""))


def _one_line_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"gankit: warning: {one_line(str(message))}\n"


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning  # e.g. "skipped 3 images that failed to decode"
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # anywhere on the line: errors then show their traceback
    args = build_parser().parse_args([a for a in argv if a != "--debug"])
    try:
        return args.fn(args)
    except GankitError as e:
        if debug:
            raise
        print(f"gankit: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `gankit presets | head`
        return 0
    except OSError as e:  # a full disk, a read-only folder, a vanished file: the machine, not gankit
        if debug:
            raise
        print(f"gankit: error: {one_line(os_error_line(e, resumes=args.fn is cmd_train))}; --debug shows the traceback",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The `gankit` console script and `python -m gankit`: main(), then distributed.exit_process (see there)."""
    from .distributed import exit_process

    exit_process(main())


if __name__ == "__main__":
    entry()

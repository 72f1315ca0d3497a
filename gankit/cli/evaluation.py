"""The verbs that score: `gankit eval` and `gankit truncation`, sharing one setup of source, reference and options."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..errors import GankitError


def _eval_setup(args: argparse.Namespace):
    """(options, source(truncation, psi), reference) from the eval arguments; the reference defaults to a run's training set."""
    from ..eval.evaluate import METRICS, EvalOptions, generator_source, resolve_source
    from ..eval.protocols import PROTOCOLS, dataset_labels

    protocol = PROTOCOLS.get(args.protocol) if args.protocol else None  # an unknown name lists the valid ones
    if protocol is not None:
        if args.ref or args.n_ref or not args.run:
            raise GankitError(f"--protocol {args.protocol} fixes the samples and the reference (the run's whole training "
                              "set): use it with --run and without --ref/--n-ref, or pass --metrics/--n instead")
        args.metrics, args.n = protocol.metric, protocol.n_gen
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    for m in metrics:
        METRICS.get(m)  # an unknown name fails here, before any data is read
    from ..distributed import resolve_device

    for flag in ("n", "batch", "lpips_pairs", "kid_subsets", "kid_subset_size"):
        if getattr(args, flag) < 1:
            raise GankitError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.n_ref is not None and args.n_ref < 0:
        raise GankitError(f"--n-ref must be at least 1 (or left out: the same as --n), got {args.n_ref}")
    device = str(resolve_device(args.device or "auto"))
    from ..eval.metrics.extractors import FEATURE_PRECISIONS

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
    from ..data import build_dataset
    from ..eval.evaluate import CLASSIFIED_SETS, dataset_source, needs_reference
    from ..run import load_generator, load_run_config

    cfg = load_run_config(Path(args.run))
    if args.data:  # the run's training set, moved (or, for an imported run, never recorded)
        cfg.data.path = args.data
    G = load_generator(args.run, which="G" if args.raw else "G_ema", device=device, checkpoint=args.checkpoint)
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
    describe = {"kind": "generator", "run": str(args.run), "network": "G" if args.raw else "G_ema", **G.snapshot,
                "seed": args.seed}
    if G.num_classes:
        describe["labels"] = labels

    def make_src(truncation: float = 0.0, psi: float = 1.0):
        try:
            return generator_source(G, args.n, args.seed, dataset, cfg.data.name, describe, truncation, psi, classes)
        except ValueError as e:
            raise GankitError(str(e)) from None

    return opts, make_src, ref


def cmd_eval(args: argparse.Namespace) -> int:
    from ..eval.evaluate import evaluate

    if not args.run and (args.truncation or args.psi != 1):
        raise GankitError("--truncation and --psi sample a generator: use them with --run, not --images")
    from ..sampling import check_truncation
    try:
        check_truncation(args.truncation)  # refused before the reference is read (its progress line would come first)
    except ValueError as e:
        raise GankitError(str(e)) from None
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
    from ..eval.truncation import sweep, write_sweep

    if not args.run:
        raise GankitError("gankit truncation samples a generator: pass --run RUN_DIR, not --images")
    try:
        values = [float(v) for v in args.values.split(",") if v.strip()]
    except ValueError:
        raise GankitError(f"--values takes a comma list of numbers, got '{args.values}'") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise GankitError(f"--values takes a comma list of finite numbers, got '{args.values}'")
    opts, make_src, ref = _eval_setup(args)
    rows = sweep(make_src, ref, opts, values, "psi" if args.psi_sweep else "truncation")
    for path in write_sweep(rows, Path(args.out), opts.metrics):
        print(f"wrote {path}")
    return 0


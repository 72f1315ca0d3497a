"""The `gankit` command line: train, generate, presets, describe."""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from .errors import GankitError


def _config(args: argparse.Namespace):
    from .config import parse_set
    from .presets import resolve

    overrides = parse_set(args.set or [])
    if getattr(args, "data", None):
        overrides["data.path"] = args.data
    if getattr(args, "kimg", None) is not None:
        overrides["train.kimg"] = args.kimg
    return resolve(args.preset, overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    cfg = _config(args)
    out = Path(args.out) if args.out else Path("runs") / cfg.preset
    run_dir = train(cfg, out)
    print(f"run directory: {run_dir}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .run import load_generator
    from .sampling import generate, save_samples, to_uint8

    out = Path(args.out)
    if args.n < 1:
        raise GankitError("--n must be at least 1")
    if out.suffix.lower() not in (".png", ".npz"):
        raise GankitError(f"--out {out} must end in .png (a grid) or .npz (an array of samples)")
    if not out.parent.is_dir():
        raise GankitError(f"--out {out}: folder {out.parent} does not exist; create it first")
    G = load_generator(args.run, which="G" if args.raw else "G_ema")
    classes = None
    if args.cls is not None:
        if not G.num_classes:
            raise GankitError(f"--class given but the run {args.run} is unconditional; drop --class")
        if not 0 <= args.cls < G.num_classes:
            raise GankitError(f"--class {args.cls} is outside 0..{G.num_classes - 1}")
        classes = torch.full((args.n,), args.cls, dtype=torch.long)
    samples = generate(G, args.n, seed=args.seed, classes=classes)
    if out.suffix.lower() == ".npz":
        np.savez(out, samples=to_uint8(samples).numpy() if samples.ndim == 4 else samples.numpy())
    else:
        save_samples(samples, out)
    print(f"wrote {args.n} samples to {out}")
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


def cmd_describe(args: argparse.Namespace) -> int:
    from .data import build_dataset, nominal_shape
    from .networks import build_networks, count_params

    cfg = _config(args)
    try:
        ds = build_dataset(cfg.data)
        shape, classes = ds.shape, ds.num_classes
    except GankitError:  # data not at hand (e.g. no --data): shape from the config alone
        shape, classes = nominal_shape(cfg.data), cfg.data.classes
    if cfg.model.cond and not classes:
        raise GankitError(f"preset {cfg.preset} is conditional: pass --data or --set data.classes=N")
    with torch.device("meta"):  # count parameters without allocating them
        G, D = build_networks(cfg.model, shape, classes if cfg.model.cond else 0)
    info = {"preset": cfg.preset, "config": cfg.to_dict(), "data_shape": list(shape),
            "num_classes": classes if cfg.model.cond else 0, "g_params": count_params(G), "d_params": count_params(D)}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{cfg.preset}: G {info['g_params'] / 1e6:.2f}M params, D {info['d_params'] / 1e6:.2f}M params, "
              f"data {cfg.data.name} {tuple(shape)}")
        print(cfg.to_json())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .presets import DEFAULT_PRESET

    p = argparse.ArgumentParser(prog="gankit", description="Train and evaluate GANs (R3GAN by default).")
    sub = p.add_subparsers(dest="command", required=True)

    def add_config_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--preset", default=DEFAULT_PRESET, help=f"preset name (default {DEFAULT_PRESET}); see `gankit presets`")
        sp.add_argument("--data", help="dataset folder or file (sets data.path)")
        sp.add_argument("--kimg", type=float, help="run length in thousands of images (sets train.kimg)")
        sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. train.batch=32")

    t = sub.add_parser("train", help="train a GAN (resumes the run in --out if it is the same run)")
    add_config_args(t)
    t.add_argument("--out", help="run directory (default runs/PRESET)")
    t.set_defaults(fn=cmd_train)

    g = sub.add_parser("generate", help="sample a trained run's EMA generator into a PNG grid or .npz")
    g.add_argument("--run", required=True, help="run directory written by `gankit train`")
    g.add_argument("--n", type=int, default=64)
    g.add_argument("--out", required=True, help="FILE.png or FILE.npz")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--class", dest="cls", type=int, help="class index for conditional runs")
    g.add_argument("--raw", action="store_true", help="use the raw generator instead of the EMA one")
    g.set_defaults(fn=cmd_generate)

    sub.add_parser("presets", help="list the presets").set_defaults(fn=cmd_presets)

    d = sub.add_parser("describe", help="print a preset's resolved config and parameter counts")
    add_config_args(d)
    d.add_argument("--json", action="store_true")
    d.set_defaults(fn=cmd_describe)
    return p


def _one_line_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"gankit: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning  # e.g. "skipped 3 images that failed to decode"
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except GankitError as e:
        print(f"gankit: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `gankit presets | head`
        return 0
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

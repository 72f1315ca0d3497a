"""The command line's grammar: every verb, its options and the function that runs it."""
from __future__ import annotations

import argparse

from .commands import (cmd_describe, cmd_experiment, cmd_export, cmd_generate, cmd_import, cmd_phema, cmd_plot,
                       cmd_presets, cmd_report, cmd_train)
from .evaluation import cmd_eval, cmd_truncation


def add_checkpoint_arg(sp: argparse.ArgumentParser) -> None:
    """--checkpoint, for the verbs that sample a run's generator."""
    sp.add_argument("--checkpoint", default="latest", help="with --run: which snapshot, latest (default), best (the best "
                    "in-loop metric) or a name in RUN/checkpoints, e.g. ckpt-000386944")


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
    add_checkpoint_arg(sp)
    sp.add_argument("--no-cache", action="store_true", help="do not read or write cached reference statistics")
    sp.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (its usage block is one `--help` away)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"gankit: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    from ..presets import DEFAULT_PRESET
    from ..recipe.command import DEFAULT_MINUTES

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
    add_checkpoint_arg(g)
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
                        "inputs where the generator has them), or as a slim run folder (G_ema alone) to share")
    ex.add_argument("--run", required=True, help="run directory written by `gankit train` or `gankit import`")
    ex.add_argument("--format", required=True, choices=["onnx", "torchscript", "run"])
    ex.add_argument("--out", required=True, help="file to write (e.g. generator.onnx), with FILE.json describing it; "
                    "for --format run, a new folder")
    add_checkpoint_arg(ex)
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


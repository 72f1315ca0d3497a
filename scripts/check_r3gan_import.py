"""Check `gankit import` against the authors' own code: build their networks (brownvc/R3GAN, pure-PyTorch paths on
the CPU), pickle a snapshot exactly as their training loop does, import it in a separate process that has no access
to their code, and compare G_ema's images and D's logits with theirs on the same inputs.

    R3GAN_SRC=/path/to/R3GAN python scripts/check_r3gan_import.py [--cond]

R3GAN_SRC is a checkout of https://github.com/brownvc/R3GAN; none of it enters gankit. To check a real published
checkpoint, import it (`gankit import network-snapshot.pkl --out RUN`), then load the same pickle with their
`legacy.load_network_pkl` in their environment and compare `G_ema(z, c)` with `gankit.run.load_generator(RUN)(z, c)`
the same way as below. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gankit.sampling import latents  # noqa: E402  (z as `gankit generate` draws it)


def authors_modules(src: Path):
    """Their Generator and Discriminator wrappers and dnnlib (their code needs pkg_resources.parse_version)."""
    if "pkg_resources" not in sys.modules:  # removed from recent setuptools; their conv2d_gradfix imports it
        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)
    sys.path.insert(0, str(src))
    import dnnlib
    import training.networks as networks

    return networks, dnnlib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cond", action="store_true", help="a class-conditional pair (10 classes)")
    args = ap.parse_args()
    src = os.environ.get("R3GAN_SRC")
    if not src or not Path(src, "R3GAN", "Networks.py").is_file():
        raise SystemExit("set R3GAN_SRC to a checkout of https://github.com/brownvc/R3GAN")
    networks, dnnlib = authors_modules(Path(src))
    c_dim, res, z_dim = (10 if args.cond else 0), 16, 16
    widths, card, blocks = [32, 32, 32], [4, 4, 4], [2, 2, 2]  # 32+ wide: precision=auto alone would pick bf16 here
    fp16: list[int] = []  # float32 everywhere: their bf16 stages (FP16Stages) do not run on the CPU
    torch.manual_seed(0)
    kw = dict(c_dim=c_dim, img_resolution=res, FP16Stages=fp16)
    cond_g = {"ConditionEmbeddingDimension": z_dim} if args.cond else {}
    cond_d = {"ConditionEmbeddingDimension": widths[0]} if args.cond else {}
    G = networks.Generator(NoiseDimension=z_dim, WidthPerStage=widths, CardinalityPerStage=card, BlocksPerStage=blocks,
                           ExpansionFactor=2, **cond_g, **kw)
    D = networks.Discriminator(WidthPerStage=widths[::-1], CardinalityPerStage=card[::-1], BlocksPerStage=blocks[::-1],
                               ExpansionFactor=2, **cond_d, **kw)
    with torch.no_grad():  # random weights everywhere (their init zeroes each block's last conv): a misplaced tensor shows
        for m in (G, D):
            for p in m.parameters():
                p.copy_(torch.randn_like(p) * 0.2)
    G_ema = pickle.loads(pickle.dumps(G)).eval()  # their loop: copy.deepcopy(G).eval(), then pickled with plain pickle
    n, seed = 8, 5
    z = latents(n, z_dim, seed)  # what `gankit generate --seed 5` draws; classes 0, 1, 2, ... as it cycles them
    c = torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float() if args.cond else torch.zeros(n, 0)
    with torch.no_grad():  # a trained G's images lie in about [-1, 1]: scale the last 1x1 convolution to that
        layer = G_ema.Model.AggregationLayer.Layer
        layer.weight.div_(G_ema(z, c).float().abs().max())
        G.load_state_dict(G_ema.state_dict())
        img = G_ema(z, c).float()
        logits = D(img, c).float()
    snap = dict(G=G, D=D, G_ema=G_ema, training_set_kwargs=dnnlib.EasyDict(path="data.zip", resolution=res), cur_nimg=4096)
    with tempfile.TemporaryDirectory() as tmp:
        pkl, run = Path(tmp) / "network-snapshot.pkl", Path(tmp) / "run"
        pkl.write_bytes(pickle.dumps(snap))
        torch.save({"z": z, "c": c, "img": img}, Path(tmp) / "inputs.pt")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the import sees gankit only
        subprocess.run([sys.executable, "-m", "gankit", "import", str(pkl), "--out", str(run)], check=True, env=env,
                       cwd=ROOT)
        npz = Path(tmp) / "samples.npz"  # the images through the real CLI, as float32
        subprocess.run([sys.executable, "-m", "gankit", "generate", "--run", str(run), "--n", str(n), "--seed", str(seed),
                        "--float", "--out", str(npz)], check=True, env=env, cwd=ROOT)
        generated = torch.from_numpy(np.load(npz)["samples"])
        code = ("import json, sys, torch\n"
                "from gankit.run import load_generator, load_run_config\n"
                "from gankit.checkpoint import list_checkpoints, load_checkpoint\n"
                "from gankit.networks import build_networks\n"
                f"d = torch.load({str(Path(tmp) / 'inputs.pt')!r})\n"
                f"run = {str(run)!r}\n"
                "G = load_generator(run)\n"
                "states, meta = load_checkpoint(list_checkpoints(run)[-1])\n"
                "_, D = build_networks(load_run_config(run).model, tuple(meta['data_shape']), meta['num_classes'])\n"
                "D.load_state_dict(states['D']); D.eval()\n"
                "c = d['c'] if d['c'].shape[1] else None\n"
                "with torch.no_grad():\n"
                "    img = G(d['z'], c).float(); logits = D(d['img'], c).float()\n"
                "print(json.dumps({'img': img.tolist(), 'logits': logits.tolist(), 'modules': sorted(m for m in sys.modules if m.split('.')[0] in ('R3GAN', 'training', 'dnnlib', 'torch_utils'))}))\n")
        out = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env,
                                        cwd=ROOT).stdout)
    ours_img, ours_logits = torch.tensor(out["img"]), torch.tensor(out["logits"])
    print(json.dumps({"cond": args.cond, "img_max_abs_diff": (ours_img - img).abs().max().item(),
                      "generate_max_abs_diff": (generated - img).abs().max().item(), "generate_dtype": str(generated.dtype),
                      "img_scale": img.abs().max().item(), "logits_max_abs_diff": (ours_logits - logits).abs().max().item(),
                      "logits_scale": logits.abs().max().item(), "authors_modules_in_the_importing_process": out["modules"]}))


if __name__ == "__main__":
    main()

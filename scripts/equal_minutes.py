"""Real images per second of each arm's full training step here, and the run length (kimg) that fills M minutes.

    python scripts/equal_minutes.py --minutes 60 --threads 1 --preset dcgan-cifar10 --preset sngan-cifar10 \\
        --preset biggan-cifar10 --config runs/cifar10/config.json

With --target-images N each arm's widths (G's and D's) are halved from its paper's until it shows N real images in
the minutes (gankit.recipe.size.fit_widths, the recipe's rule for R3GAN applied to any architecture); the line then
gives the widths the study declares.

Each arm is timed with the recipe's own timer (gankit.recipe.measure.images_per_second: the loop's train_step on
random images of the arm's shape, 10 classes where the arm is conditional) over --steps steps after one untimed
step. Prints one JSON line per arm; the study declares the kimg it prints, so every arm trains for the same minutes.
"""
from __future__ import annotations

import argparse
import json

from gankit.config import Config, apply_overrides, parse_set
from gankit.config_files import read_config_file
from gankit.presets import resolve
from gankit.recipe.measure import images_per_second
from gankit.recipe.size import fit_widths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--preset", action="append", default=[])
    ap.add_argument("--config", action="append", default=[], help="a run's config.json (e.g. a recipe run)")
    ap.add_argument("--target-images", type=float, default=0, help="size each arm's widths to show this many images")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for every arm")
    args = ap.parse_args()
    sets = {**parse_set(args.set), "train.threads": args.threads}
    arms: list[tuple[str, Config]] = [(p, resolve(p, sets)) for p in args.preset]
    for path in args.config:
        preset, overrides = read_config_file(path)
        arms.append((path, apply_overrides(Config(preset=preset), {**overrides, **sets})))
    seconds = args.minutes * 60
    for name, cfg in arms:
        if args.target_images:
            fit = fit_widths(cfg, seconds, args.target_images, lambda c: images_per_second(c, args.classes, args.steps))
            cfg, rate = fit.cfg, fit.img_per_s
            extra = {"divisor": fit.divisor, "widths": cfg.model.widths, "widths_d": cfg.model.widths_d,
                     "groups": cfg.model.groups if cfg.model.arch == "r3gan" else None,
                     "tried": [[d, round(v, 2)] for d, v in fit.tried]}
        else:
            rate, extra = images_per_second(cfg, args.classes, steps=args.steps), {}
        print(json.dumps({"arm": name, "threads": args.threads, "batch": cfg.train.batch, "img_per_s": round(rate, 2),
                          "kimg": round(rate * seconds / 1000, 1), **extra}), flush=True)


if __name__ == "__main__":
    main()

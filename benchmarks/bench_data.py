"""Input pipeline speed: img/s of gankit's loader on CIFAR-10 held in memory, streamed from a JPEG folder and from a
zip, at 32, 64 and 256 pixels; then the share of a real training step spent waiting for data, with and without
the prefetch thread.

    python benchmarks/bench_data.py [--cifar PATH.tar.gz] [--n 5000] [--batch 256] [--seconds 8]

The sets are built once under --work from the CIFAR-10 JPEG tarball (../shared/data): the first --n training
images, as they are at 32 px (the original JPEG bytes) and resized with PIL bicubic and saved as JPEG
(quality 90) at 64 and 256 px, each as a folder and as a zip. The loader is gankit's InfiniteLoader as training
uses it (decode, uint8 -> float, x-flip). Prints one JSON line per measurement and a markdown table.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gankit.data import InfiniteLoader, build_dataset  # noqa: E402
from gankit.data.base import DataConfig  # noqa: E402

CIFAR = ROOT.parent / "shared/data/cifar10-jpeg/cifar10-jpeg-q75_YoongiKim-CIFAR-10-images_6d04f75e.tar.gz"
AUTHORS_IMG_S = 720  # the authors' CIFAR-10 run: about 250M images in about 4 days on 8 GPUs


def build_sets(tarball: Path, work: Path, n: int) -> dict[int, Path]:
    """{resolution: folder} with n training images per resolution, each beside a .zip of it (built once)."""
    from PIL import Image

    out = {r: work / f"jpeg{r}" for r in (32, 64, 256)}
    if all((p / ".done").exists() and p.with_suffix(".zip").exists() for p in out.values()):
        return out
    with tarfile.open(tarball) as t:
        members = sorted((m for m in t.getmembers() if m.isfile() and "/train/" in f"/{m.name}" and m.name.endswith(".jpg")),
                         key=lambda m: m.name)[:n]
        blobs = [(m.name.split("/")[-2], Path(m.name).name, t.extractfile(m).read()) for m in members]
    for r, folder in out.items():
        for cls, name, data in blobs:
            (folder / cls).mkdir(parents=True, exist_ok=True)
            if r == 32:
                (folder / cls / name).write_bytes(data)
            else:
                with Image.open(io.BytesIO(data)) as im:
                    im.convert("RGB").resize((r, r), Image.BICUBIC).save(folder / cls / name, quality=90)
        with zipfile.ZipFile(folder.with_suffix(".zip"), "w", zipfile.ZIP_STORED) as z:
            for f in sorted(folder.rglob("*.jpg")):
                z.write(f, f.relative_to(folder).as_posix())
        (folder / ".done").write_text("")
    return out


def loader_rate(path: Path, resolution: int, in_memory: bool, batch: int, seconds: float) -> dict:
    """Opening time and img/s of batches from gankit's loader (decode, to float, x-flip), one process."""
    t0 = time.perf_counter()
    ds = build_dataset(DataConfig(name="folder", path=str(path), resolution=resolution,
                                  in_memory="yes" if in_memory else "no"))
    opened = time.perf_counter() - t0
    loader = InfiniteLoader(ds, batch, seed=0, xflip=True)
    next(loader)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += next(loader)[0].shape[0]
    return {"images": len(ds), "open_s": round(opened, 2), "img_per_s": round(n / (time.perf_counter() - t0), 1)}


def step_wait(path: Path, prefetch: int, kimg: float, out: Path) -> dict:
    """A real `gankit train` (an R3GAN at 64 px, widths 64/64/32/16/16, batch 32) on the streamed folder: its logged
    data_wait (share of wall time waiting for batches) and img/s, medians over the log lines after the first."""
    cmd = [sys.executable, "-m", "gankit", "train", "--preset", "r3gan-digits", "--data", str(path), "--kimg", str(kimg),
           "--out", str(out), "--set", "data.name=folder", "--set", "data.resolution=64", "--set", "data.xflip=true",
           "--set", "model.widths=64,64,32,16,16", "--set", "model.groups=8,8,4,2,2", "--set", "train.metrics=none",
           "--set", "train.tensorboard=false", "--set", f"train.prefetch={prefetch}", "--set", "train.log_kimg=0.32"]
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    log = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    lines = [r for r in log if "data_wait" in r][1:]

    def median(k: str) -> float:
        v = sorted(r[k] for r in lines)
        return round(v[len(v) // 2], 4)

    return {"data_wait": median("data_wait"), "img_per_s": median("img_per_s"), "log_lines": len(lines)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cifar", type=Path, default=CIFAR, help="the CIFAR-10 JPEG tarball")
    ap.add_argument("--work", type=Path, default=Path("/tmp/gankit-bench-data"))
    ap.add_argument("--n", type=int, default=5000, help="training images per set")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--step-kimg", type=float, default=3.2, help="images of each training run for the waiting share")
    args = ap.parse_args()
    if not args.cifar.is_file():
        sys.exit(f"bench_data: {args.cifar} is missing; pass --cifar PATH (the CIFAR-10 JPEG tarball of ../shared/data)")
    sets = build_sets(args.cifar, args.work, args.n)
    rows = []
    for r, folder in sets.items():
        for layout, path, mem in (("in memory", folder, True), ("streamed folder", folder, False),
                                  ("zip", folder.with_suffix(".zip"), False)):
            rec = {"resolution": r, "layout": layout, "batch": args.batch,
                   **loader_rate(path, r, mem, args.batch, args.seconds)}
            print(json.dumps(rec), flush=True)
            rows.append(rec)
    waits = []
    for prefetch in (0, 2):
        rec = {"prefetch": prefetch, **step_wait(sets[64], prefetch, args.step_kimg, args.work / f"run-prefetch{prefetch}")}
        print(json.dumps(rec), flush=True)
        waits.append(rec)
    print(f"\n| layout | 32 px img/s | 64 px img/s | 256 px img/s |  (batch {args.batch}, {args.n} images, "
          f"{os.cpu_count()} CPUs; the authors' CIFAR-10 rate: {AUTHORS_IMG_S} img/s)\n|---|---|---|---|")
    for layout in ("in memory", "streamed folder", "zip"):
        print(f"| {layout} | " + " | ".join(f"{x['img_per_s']:.0f}" for x in rows if x["layout"] == layout) + " |")
    print("\n| training step, streamed 64 px folder | share of wall time waiting for data | img/s |\n|---|---|---|")
    for w in waits:
        print(f"| prefetch {w['prefetch']} | {w['data_wait']:.1%} | {w['img_per_s']:.0f} |")


if __name__ == "__main__":
    main()

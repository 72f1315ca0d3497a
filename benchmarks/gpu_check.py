"""One prepared GPU check: step speed, input pipeline, a real training run, FID timing and DDP, in one command.

    python benchmarks/gpu_check.py --prepare                 # here: the data and Inception weights into .gpu_check/
    bash benchmarks/gpu_check.sh --out $OUT                  # there: every stage, within --budget seconds
    bash benchmarks/gpu_check.sh --dry-run --out /tmp/gc     # every stage at toy size on the CPU

Each stage runs in its own process under its own time limit, so one that fails or runs out is recorded as
such and the rest still run. Writes OUT/gpu_check.json (every stage's record) and OUT/gpu_check.md (the table
for docs/benchmarks.md). The Inception weights (87 MB) exceed what one device call carries (64 MiB with the
tree), so --prepare splits them in two: carry `.gpu_check/w1` in a first call (any command), then
`.gpu_check/w2` and `.gpu_check/data` in the second, which runs the check; the parts are joined and checked
against the sha256 recorded by --prepare.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gankit.eval.metrics.inception import CACHE_FILE  # noqa: E402
PREP = ROOT / ".gpu_check"
CIFAR = ROOT.parent / "shared/data/cifar10-jpeg/cifar10-jpeg-q75_YoongiKim-CIFAR-10-images_6d04f75e.tar.gz"
CALL_BYTES = 64 * 2**20  # what one device call carries: the working tree and the carried paths
AUTHORS_CIFAR_IMG_S = 720  # the authors' CIFAR-10 run: about 250M images in about 4 days on 8 GPUs
TINY = ["--set", "model.widths=16,16,16,16", "--set", "model.groups=2,2,2,2"]  # r3gan-cifar10 at toy width


# --------------------------------------------------------------------------- preparing the carried files


def split_weights(weights: Path, dest: Path, first_max: int | None = None) -> None:
    """Weights as two safetensors parts and the whole file's sha256. dest/w1 takes tensors (in name order, skipping
    any that would overflow) up to `first_max` bytes, by default 62% of the whole; dest/w2 the rest, beside the data."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    state = load_file(str(weights))
    with safe_open(str(weights), "pt") as f:
        metadata = f.metadata() or {}
    nbytes = {k: t.numel() * t.element_size() for k, t in state.items()}
    first_max = int(sum(nbytes.values()) * 0.62) if first_max is None else first_max
    w1: list[str] = []
    for k in sorted(state):
        if sum(nbytes[n] for n in w1) + nbytes[k] <= first_max:
            w1.append(k)
    for sub, part in (("w1", w1), ("w2", sorted(set(state) - set(w1)))):
        (dest / sub).mkdir(parents=True, exist_ok=True)
        save_file({k: state[k] for k in part}, str(dest / sub / "inception.safetensors"))
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    (dest / "w2" / "inception.json").write_text(json.dumps({"sha256_of_joined": sha, "metadata": metadata}))


def tree_bytes() -> int:
    """Bytes of the working tree that travels with every device call: tracked and untracked-but-not-ignored files."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.split(b"\0")
    return sum((ROOT / n.decode()).stat().st_size for n in names if n and (ROOT / n.decode()).is_file())


def join_weights(src: Path, target: Path) -> str:
    """The two parts joined into `target`; '' when it equals the prepared file byte for byte, else why not."""
    from safetensors.torch import load_file, save_file

    parts = [src / "w1" / "inception.safetensors", src / "w2" / "inception.safetensors"]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        return f"Inception weights incomplete ({', '.join(missing)} missing): carry .gpu_check/w1 in the call before"
    state = {**load_file(str(parts[0])), **load_file(str(parts[1]))}
    info = json.loads((src / "w2" / "inception.json").read_text())
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(target), metadata=info["metadata"] or None)
    want = info["sha256_of_joined"]
    got = hashlib.sha256(target.read_bytes()).hexdigest()
    if got != want:
        target.unlink()
        return f"joined Inception weights differ from the prepared ones (sha256 {got[:12]} != {want[:12]})"
    return ""


def prepare() -> None:
    """Here: CIFAR-10 (the shared JPEG tarball) and gankit's Inception safetensors split in two, into .gpu_check/."""
    from gankit.eval.metrics.inception import locate_weights

    if not CIFAR.is_file():
        sys.exit(f"gpu_check: {CIFAR} is missing; it comes from ../shared/data (see its README)")
    tree, slack = tree_bytes(), 2**20
    split_weights(locate_weights(), PREP, first_max=CALL_BYTES - tree - slack)
    (PREP / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(CIFAR, PREP / "data" / "cifar10.tar.gz")
    size = {p: sum(f.stat().st_size for f in (PREP / p).rglob("*") if f.is_file()) for p in ("w1", "w2", "data")}
    calls = {"call 1 (tree + w1)": tree + size["w1"], "call 2 (tree + w2 + data)": tree + size["w2"] + size["data"]}
    for name, b in calls.items():
        print(f"{name}: {b / 2**20:.1f} MiB of {CALL_BYTES / 2**20:.0f}")
    if max(calls.values()) > CALL_BYTES:
        sys.exit("gpu_check: the working tree is too large for the two calls; move untracked files out of the checkout")
    for p in sorted(PREP.rglob("*")):
        if p.is_file():
            print(f"{p.relative_to(ROOT)}  {p.stat().st_size / 1e6:.1f} MB")


# --------------------------------------------------------------------------- stages (each in its own process)


def stage_env() -> dict:
    import torch

    out = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": sys.version.split()[0],
           "cpus": os.cpu_count(), "gpus": torch.cuda.device_count()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        out.update(device=p.name, memory_gib=round(p.total_memory / 2**30, 1), sms=p.multi_processor_count)
    else:
        out["device"] = "cpu"
    return out


def stage_data(data: str, batch: int, seconds: float, dry: bool) -> dict:
    """The input pipeline as the loop uses it: decode, uint8 -> float, x-flip, copy to the device."""
    import torch

    from gankit.data import InfiniteLoader, build_dataset
    from gankit.presets import resolve

    cfg = resolve("r3gan-cifar10", {"data.path": data, **({} if dry else {"data.subdir": "train"})})
    t0 = time.perf_counter()
    ds = build_dataset(cfg.data)
    opened = time.perf_counter() - t0
    loader = InfiniteLoader(ds, batch, seed=0, xflip=True)
    device = torch.device("cuda" if torch.cuda.is_available() and not dry else "cpu")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n == 0:
        x, _ = next(loader)
        x = x.to(device, non_blocking=True)
        n += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"images": len(ds), "open_s": round(opened, 2), "batch": batch, "img_per_s": round(n / dt, 1),
            "authors_cifar_img_per_s": AUTHORS_CIFAR_IMG_S, "device": device.type}


# --------------------------------------------------------------------------- the orchestrator


class Check:
    """Runs stages as subprocesses under one time budget; keeps every record."""

    def __init__(self, out: Path, budget: float, dry: bool, skip: set[str]) -> None:
        self.out, self.budget, self.dry, self.skip, self.t0 = out, budget, dry, skip, time.time()
        self.records: list[dict] = []
        self.env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                    "PYTHONUNBUFFERED": "1", "GANKIT_CACHE": str(out / "cache")}
        if dry:
            self.env["CUDA_VISIBLE_DEVICES"] = ""

    def left(self) -> float:
        return self.budget - (time.time() - self.t0)

    def run(self, stage: str, config: str, cmd: list[str], limit: float) -> tuple[dict, str]:
        """One subprocess; its last JSON line (if any) becomes the record's fields; returns (record, stdout)."""
        rec: dict = {"stage": stage, "config": config}
        limit = min(limit, self.left())
        if stage in self.skip or ("compile" in self.skip and "compile" in config):
            rec.update(status="skipped", why="--skip")
            self.records.append(rec)
            return rec, ""
        if limit < 10:
            rec.update(status="skipped", why="budget spent")
            self.records.append(rec)
            return rec, ""
        t0 = time.time()
        try:
            p = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=limit)
            out, rc = p.stdout, p.returncode
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            rec.update(status="timeout", seconds=round(time.time() - t0, 1), limit_s=round(limit))
            self.records.append(rec)
            return rec, out
        rec["seconds"] = round(time.time() - t0, 1)
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        if rc == 0:
            rec["status"] = "ok"
            if lines:
                try:
                    rec.update(json.loads(lines[-1]))
                except json.JSONDecodeError:
                    pass
        else:
            err = [ln for ln in (p.stderr.strip() or out.strip()).splitlines() if ln.strip() and set(ln.strip()) != {"="}]
            key = [ln for ln in err if "Error" in ln or "error:" in ln]  # the exception line, not torchrun's banner
            rec.update(status="failed", rc=rc, error=(key or err or [""])[-1][:300])
            (self.out / f"{stage}-failed.log").write_text(p.stdout + p.stderr)
        self.records.append(rec)
        print(f"gpu_check: {stage:6s} {config:34s} {rec['status']:8s} {rec.get('seconds', 0):7.1f} s", flush=True)
        return rec, out

    def write(self) -> None:
        (self.out / "gpu_check.json").write_text(json.dumps(self.records, indent=1))
        (self.out / "gpu_check.md").write_text(table(self.records))


def table(records: list[dict]) -> str:
    """The markdown for docs/benchmarks.md: one row per stage and configuration."""
    rows = ["| stage | configuration | status | seconds | result |", "|---|---|---|---|---|"]
    for r in records:
        if r["stage"] == "step" and r["status"] == "ok":
            res = (f"{r['ms_per_step']:.0f} ms/step, {r['img_per_s']:.0f} img/s, {r['achieved_tflops']:.1f} TFLOP/s"
                   + (f", {r['share_of_bf16_peak']:.1%} of bf16 peak, {r['peak_mem_gib']:.1f} GiB" if "peak_mem_gib" in r else ""))
        elif r["stage"] == "data" and r["status"] == "ok":
            res = f"{r['img_per_s']:.0f} img/s at batch {r['batch']} ({r['images']} images; the authors' rate {r['authors_cifar_img_per_s']})"
        elif r["stage"] == "train" and r["status"] == "ok":
            res = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()
                            if k in ("kimg", "img_per_s", "fid", "precision"))
        elif r["stage"] == "fid" and r["status"] == "ok":
            res = f"FID {r['fid']:.3f}; seconds " + ", ".join(f"{k} {v:.1f}" for k, v in r["seconds_by_part"].items())
        elif r["stage"] == "env":
            res = ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("stage", "config", "status", "seconds"))
        else:
            res = r.get("why") or r.get("error", "")
        rows.append(f"| {r['stage']} | {r['config']} | {r['status']} | {r.get('seconds', '')} | {res} |")
    return "\n".join(rows) + "\n"


def toy_folder(path: Path) -> Path:
    """64 random 32x32 PNGs in ten class folders: a real image folder for the dry run."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(64):
        d = path / f"c{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(d / f"{i:03d}.png")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu_check_out"))
    ap.add_argument("--data", help="CIFAR-10: a tarball or folder with train/ (default .gpu_check/data/cifar10.tar.gz)")
    ap.add_argument("--budget", type=float, default=0, help="seconds for all stages together (default 450, dry run 900)")
    ap.add_argument("--dry-run", action="store_true", help="every stage at toy size on the CPU")
    ap.add_argument("--prepare", action="store_true", help="write .gpu_check/ here (data and split Inception weights)")
    ap.add_argument("--skip", default="", help="comma list of stages (env, data, step, train, fid, ddp) or 'compile'")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--arg", action="append", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.prepare:
        return prepare()
    if args.stage:  # a child process: print one JSON line
        kw = json.loads(args.arg[0]) if args.arg else {}
        print(json.dumps({"env": stage_env, "data": stage_data}[args.stage](**kw)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    chk = Check(args.out, args.budget or (900 if args.dry_run else 450), args.dry_run, set(args.skip.split(",")) - {""})
    dry = args.dry_run
    data = args.data or str(toy_folder(args.out / "toy-data") if dry else PREP / "data" / "cifar10.tar.gz")
    py, me = sys.executable, str(Path(__file__).resolve())
    gk = [py, "-m", "gankit"]

    chk.run("env", "versions and device", [py, me, "--stage", "env"], 60)
    if not dry and chk.records[-1].get("device") == "cpu":
        print("gpu_check: no CUDA device visible; use --dry-run to try the stages on the CPU", file=sys.stderr)

    # 1. the input pipeline on the real CIFAR-10 tree
    chk.run("data", "toy folder, batch 32" if dry else "CIFAR-10 JPEG tarball, batch 512", [py, me, "--stage", "data", "--arg",
            json.dumps({"data": data, "batch": 32 if dry else 512, "seconds": 2 if dry else 15, "dry": dry})], 90)

    # 2. the training step of r3gan-cifar10, as the authors' numerics (float32, TF32 off) and bf16; the compiled
    # configurations run after the FIDs (step 4), so a short budget spends itself on the eager figures
    step = [py, "benchmarks/bench_step.py", "--preset", "r3gan-cifar10", "--channels-last"] + (TINY if dry else [])
    eager = [(64, 64, "fp32", False, 3, 2), (64, 64, "bf16", False, 5, 2), (512, 128, "bf16", False, 2, 1),
             (512, 64, "fp32", False, 1, 1)]
    compiled = [(64, 64, "bf16", True, 5, 2), (512, 128, "bf16", True, 2, 1)]

    def steps(configs: list[tuple]) -> float:
        best = 0.0
        for batch, mb, prec, comp, n, warm in configs:
            if dry:
                batch, mb, n, warm = (8 if batch > 64 else 4), 4, 1, 0
            cmd = step + ["--batch", str(batch), "--batch-gpu", str(mb), "--precision", prec, "--steps", str(n),
                          "--warmup", str(warm)] + (["--compile"] if comp else [])
            rec, _ = chk.run("step", f"batch {batch} (x{mb}) {prec}{' + compile' if comp else ''}", cmd, 150 if comp else 90)
            if rec["status"] == "ok" and prec == "bf16" and not comp:
                best = max(best, rec["img_per_s"])
        return best

    img_s = steps(eager)

    # 3. a real `gankit train` for about two minutes with one snapshot (FID 10k against the training set)
    # the snapshot's FID and stage 4 need Inception: the dry run finds it as gankit always does
    why = "" if dry else join_weights(PREP, args.out / "cache" / CACHE_FILE)
    run_dir = args.out / "train"
    kimg = 0.016 if dry else max(round(img_s * 90 / 1000 / 4) * 4, 4) if img_s else 20
    common = ["--preset", "r3gan-cifar10", "--data", data, "--set", "train.tensorboard=false"]
    common += (TINY + ["--set", "train.batch=8", "--set", "train.eval_n=16"]) if dry else \
        ["--set", "data.subdir=train", "--set", "train.batch_gpu=128"]  # 512 at once may not fit: micro-batches of 128
    metrics = ["--set", "train.metrics=" + ("none" if why else "fid")]
    rec, out = chk.run("train", f"r3gan-cifar10, {kimg:g} kimg", gk + ["train", "--out", str(run_dir), "--kimg", str(kimg),
                       "--set", f"train.snapshot_kimg={kimg}"] + common + metrics, 300)
    if rec["status"] == "ok":
        log = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
        speeds = [r["img_per_s"] for r in log if "img_per_s" in r]
        rec.update(kimg=kimg, img_per_s=round(sorted(speeds)[len(speeds) // 2], 1) if speeds else 0.0,
                   fid=next((r["fid"] for r in reversed(log) if "fid" in r), float("nan")),
                   precision=json.loads((run_dir / "run.json").read_text())["precision"])

    # 4. FID on 10k and 50k samples against the whole training set, generation / Inception / statistics timed apart
    def fid(protos: tuple[str, ...]) -> None:
        for proto in protos:
            cfg = ["--metrics", "fid", "--n", "16", "--ref", data] if dry else ["--protocol", proto]
            if why or not (run_dir / "checkpoints").is_dir():
                chk.records.append({"stage": "fid", "config": proto, "status": "skipped", "why": why or "no trained run"})
                continue
            rec, out = chk.run("fid", proto, gk + ["eval", "--run", str(run_dir), "--json", "--quiet"] + cfg, 240)
            if rec["status"] == "ok":
                res = json.loads(out[out.index("{"):out.rindex("}") + 1])["fid"]
                rec.update(fid=res["value"], seconds_by_part=res["seconds"])

    fid(("fid, 16 samples (dry run)",) if dry else ("fid10k_full", "fid50k_full"))
    steps(compiled)

    # 6. DDP smoke run when more than one GPU is visible (the dry run: two gloo processes on the CPU)
    gpus = chk.records[0].get("gpus", 0)
    if dry or gpus > 1:
        n = 2
        with socket.socket() as sock:  # a free port: a lingering rendezvous on torchrun's default 29500 cannot clash
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        chk.run("ddp", f"torchrun x{n}", [py, "-m", "torch.distributed.run", "--nproc_per_node", str(n),
                "--master_port", str(port), "-m", "gankit",
                "train", "--out", str(args.out / "ddp"), "--kimg", "0.032" if dry else "8", "--set", "train.metrics=none"]
                + common, 180)
    else:
        chk.records.append({"stage": "ddp", "config": "torchrun", "status": "skipped", "why": f"{gpus} GPU visible"})
    chk.write()
    print(table(chk.records))


if __name__ == "__main__":
    main()

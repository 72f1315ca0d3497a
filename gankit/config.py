"""Typed configuration: dataclasses, `--set section.key=value` overrides, JSON round trips."""
from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from .augment import AugmentConfig
from .data.base import RESUMABLE, DataConfig
from .errors import GankitError


@dataclass
class ModelConfig:
    """Network family and its sizes; resolution and channels come from the data."""

    arch: str = "r3gan"  # network registry name: r3gan, dcgan, resnet (SNGAN/SAGAN/BigGAN), stylegan, mlp, mlp-ae
    z_dim: int = 64
    widths: list[int] = field(default_factory=lambda: [768] * 4)  # G's (and D's) width per stage, from 4x4 upward
    widths_d: list[int] = field(default_factory=list)  # D's own widths (empty: as G's); resnet: one per D block from the input
    groups: list[int] = field(default_factory=lambda: [96] * 4)  # grouped-conv cardinality per stage
    blocks: int = 2  # residual blocks per stage
    expansion: float = 2.0  # r3gan block's hidden width / width: 2 inverted bottleneck (Config E), 0.25 bottleneck (D)
    d_norm: str = "batch"  # dcgan D: "batch" (Radford et al. 2016) or "none" (WGAN-GP's critic)
    pggan: bool = False  # dcgan: PGGAN's layers (equalized lr in G and D, pixel norm in G, no BN in D, linear to-RGB)
    d_final_res: int = 4  # resnet D: downsampling stops at this resolution (SNGAN/BigGAN CIFAR: 8)
    attn_res: int = 0  # self-attention block at this resolution in G and D (SAGAN; resnet, dcgan; 0: none)
    shared_dim: int = 0  # resnet G: BigGAN's shared class embedding size feeding every conditional BN (0: per-class BN)
    hier: bool = False  # resnet G: BigGAN's hierarchical latents, z split into one chunk per block plus the stem
    w_dim: int = 512  # stylegan: intermediate latent size
    mapping_layers: int = 8  # stylegan: mapping network depth
    mapping_lr: float = 0.01  # stylegan: learning-rate multiplier of the mapping network
    style: str = "modconv"  # stylegan style injection: "modconv" (StyleGAN2 modulation/demodulation) or "adain" (StyleGAN)
    style_mixing: float = 0.9  # stylegan: probability of mixing two latents' styles per training batch
    noise: bool = True  # stylegan: per-layer noise inputs with learned strengths
    equalized_lr: bool = True  # stylegan: equalized learning rate (weights N(0, 1) scaled at run time; Karras et al. 2018)
    progressive: bool = False  # grow G and D resolution by resolution with a fade-in (PGGAN; dcgan, stylegan)
    heads: int = 1  # D's outputs per sample: MMA-GAN's K sigmoid heads (mlp, dcgan; loss.name=mma)
    cond: bool = False  # class-conditional G and D (labels from the dataset)
    class_embed_dim: int = 64  # G's class embedding, concatenated to z
    hidden: int = 256  # MLP networks: units per hidden layer
    depth: int = 3  # MLP networks: hidden layers
    mbstd_group: int = 0  # D: minibatch standard deviation over groups of this size (Karras et al. 2018; mlp, dcgan, stylegan; 0: off)
    mbdisc_kernels: int = 0  # MLP D: minibatch discrimination kernels B (Salimans et al. 2016; 0: off)
    mbdisc_dim: int = 5  # minibatch discrimination: dimension C of each kernel
    ortho_init: bool = False  # orthogonal init of G's and D's conv, linear and embedding weights (Saxe et al. 2014; BigGAN-PyTorch)
    spectral_norm: bool = False  # spectral normalization of every conv and linear weight of D (Miyato et al. 2018)
    spectral_norm_g: bool = False  # the same for G (SAGAN, BigGAN)


@dataclass
class LossConfig:
    """Adversarial loss and gradient penalties; each penalty is weighted gamma / 2."""

    name: str = "rpgan"
    regularizers: list[str] = field(default_factory=lambda: ["r1", "r2"])
    gamma: float = 0.05  # at t = 0
    gamma_final: float = 0.005  # at t = horizon (cosine ramp)
    lsgan_abc: list[float] = field(default_factory=lambda: [0.0, 1.0, 1.0])  # LSGAN targets: fake a, real b, G's c
    smooth_real: float = 0.0  # label smoothing: D's real target is 1 - smooth_real (one-sided: Salimans et al.: 0.1)
    smooth_fake: float = 0.0  # D's fake target (two-sided smoothing when > 0); cross-entropy losses only
    began_gamma: float = 0.5  # BEGAN's diversity ratio gamma = E L(G(z)) / E L(x) it steers to
    began_lambda_k: float = 0.001  # BEGAN's proportional gain of the k_t update
    feature_matching: bool = False  # G matches the mean of D's last hidden features on real and fake (Salimans et al. 2016)
    ortho_beta: float = 0.0  # BigGAN's orthogonal regularization of G: beta * sum ||W^T W * (1 - I)||_F^2 (1e-4 there)
    lambda_gp: float = 10.0  # weight of the penalties on interpolates (wgan_gp, gp0_interp); Gulrajani et al.: 10
    clip: float = 0.0  # WGAN weight clipping: D's parameters clamped to [-clip, clip] after each D step (0: off)
    drift: float = 0.0  # PGGAN's drift term: D's loss adds drift * D(x)^2 on reals (Karras et al. 2018, A.1: 0.001)
    reg_interval: int = 1  # lazy regularization (StyleGAN2): penalties every k D steps, weighted gamma * k; R3GAN uses 1
    lazy_form: str = "fused"  # how those penalties are taken: fused (in D's step) or stylegan2 (a step of their own, Adam corrected)
    mma_lambda: float = 0.0  # MMA-GAN: weight of the mode-coverage loss L_div = sum_k max(0, tau - A_k) in G's objective
    mma_tau: float = 0.5  # MMA-GAN: each head's target mean activation tau on generated samples
    mma_batch: int = 64  # MMA-GAN: M, the separate batch of generated samples that A_k averages over


@dataclass
class TrainConfig:
    """Optimisation, schedules (functions of images seen) and the run's bookkeeping."""

    kimg: float = field(default=20000.0, metadata=RESUMABLE)  # run length in thousands of real images shown to D
    batch: int = 512
    horizon_kimg: float = 0.0  # T of the cosine schedules; 0 means T = kimg
    lr: float = 2e-4
    lr_final: float = 5e-5
    lr_d_ratio: float = 1.0  # TTUR (Heusel et al. 2017): D's learning rate is lr * lr_d_ratio on the same schedule
    beta1: float = 0.0  # Adam beta1 for both networks (R3GAN: 0; DCGAN: 0.5)
    betas_d: list[float] = field(default_factory=list)  # TTUR: D's own fixed Adam (beta1, beta2); empty: as G's
    n_critic: int = 1  # D steps per G step, each on a fresh real batch (WGAN: 5)
    g_reuse_z: bool = False  # G's step reuses the latents of the D step before it (MMA-GAN's Z_adv) instead of fresh ones
    unroll_steps: int = 0  # unrolled GAN (Metz et al. 2017): G's loss against D after K differentiable D steps
    unroll_lr: float = 0.0  # step size of the unrolled D steps (0: D's current learning rate)
    instance_noise: float = 0.0  # std of Gaussian noise on every D input at t = 0, cosine-annealed to 0 at the horizon
    beta2: float = 0.9
    beta2_final: float = 0.99
    aug_p: float = 0.0  # final augmentation probability (ramps up from 0)
    ema_kimg: float = 5000.0  # final EMA half-life in kimg (ramps up from 0)
    ema_ramp: bool = True  # false: the half-life is ema_kimg from the first step (an imported run's G_ema is kept)
    phema: str = ""  # post-hoc EMA: the sigma_rel of each power-function profile tracked (EDM2: "0.05,0.10"); "": none
    phema_kimg: float = field(default=0.0, metadata=RESUMABLE)  # a snapshot of the profiles every N kimg (0: train.snapshot_kimg / 8)
    seed: int = 0
    log_kimg: float = field(default=0.0, metadata=RESUMABLE)  # scalars every so many kimg (0: 100 lines per run)
    snapshot_kimg: float = field(default=0.0, metadata=RESUMABLE)  # checkpoint + grid + metrics every so many kimg (0: 4 per run)
    checkpoint_kimg: float = field(default=0.0, metadata=RESUMABLE)  # also a checkpoint alone every so many kimg (0: at snapshots only)
    eval_n: int = field(default=10000, metadata=RESUMABLE)  # samples for the snapshot metrics
    metrics: str = field(default="auto", metadata=RESUMABLE)  # snapshot metrics, comma list (fid,kid,pr,dc,is,modes,lpips_div); auto: modes where the set has them; none
    eval_precision: str = "exact"  # snapshot features: exact (float32) or fast (the network under bf16 autocast; stamped "fast" in every result); fixed for a run, so its snapshots compare
    eval_extractor: str = field(default="inception", metadata=RESUMABLE)  # features of the snapshot metrics fid/kid/pr/dc: inception, dinov2, digits or mnist
    best_metric: str = field(default="auto", metadata=RESUMABLE)  # metric whose headline picks checkpoints/best (auto: the first of train.metrics; none: off)
    grid: int = field(default=64, metadata=RESUMABLE)  # samples in the snapshot grid (conditional: whole rows per class, sampling.grid_classes)
    d_probe: int = field(default=0, metadata=RESUMABLE)  # items of the D probe on every log line (training.probe: D's gradient norms on reals and fakes, memorisation); 0: off
    threads: int = field(default=0, metadata=RESUMABLE)  # torch CPU threads (0: leave torch's default)
    device: str = field(default="auto", metadata=RESUMABLE)  # "auto", "cpu", "cuda", "cuda:1", ...
    channels_last: bool = field(default=True, metadata=RESUMABLE)  # NHWC memory format for image networks (about 2x faster grouped convs on CPU)
    batch_gpu: int = field(default=0, metadata=RESUMABLE)  # samples per forward pass on one rank; below batch / ranks, gradients accumulate (0: all at once)
    memory_gib: float = field(default=0.0, metadata=RESUMABLE)  # memory a step may take (0: what the machine has available); measured before the first step (training.memory)
    prefetch: int = field(default=-1, metadata=RESUMABLE)  # batches loaded ahead on a worker thread, pinned for CUDA (0: in the step; -1: 2 on CUDA, 0 on CPU)
    precision: str = "fp32"  # "fp32", "bf16" (R3GAN: stages above 4x4 under bf16 autocast, the 4x4 head in float32) or
    # "auto": bf16 on CUDA for families that have bf16 stages, fp32 elsewhere (the R3GAN presets)
    tf32: bool = False  # TF32 for float32 matmuls and cuDNN convolutions on CUDA (R3GAN's loop turns it off)
    compile: bool = field(default=False, metadata=RESUMABLE)  # torch.compile the generator (D runs eager: compiled graphs have no double backward for R1/R2)
    keep_checkpoints: int = field(default=2, metadata=RESUMABLE)  # the last N checkpoints are kept (plus checkpoints/best)
    on_nonfinite: str = field(default="lower_lr", metadata=RESUMABLE)  # NaN/Inf in a loss or weight: roll back, then "lower_lr", "skip" (new batch and noise) or "stop"
    nonfinite_lr_factor: float = field(default=0.5, metadata=RESUMABLE)  # lower_lr: the learning rate is multiplied by this at each rollback
    max_rollbacks: int = field(default=3, metadata=RESUMABLE)  # stop with an error after this many rollbacks
    tensorboard: bool = field(default=True, metadata=RESUMABLE)  # TensorBoard events in RUN/tensorboard
    grow_kimg: float = 600.0  # model.progressive: kimg of each fade-in and each stabilisation phase (PGGAN: 600)

    @property
    def horizon(self) -> float:
        """Schedule horizon in images."""
        return 1000.0 * (self.horizon_kimg if self.horizon_kimg > 0 else self.kimg)


@dataclass
class Config:
    """Everything that defines a run; written as config.json into the run directory."""

    preset: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    aug: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


SECTIONS = ("model", "data", "loss", "train", "aug")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a JSON value or a --set string to the field's declared type."""
    origin = typing.get_origin(tp)
    try:
        if origin is list:
            (item,) = typing.get_args(tp)
            if isinstance(value, str):
                value = [v for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
            return [_coerce(v, item, key) for v in value]
        if isinstance(value, (dict, list)):  # a table or an array where one value belongs
            raise ValueError(value)
        if tp is bool:  # true/false (or 0/1); 2 or 0.5 is no switch setting, so it is refused, not read as true
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            if isinstance(value, bool) or (type(value) is int and value in (0, 1)):
                return bool(value)
            raise ValueError(value)
        if isinstance(value, bool):  # true is no count and no rate: `batch = true` once became batch 1
            raise ValueError(value)
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
        if tp is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError, OverflowError):
        raise GankitError(f"{key}={value!r} is not a valid {getattr(tp, '__name__', tp)}") from None


def _section_types(obj: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(type(obj))
    return {f.name: hints[f.name] for f in dataclasses.fields(obj)}


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """Set dotted keys ("train.kimg": 10) on a copy of cfg; unknown keys list the valid ones."""
    cfg = config_from_dict(cfg.to_dict())
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if section == "preset" and not name:
            cfg.preset = str(value)
            continue
        if section not in SECTIONS or not name:
            raise GankitError(f"unknown config key '{key}'; keys look like SECTION.NAME with SECTION "
                              f"one of {', '.join(SECTIONS)}")
        obj = getattr(cfg, section)
        types = _section_types(obj)
        if name not in types:
            raise GankitError(f"unknown config key '{key}'; valid keys in '{section}': "
                              f"{', '.join(sorted(types))}")
        setattr(obj, name, _coerce(value, types[name], key))
    return cfg


def parse_set(items: list[str]) -> dict[str, str]:
    """['train.kimg=10', ...] -> {'train.kimg': '10'}."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise GankitError(f"--set takes KEY=VALUE (e.g. --set train.kimg=100), got '{item}'")
        if key.strip() == "preset":
            raise GankitError("the preset is not a config key: use --preset NAME")
        out[key.strip()] = value.strip()
    return out


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """{'train': {'kimg': 1}} -> {'train.kimg': 1}."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_from_dict(d: dict) -> Config:
    """Rebuild a Config from its to_dict() form (as stored in config.json)."""
    cfg = Config(preset=d.get("preset", ""))
    for section in SECTIONS:
        obj = getattr(cfg, section)
        types = _section_types(obj)
        for name, value in d.get(section, {}).items():
            if name not in types:
                raise GankitError(f"config key '{section}.{name}' is not known to this gankit version")
            setattr(obj, name, _coerce(value, types[name], f"{section}.{name}"))
    return cfg


def resume_safe_keys() -> set[str]:
    """Dotted keys whose fields carry RESUMABLE metadata: they may change when a run resumes."""
    cfg = Config()
    return {f"{section}.{f.name}" for section in SECTIONS for f in dataclasses.fields(getattr(cfg, section))
            if f.metadata.get("resume")}


# Ranges checked before anything is written: (keys, test, what the key must be). Every float must also be finite.
_AT_LEAST_1 = ("train.batch", "train.n_critic", "train.grid", "train.keep_checkpoints", "train.eval_n", "model.z_dim",
               "model.blocks", "model.hidden", "model.depth", "model.w_dim", "model.heads", "model.class_embed_dim",
               "model.mbdisc_dim", "loss.mma_batch", "loss.reg_interval")
_POSITIVE = ("train.kimg", "train.lr", "train.lr_d_ratio", "train.grow_kimg")
_NONNEGATIVE = ("train.lr_final", "train.horizon_kimg", "train.instance_noise", "train.ema_kimg", "train.log_kimg",
                "train.checkpoint_kimg",
                "train.snapshot_kimg", "train.threads", "train.batch_gpu", "train.unroll_steps", "train.unroll_lr",
                "train.max_rollbacks", "train.seed", "train.d_probe", "train.memory_gib", "loss.gamma", "loss.gamma_final", "loss.lambda_gp", "loss.clip", "loss.drift",
                "loss.ortho_beta", "loss.mma_lambda", "loss.began_lambda_k", "model.attn_res", "model.shared_dim",
                "model.mbstd_group", "model.mbdisc_kernels", "model.mapping_layers", "model.mapping_lr", "model.expansion")
_UNIT_OPEN = ("train.beta1", "train.beta2", "train.beta2_final")  # [0, 1)
_UNIT = ("train.aug_p", "loss.smooth_real", "loss.smooth_fake", "model.style_mixing")  # [0, 1]
MAX_BATCH = 1 << 16  # 16x R3GAN's ImageNet batch: beyond it a batch is a typo, not a plan
DEVICE_NAME = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")  # train.device and eval --device


def phema_sigmas(spec: str) -> tuple[float, ...]:
    """train.phema's comma list as sigma_rels, each in (0, 0.28) (GankitError naming the key otherwise)."""
    try:
        values = tuple(float(v) for v in spec.split(",") if v.strip())
    except ValueError:
        raise GankitError(f"train.phema={spec!r}: give sigma_rel values as a comma list, e.g. 0.05,0.10") from None
    bad = [v for v in values if not 0 < v < 0.28]
    if bad or not values:
        raise GankitError(f"train.phema={spec!r}: each sigma_rel must lie in (0, 0.28) (EDM2 keeps 0.05,0.10)")
    return values


def validate_ranges(cfg: Config) -> None:
    """Refuse out-of-range or non-finite values, one line naming the key, its value and what it must be."""
    flat = flatten(cfg.to_dict())

    def bad(key: str, want: str) -> GankitError:
        return GankitError(f"{key}={flat[key]!r} is out of range: it must be {want}")

    for key, v in flat.items():
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, float) and not math.isfinite(x):
                raise bad(key, "a finite number")
    for keys, ok, want in ((_AT_LEAST_1, lambda x: x >= 1, ">= 1"), (_POSITIVE, lambda x: x > 0, "> 0"),
                           (_NONNEGATIVE, lambda x: x >= 0, ">= 0"), (_UNIT_OPEN, lambda x: 0 <= x < 1, "in [0, 1)"),
                           (_UNIT, lambda x: 0 <= x <= 1, "in [0, 1]")):
        for key in keys:
            if not ok(flat[key]):
                raise bad(key, want)
    for key in ("model.widths", "model.widths_d", "model.groups"):
        if any(x < 1 for x in flat[key]):
            raise bad(key, "a list of positive integers")
    if len(flat["train.betas_d"]) not in (0, 2) or any(not 0 <= x < 1 for x in flat["train.betas_d"]):
        raise bad("train.betas_d", "empty or two numbers in [0, 1)")
    if not 0 < flat["train.nonfinite_lr_factor"] < 1:
        raise bad("train.nonfinite_lr_factor", "in (0, 1)")
    if flat["train.prefetch"] < -1:
        raise bad("train.prefetch", "0 (load in the step), N > 0 batches ahead, or -1 (auto)")
    if not 0 <= flat["train.seed"] < 2 ** 63:  # torch's generators take a signed 64-bit seed
        raise bad("train.seed", "in [0, 2^63)")
    if flat["train.phema"]:
        phema_sigmas(flat["train.phema"])
    for key in ("train.batch", "train.batch_gpu"):  # caught before --out is written, not by a failed allocation after
        if flat[key] > MAX_BATCH:
            raise bad(key, f"at most {MAX_BATCH:,} (the largest preset's is 4,096; on the CPU train.batch_gpu keeps "
                           "memory as at a smaller batch)")
    if not DEVICE_NAME.match(flat["train.device"]):
        raise bad("train.device", "auto, cpu, cuda, cuda:N or mps")

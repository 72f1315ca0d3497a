"""One place that refuses a config before anything is written: ranges, then what each piece declared it supports.

Network families and losses declare capabilities when they register (`NETWORKS.register("dcgan", heads=True, ...)`,
`LOSSES.register("mma", heads=True)`); the rules below read those declarations, never a table of names. Every error
is one line that names the setting and the fix.
"""
from __future__ import annotations

from typing import Any

import torch

from .config import Config, ModelConfig, validate_ranges
from .errors import GankitError
from .objectives.losses import LOSSES
from .networks import NETWORKS, PRECISIONS, precision_for
from .objectives.adversarial import LAZY_FORMS
from .objectives.regularizers import REGULARIZERS


def _with(registry: Any, cap: str) -> str:
    """The registered names that declare `cap`, for messages."""
    return ", ".join(n for n in registry.names() if registry.caps(n).get(cap))


# (model option, the capability it needs, the message): each option refused where the family does not declare it
_UNSUPPORTED = (
    ("mbstd_group", "mbstd", "model.mbstd_group: the {arch} discriminator has no minibatch-stddev layer (those of {have} "
                             "have): set it to 0"),
    ("mbdisc_kernels", "mbdisc", "model.mbdisc_kernels: minibatch discrimination is a layer of the {have} discriminator; "
                                 "model.arch={arch} has none: set it to 0"),
    ("pggan", "pggan", "model.pggan gives the {have} family PGGAN's layers; model.arch={arch} has no such variant: use "
                       "model.arch={have} or model.pggan=false"),
    ("progressive", "progressive", "model.progressive: {arch} does not grow; the growing networks are {have}"),
)


def validate_model(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> None:
    """The network family cfg.arch supports every model option set, for this data shape and class count."""
    caps = NETWORKS.caps(cfg.arch)
    if caps["data"] == "images" and (len(shape) != 3 or shape[1] != shape[2]):
        raise GankitError(f"network '{cfg.arch}' needs square images, the data has shape {tuple(shape)}; "
                          "use model.arch=mlp for 2-D points")
    if caps["data"] == "points" and len(shape) != 1:
        raise GankitError(f"network '{cfg.arch}' needs flat data (points), the data has shape {tuple(shape)}; "
                          "use model.arch=r3gan for images")
    if caps.get("unconditional") and num_classes:
        raise GankitError(f"network '{cfg.arch}' needs flat unconditional data, got shape {tuple(shape)}, {num_classes} classes")
    if (cfg.spectral_norm or cfg.spectral_norm_g) and caps.get("no_spectral_norm"):
        raise GankitError(f"model.spectral_norm does not compose with {cfg.arch}: {caps['no_spectral_norm']}")
    for key, cap, message in _UNSUPPORTED:
        if getattr(cfg, key) and not caps.get(cap):
            raise GankitError(message.format(arch=cfg.arch, have=_with(NETWORKS, cap)))
    own_init = caps.get("own_init", lambda m: None)(cfg)
    if cfg.ortho_init and (cfg.pggan or own_init):
        raise GankitError(f"model.ortho_init would overwrite {cfg.arch}'s own initialisation ("
                          + (own_init or "PGGAN's N(0, 1) weights of the equalized learning rate")
                          + "): set model.ortho_init=false")
    if cfg.heads != 1 and (cfg.heads < 1 or not caps.get("heads")):
        raise GankitError(f"model.heads={cfg.heads}: several D heads are built for {_with(NETWORKS, 'heads')} (MMA-GAN), "
                          f"not {cfg.arch}; use one of those or model.heads=1")


def validate(cfg: Config, shape: tuple[int, ...], data_classes: int, data_name: str = "", world: int = 1,
             device: torch.device | str = "cpu") -> int:
    """Refuse settings that cannot run, before anything is written; returns the networks' class count."""
    validate_ranges(cfg)
    t, m, loss = cfg.train, cfg.model, cfg.loss
    num_classes = data_classes if m.cond else 0
    if m.cond and num_classes == 0:
        raise GankitError(f"model.cond=true but dataset '{data_name}' has no class labels; set model.cond=false")
    if m.cond and cfg.data.classes and cfg.data.classes != num_classes:
        raise GankitError(f"data.classes={cfg.data.classes} but the data has {num_classes} classes; "
                          f"set data.classes={num_classes} or point --data at the intended set")
    validate_model(m, shape, num_classes)
    net, lcaps = NETWORKS.caps(m.arch), LOSSES.caps(loss.name)
    if t.batch % world:
        raise GankitError(f"train.batch={t.batch} does not split over {world} processes; use a multiple of {world}")
    if t.batch_gpu < 0 or (t.batch_gpu and (t.batch // world) % t.batch_gpu):
        raise GankitError(f"train.batch_gpu={t.batch_gpu} must divide the per-process batch {t.batch // world}")
    if t.precision not in PRECISIONS:
        raise GankitError(f"train.precision '{t.precision}' is unknown; use {', '.join(PRECISIONS)}")
    if t.precision == "bf16" and not net.get("bf16"):
        raise GankitError(f"train.precision=bf16 is implemented for the {_with(NETWORKS, 'bf16')} networks, not {m.arch}; "
                          "use fp32")
    if t.on_nonfinite not in ("lower_lr", "skip", "stop"):
        raise GankitError(f"train.on_nonfinite '{t.on_nonfinite}' is unknown; use lower_lr, skip or stop")
    if (m.heads > 1 or loss.mma_lambda > 0) and not lcaps.get("heads"):
        raise GankitError(f"model.heads > 1 and loss.mma_lambda are MMA-GAN's; loss.name={loss.name} takes one logit "
                          "per sample: set loss.name=mma, or model.heads=1 and loss.mma_lambda=0")
    if not 0 < loss.mma_tau < 1:
        raise GankitError(f"need 0 < loss.mma_tau < 1, got {loss.mma_tau}")
    if m.progressive and t.grow_kimg <= 0:
        raise GankitError(f"model.progressive needs train.grow_kimg > 0 (kimg per fade-in and per stabilisation), got {t.grow_kimg}")
    if loss.clip > 0 and not lcaps.get("clip"):
        raise GankitError(f"loss.clip (weight clipping) keeps a Wasserstein critic Lipschitz; with loss.name="
                          f"{loss.name} it only cripples D: set loss.name=wasserstein or loss.clip=0")
    if bool(lcaps.get("autoencoder")) != bool(net.get("autoencoder")):
        raise GankitError(f"BEGAN's loss needs an autoencoder discriminator and that D outputs reconstruction errors, "
                          f"not logits: use loss.name=began with model.arch=mlp-ae together (got {loss.name}, {m.arch})")
    if (loss.smooth_real or loss.smooth_fake) and not lcaps.get("smoothing"):
        raise GankitError(f"label smoothing (loss.smooth_real/smooth_fake) changes the targets of the "
                          f"cross-entropy losses; loss.name={loss.name} has none: use {_with(LOSSES, 'smoothing')}")
    if loss.drift and not lcaps.get("drift"):
        raise GankitError(f"loss.drift (PGGAN's eps_drift D(x)^2) keeps a Wasserstein critic's output near 0; "
                          f"loss.name={loss.name} is bounded by its own loss: use {_with(LOSSES, 'drift')} or loss.drift=0")
    if list(loss.lsgan_abc) != [0.0, 1.0, 1.0] and not lcaps.get("abc"):
        raise GankitError(f"loss.lsgan_abc is set but loss.name={loss.name}; it only applies to lsgan")
    LAZY_FORMS.get(loss.lazy_form)  # an unknown form lists the valid ones
    weighted = [n for n in loss.regularizers if REGULARIZERS.get(n).on != "interp"]
    for key in ("gamma", "gamma_final"):
        if weighted and not getattr(loss, key) > 0:
            raise GankitError(f"loss.{key}={getattr(loss, key)!r} weights {', '.join(weighted)} by nothing: it must lie "
                              "in (0, inf) (R3GAN's presets: 0.05 to 1); to train without them set loss.regularizers=[]")
    probing = [n for n in loss.regularizers if not REGULARIZERS.get(n).grad]
    if probing and (t.aug_p > 0 or t.instance_noise > 0 or precision_for(cfg, device) == "bf16"):
        raise GankitError(f"{', '.join(probing)} estimate the gradient by probing D at nearby points, which needs D to see "
                          "the images as they are, in float32: set train.aug_p=0, train.instance_noise=0 and "
                          "train.precision=fp32, or use r1/r2")
    if loss.feature_matching and t.unroll_steps:
        raise GankitError("loss.feature_matching replaces G's adversarial loss, which train.unroll_steps unrolls: pick one")
    if loss.feature_matching and not net.get("features"):
        raise GankitError(f"loss.feature_matching needs D's hidden features; the {m.arch} discriminator does not "
                          f"expose them: use model.arch={_with(NETWORKS, 'features')}")
    return num_classes

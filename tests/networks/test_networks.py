"""R3GAN networks: parameter counts, Fix-up init, resampling, any resolution and channel count."""
import math

import pytest
import torch

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.networks import build_networks, count_params
from gankit.networks.layers import LRELU_GAIN, Downsample2x, Upsample2x, lowpass_kernel
from gankit.networks.r3gan import Discriminator, Generator, ResidualBlock
from gankit.presets import resolve
from gankit.validate import validate_model

# (preset, classes, G params, D params) from ../shared/R3GAN-REFERENCE.md, in millions
REFERENCE = [("r3gan-cifar10", 10, 20.78, 21.28), ("r3gan-cifar10-uncond", 0, 20.73, 20.68),
             ("r3gan-ffhq64", 0, 22.43, 22.38), ("r3gan-ffhq256", 0, 23.06, 23.01),
             ("r3gan-imagenet32", 1000, 82.91, 86.55), ("r3gan-imagenet64", 1000, 103.57, 107.21)]


@pytest.mark.parametrize("preset,classes,g_ref,d_ref", REFERENCE)
def test_official_parameter_counts(preset, classes, g_ref, d_ref):
    cfg = resolve(preset)
    res = cfg.data.resolution
    with torch.device("meta"):
        G, D = build_networks(cfg.model, (3, res, res), classes)
    assert abs(count_params(G) / 1e6 - g_ref) <= 0.01
    assert abs(count_params(D) / 1e6 - d_ref) <= 0.01


def test_fixup_init_and_identity_blocks():
    torch.manual_seed(0)
    G = Generator(32, 3, 64, [128] * 4, [16] * 4)
    L = 8  # 4 stages x 2 blocks
    blocks = [m for m in G.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == L
    for b in blocks:
        for w in (b.conv1.weight, b.conv2.weight):
            fan_in = w.shape[1] * w.shape[2] * w.shape[3]
            ratio = w.std().item() * math.sqrt(fan_in) / (1.3868 * L ** -0.25)
            assert abs(ratio - 1) < 0.02
        assert torch.count_nonzero(b.conv3.weight) == 0
        x = torch.randn(2, 128, 8, 8)
        assert torch.equal(b(x), x)  # a fresh residual block is the identity
    assert abs(LRELU_GAIN - 1.3868) < 1e-4


def test_only_activation_biases():
    G = Generator(16, 3, 64, [32] * 3, [4] * 3, num_classes=5)
    D = Discriminator(16, 3, [32] * 3, [4] * 3, num_classes=5)
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                assert m.bias is None
        names = [n for n, _ in net.named_parameters() if n.endswith("bias")]
        assert names and all(".act" in n for n in names)


def test_resampling_kernel_and_constant_images():
    k = lowpass_kernel()
    f = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
    assert torch.allclose(k, torch.outer(f, f))
    up, down = Upsample2x(2), Downsample2x(2)
    assert torch.allclose(up.kernel[0, 0], 4 * torch.outer(f, f))
    x = torch.full((1, 2, 8, 8), 3.0)
    u = up(x)
    assert u.shape == (1, 2, 16, 16)
    assert torch.allclose(u[..., 2:-2, 2:-2], torch.full_like(u[..., 2:-2, 2:-2], 3.0))
    d = down(x)
    assert d.shape == (1, 2, 4, 4)
    assert torch.allclose(d[..., 1:-1, 1:-1], torch.full_like(d[..., 1:-1, 1:-1], 3.0))


def test_upsample_matches_upfirdn_definition():
    """Zero insertion, pad (2, 1), 4x4 filter with gain 4 == our conv_transpose form."""
    x = torch.randn(1, 1, 5, 5)
    z = torch.zeros(1, 1, 10, 10)
    z[..., ::2, ::2] = x
    z = torch.nn.functional.pad(z, (2, 1, 2, 1))
    ref = torch.nn.functional.conv2d(z, (4 * lowpass_kernel()).flip(0, 1).view(1, 1, 4, 4))
    assert torch.allclose(Upsample2x(1)(x), ref, atol=1e-6)


@pytest.mark.parametrize("res,channels", [(4, 1), (8, 3), (16, 2), (64, 4)])
def test_any_resolution_and_channels(res, channels):
    cfg = ModelConfig(widths=[16, 8], groups=[4, 2], blocks=1)
    G, D = build_networks(cfg, (channels, res, res), 0)
    x = G(torch.randn(3, 64))
    assert x.shape == (3, channels, res, res) and x.dtype == torch.float32
    assert D(x).shape == (3,)


def test_conditional_forward_backward():
    cfg = ModelConfig(widths=[16], groups=[4], blocks=1, cond=True)
    G, D = build_networks(cfg, (3, 8, 8), 7)
    c = torch.nn.functional.one_hot(torch.tensor([0, 3, 6]), 7).float()
    out = D(G(torch.randn(3, 64), c), c)
    out.sum().backward()
    assert out.shape == (3,) and G.embed.weight.grad is not None and D.embed.weight.grad is not None


def test_bad_resolution_and_groups():
    with pytest.raises(GankitError, match="power of two"):
        build_networks(ModelConfig(widths=[16], groups=[4]), (3, 12, 12), 0)
    with pytest.raises(GankitError, match="divide"):
        build_networks(ModelConfig(widths=[16], groups=[5]), (3, 8, 8), 0)
    with pytest.raises(GankitError, match="unknown network 'nope'.*mlp, mlp-ae, r3gan"):
        build_networks(ModelConfig(arch="nope"), (3, 8, 8), 0)


def test_mlp_networks():
    cfg = ModelConfig(arch="mlp", z_dim=8, hidden=32, depth=3)
    G, D = build_networks(cfg, (2,), 0)
    assert G(torch.randn(5, 8)).shape == (5, 2) and D(torch.randn(5, 2)).shape == (5,)
    with pytest.raises(GankitError, match="flat data"):
        validate_model(cfg, (3, 8, 8), 0)


def test_cpu_micro_batch_default(tmp_path) -> None:
    """On the CPU a batch-independent family (R3GAN) steps in micro-batches of at most 32 when train.batch_gpu is 0:
    the largest divisor of the per-process batch up to 32 (48 -> 24, 512 -> 32); a set value, a GPU, a batch-norm family
    and a batch of 32 or less keep theirs. A real run records it in config.json and says so in one line."""
    import json
    import subprocess
    import sys

    from gankit.networks import micro_batch_for
    from gankit.presets import resolve

    assert micro_batch_for(resolve("r3gan-cifar10"), "cpu") == 32
    assert micro_batch_for(resolve("r3gan-cifar10", {"train.batch": 48}), "cpu") == 24
    assert micro_batch_for(resolve("r3gan-cifar10", {"train.batch": 128}), "cpu", world=2) == 32
    assert micro_batch_for(resolve("r3gan-cifar10", {"train.batch_gpu": 512}), "cpu") == 512
    assert micro_batch_for(resolve("r3gan-cifar10"), "cuda") == 0
    assert micro_batch_for(resolve("dcgan-cifar10"), "cpu") == 0  # batch norm: micro-batches would change it
    assert micro_batch_for(resolve("r3gan-digits"), "cpu") == 0
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "r3gan-tiny", "--kimg", "0.128", "--out",
                        str(out), "--set", "train.batch=64", "--set", "train.metrics=none", "--set",
                        "train.tensorboard=false", "--set", "train.threads=1"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "micro-batches of 32" in p.stdout + p.stderr
    assert json.loads((out / "config.json").read_text())["train"]["batch_gpu"] == 32


@pytest.mark.parametrize("n,g_stages,d_stages", [(2, {1}, {0}), (4, {1, 2, 3}, {0, 1, 2}), (5, {1, 2, 3, 4}, {0, 1, 2, 3}),
                                                 (7, {3, 4, 5, 6}, {0, 1, 2, 3})])
def test_bf16_runs_on_the_stages_the_authors_choose(n, g_stages, d_stages):
    """brownvc/R3GAN's train.py: FP16Stages [-1, -2, -3] for 4 stages (CIFAR-10, ImageNet-32), [-1..-4] for 5
    (FFHQ-64) and 7 (FFHQ-256); D mirrors G. So the top min(n - 1, 4) of G, the first as many of D."""
    res, widths = 4 * 2 ** (n - 1), [8] * n
    G, D = Generator(res, 3, 8, widths, [2] * n, blocks=1), Discriminator(res, 3, widths, [2] * n, blocks=1)
    seen: dict[str, set[int]] = {"G": set(), "D": set()}
    for name, net in (("G", G), ("D", D)):
        net.bf16 = True
        for i, stage in enumerate(net.stages):
            stage.register_forward_pre_hook(lambda m, a, i=i, name=name: seen[name].add(i) if torch.is_autocast_enabled("cpu") else None)
    with torch.no_grad():
        D(G(torch.randn(1, 8)))
    assert seen == {"G": g_stages, "D": d_stages}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_biased_activation_grads_equal_the_plain_ops_bit_for_bit(dtype):
    """The fused bias + leaky ReLU gives PyTorch's values for y, R1's input gradient and the penalty's parameter
    gradients (double backward), bit for bit, including at exact zeros of x + b (the slope side, as PyTorch)."""
    import torch.nn.functional as F

    from gankit.networks.layers import LRELU_SLOPE, BiasedActivation

    torch.manual_seed(0)
    act = BiasedActivation(6)
    with torch.no_grad():
        act.bias.normal_()
    x0 = torch.randn(3, 6, 4, 4)
    x0[0, :, 0, 0] = -act.bias.detach()  # x + b == 0 exactly
    w = torch.randn(6, 6, 1, 1, requires_grad=True)  # a layer in front, so the penalty reaches a weight through x

    def run(fn):
        x = x0.to(dtype).requires_grad_(True)
        y = fn(F.conv2d(x, w.to(dtype)))
        (gx,) = torch.autograd.grad((y.float().square() * torch.linspace(-1, 1, y.numel()).view(y.shape)).sum(), x,
                                    create_graph=True)
        gw, gb = torch.autograd.grad(gx.float().square().sum() + y.float().square().sum(), [w, act.bias])
        return y, gx, gw, gb

    plain = run(lambda t: F.leaky_relu(t + act.bias.to(t.dtype).view(1, -1, 1, 1), LRELU_SLOPE))
    fused = run(act)
    for a, b in zip(fused, plain):
        assert torch.equal(a, b)
    assert plain[2].abs().sum() > 0 and plain[3].abs().sum() > 0  # the double backward reaches both parameters

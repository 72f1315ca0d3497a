"""The declared experiments of `gankit experiment` (registered on import by gankit.experiment).

MMA-GAN (docs/results/mma_gan.md): a K-head discriminator plus a mode-coverage loss, swept over
K x lambda x tau with 3 seeds, against DCGAN (non-saturating) and WGAN-GP with the same networks and
the same budget of real images shown to D, and ablated: lambda = 0 keeps only the heads (and G's
reuse of the D step's latents), which separates what L_div does from what the rest of the setup does.
"""
from __future__ import annotations

from .experiment import EXPERIMENTS, Experiment, Method
from .final import Final

# DCGAN's optimiser for G and D (Radford et al. 2016), as the MMA-GAN proposal specifies: Adam 2e-4, B = 64; no EMA
_ADAM = {"train.lr": 2e-4, "train.lr_final": 2e-4, "train.beta1": 0.5, "train.beta2": 0.999, "train.beta2_final": 0.999,
         "train.ema_kimg": 0.0, "train.batch": 64, "train.aug_p": 0.0, "loss.regularizers": []}
# WGAN-GP's own recipe (Gulrajani et al. 2017): the Wasserstein loss, lambda 10, n_critic 5, Adam 1e-4, (0.5, 0.9)
_WGAN_GP_RECIPE = {**_ADAM, "loss.name": "wasserstein", "loss.regularizers": ["wgan_gp"], "loss.lambda_gp": 10.0,
                   "train.n_critic": 5, "train.lr": 1e-4, "train.lr_final": 1e-4, "train.beta2": 0.9,
                   "train.beta2_final": 0.9}
MMA_GRID = {"model.heads": [4, 8, 16], "loss.mma_lambda": [0.1, 0.5, 1.0], "loss.mma_tau": [0.3, 0.5, 0.7]}
MMA_SHORT = {"model.heads": "K", "loss.mma_lambda": "lambda", "loss.mma_tau": "tau"}


def mma_methods(grid: dict[str, list] | None = None) -> list[Method]:
    """DCGAN, WGAN-GP (Gulrajani et al. 2017's recipe: n_critic 5, Adam 1e-4, (0.5, 0.9), lambda 10, and no batch norm
    in the critic, whose per-sample gradient penalty BN would couple across the batch) and MMA-GAN."""
    return [
        Method("dcgan", {**_ADAM, "loss.name": "nonsaturating"}),
        Method("wgan-gp", {**_WGAN_GP_RECIPE, "model.d_norm": "none"}),
        Method("mma-gan", {**_ADAM, "loss.name": "mma", "loss.mma_batch": 64, "train.g_reuse_z": True},
               grid or MMA_GRID, MMA_SHORT),
    ]


# The 2-D studies (issue 16): one change per arm, every baseline at its own recipe, budgets at which the baselines'
# curves have flattened (snapshots every 1/8 of the run show them), 10 seeds (WGAN-GP: 6, at 5x the real images so its
# G takes as many steps as the others'). Equal budgets are equal G steps; for every arm but WGAN-GP also equal images.
_MMA_ARMS = {"model.heads": [4, 8, 16], "loss.mma_lambda": [0.0, 0.5]}
_MMA_SETS = {"loss.name": "mma", "loss.mma_tau": 0.5, "loss.mma_batch": 64, "train.g_reuse_z": True}
_NS = {"loss.name": "nonsaturating", "loss.regularizers": []}
# WGAN-GP at 5x the images has as many G steps as the other arms (its snapshots at 5x are the equal-G-step figures);
# it runs on until its curves flatten (resumed from the 5x checkpoints: the recipe has no schedule, so that equals a
# longer run): ring 40x the images (8x the others' G steps), grid 10x (2x).
def _wgan_gp(kimg_scale: float) -> Method:
    return Method("wgan-gp", _WGAN_GP_RECIPE, kimg_scale=kimg_scale, seeds=list(range(42, 48)))
_SEEDS10 = list(range(42, 52))


def _points(kimg: float) -> dict:
    return {"train.kimg": kimg, "train.snapshot_kimg": kimg / 8, "train.log_kimg": kimg / 32, "train.metrics": "modes",
            "train.eval_n": 2500, "train.tensorboard": False}


# Ring: DCGAN's recipe (Adam 2e-4, beta1 0.5, constant), which is also the MMA-GAN proposal's, was still rising at
# 640k over 10 seeds (mean hq 0.79, 0.79, 0.88 at 480, 560, 640k), so its arms run 1280k; the preset's tuned recipe
# (ns-tuned, cosine schedules over 640k) had flattened (0.968, 0.971, 0.972). The tables count real images.
_RING_LONG = {"train.kimg": 1280}
EXPERIMENTS.register("mma-ring8")(Experiment(
    "MMA-GAN on the 8-Gaussian ring: its recipe (DCGAN's) against DCGAN with fresh and reused latents, the tuned "
    "non-saturating baseline and WGAN-GP, lambda = 0 at every K (MLPs, 1280k real images, ns-tuned 640k, 10 seeds)",
    {"ring8": ("mlp-ring8", _points(640))},
    [Method("dcgan", {**_ADAM, **_NS, **_RING_LONG}),
     Method("dcgan-reused", {**_ADAM, **_NS, "train.g_reuse_z": True, **_RING_LONG}),
     Method("ns-tuned", _NS), _wgan_gp(40.0), Method("mma-gan", {**_ADAM, **_MMA_SETS, **_RING_LONG}, _MMA_ARMS, MMA_SHORT)],
    ["modes", "modes_hq_fraction", "modes_kl"], seeds=_SEEDS10, plot=("modes", "modes_hq_fraction"),
    curves=("modes", "modes_hq_fraction")))
# Grid: at DCGAN's recipe the high-quality share is 0.10 after 640k and still rising (pilot), so every arm but WGAN-GP
# takes the preset's tuned recipe (lr 1e-3 -> 1e-5, beta1 0, EMA), whose baseline reaches hq ~0.9 at 960k: MMA-GAN's
# parts are added to the best-known baseline, one at a time.
EXPERIMENTS.register("mma-grid25")(Experiment(
    "MMA-GAN's parts on the tuned non-saturating baseline on the 25-Gaussian grid, against fresh and reused latents and "
    "WGAN-GP, lambda = 0 at every K (MLPs, 960k real images, 10 seeds)",
    {"grid25": ("mlp-grid25", _points(960))},
    [Method("ns-tuned", _NS), Method("ns-tuned-reused", {**_NS, "train.g_reuse_z": True}), _wgan_gp(10.0),
     Method("mma-gan", _MMA_SETS, _MMA_ARMS, MMA_SHORT)],
    ["modes", "modes_hq_fraction", "modes_kl"], seeds=_SEEDS10, plot=("modes", "modes_hq_fraction"),
    curves=("modes", "modes_hq_fraction")))

# Stacked digits (issue 16's design, as in 2-D): DCGAN's recipe for every arm but WGAN-GP (the MMA-GAN proposal's
# recipe), one change per arm, lambda = 0 at every K, 200k real images with 8 snapshots (dcgan-digits' modes peak by
# 50k and fall after: docs/results/archs.md), 5 seeds; WGAN-GP at its own recipe with 5x the images (as many G steps
# as the others), 3 seeds. IS uses the digits classifier (1000 classes); LPIPS diversity the LPIPS AlexNet trunk.
_DIGITS = {"train.kimg": 200, "train.snapshot_kimg": 25, "train.log_kimg": 5, "train.metrics": "modes,is,lpips_div,fid",
           "train.eval_extractor": "digits", "train.eval_n": 10000, "train.tensorboard": False}
_DIGITS_ARMS = {"model.heads": [4, 8], "loss.mma_lambda": [0.0, 0.5]}
EXPERIMENTS.register("mma-digits")(Experiment(
    "MMA-GAN's parts on DCGAN's recipe on stacked digits, 1000 modes (DCGAN networks at 16x16, 200k real images, "
    "5 seeds), against DCGAN with fresh and reused latents and WGAN-GP at its own recipe (equal G steps, 3 seeds)",
    {"stacked-digits": ("dcgan-digits", _DIGITS)},
    [Method("dcgan", {**_ADAM, **_NS}), Method("dcgan-reused", {**_ADAM, **_NS, "train.g_reuse_z": True}),
     Method("wgan-gp", {**_WGAN_GP_RECIPE, "model.d_norm": "none"}, kimg_scale=5.0, seeds=[42, 43, 44]),
     Method("mma-gan", {**_ADAM, **_MMA_SETS}, _DIGITS_ARMS, MMA_SHORT)],
    ["modes", "modes_kl", "modes_hq_fraction", "is_mean", "lpips_div_mean", "fid"], seeds=[42, 43, 44, 45, 46],
    plot=("modes", "fid"), curves=("modes", "modes_hq_fraction", "is_mean", "lpips_div_mean", "fid")))

# Issue 27: MMA-GAN against regularised baselines, with recall and coverage beside the mode metrics (precision/
# recall and density/coverage on the raw coordinates for 2-D points). Grid: the preset as shipped (RpGAN + R1 + R2 on
# the tuned recipe), the tuned non-saturating baseline plus R1 + R2 (one change from ns-tuned), and plus spectral
# norm on D; MMA-GAN's arms as in mma-grid25. About 5 single-thread minutes per cell, 100 cells.
_POINT_METRICS = {"train.metrics": "modes,pr,dc"}
EXPERIMENTS.register("mma-grid25-reg")(Experiment(
    "MMA-GAN on the 25-Gaussian grid against regularised baselines (R1 + R2 as the preset ships it, the tuned "
    "non-saturating loss with R1 + R2 or spectral norm), with recall and coverage (MLPs, 960k real images, 10 seeds)",
    {"grid25": ("mlp-grid25", {**_points(960), **_POINT_METRICS})},
    [Method("ns-tuned", _NS), Method("preset-r1r2", {}), Method("ns-tuned-r1r2", {"loss.name": "nonsaturating"}),
     Method("ns-tuned-sn", {**_NS, "model.spectral_norm": True}), Method("mma-gan", _MMA_SETS, _MMA_ARMS, MMA_SHORT)],
    ["modes", "modes_hq_fraction", "modes_kl", "pr_precision", "pr_recall", "dc_density", "dc_coverage"],
    seeds=_SEEDS10, plot=("pr_recall", "modes_hq_fraction"), curves=("modes", "modes_hq_fraction", "pr_recall",
                                                                     "dc_coverage")))
# Stacked digits: DCGAN's recipe plus R1 + R2 (gamma 1 -> 0.1, r3gan-digits' tuned values on this data) or plus spectral
# norm on D, one change each; recall and coverage on the digits classifier's features.
EXPERIMENTS.register("mma-digits-reg")(Experiment(
    "MMA-GAN on stacked digits against DCGAN with R1 + R2 or spectral norm, with recall and coverage (DCGAN networks "
    "at 16x16, 200k real images, 5 seeds)",
    {"stacked-digits": ("dcgan-digits", {**_DIGITS, "train.metrics": "modes,is,lpips_div,fid,pr,dc"})},
    [Method("dcgan", {**_ADAM, **_NS}),
     Method("dcgan-r1r2", {**_ADAM, **_NS, "loss.regularizers": ["r1", "r2"], "loss.gamma": 1.0, "loss.gamma_final": 0.1}),
     Method("dcgan-sn", {**_ADAM, **_NS, "model.spectral_norm": True}),
     Method("mma-gan", {**_ADAM, **_MMA_SETS}, _DIGITS_ARMS, MMA_SHORT)],
    ["modes", "modes_kl", "modes_hq_fraction", "pr_recall", "dc_coverage", "is_mean", "fid"], seeds=[42, 43, 44, 45, 46],
    plot=("pr_recall", "fid"), curves=("modes", "pr_recall", "dc_coverage", "fid")))

# CIFAR-10 at CPU scale (issue 16): DCGAN at half width (G 128-64-32 channels) on the JPEG copy's training split,
# DCGAN's recipe, 3 seeds; MMA-GAN at K = 4 with L_div, and without it (lambda = 0). In-loop FID and KID on 1000
# samples against 1000 training images (a seed's reference is the same for every arm); LPIPS diversity on 500 pairs.
# 300k real images were declared first; DCGAN's FID was still falling there (202, 125, 113 at 100k, 200k, 300k on
# seed 42), so every arm runs 800k (16 epochs of the split; the recipe has no schedule). The reported numbers
# (issue 27) are FID and KID on 10k samples against the whole training split (the reference cifar10-cpu caches).
# Until 2026-12-06 the study read the whole archive (train and test, 60k images: data.subdir was unset); its shipped
# 1k figures are those.
_MMA_CIFAR_FINAL = Final(("--metrics", "fid,kid", "--n", "10000", "--n-ref", "50000"), ("fid", "kid_mean"))
EXPERIMENTS.register("mma-cifar10-cpu")(Experiment(
    "MMA-GAN (K = 4, lambda 0.5 and 0) vs DCGAN on CIFAR-10 at CPU scale (half-width DCGAN 32x32, the training split, "
    "800k real images, FID/KID on 1000 samples at 8 snapshots, 3 seeds; final FID/KID on 10k samples against the "
    "whole training split)",
    {"cifar10": ("dcgan-cifar10", {"data.subdir": "train", "model.widths": [128, 64, 32], "train.kimg": 800,
                                   "train.snapshot_kimg": 100, "train.log_kimg": 5, "train.metrics": "fid,kid,lpips_div",
                                   "train.eval_n": 1000, "train.tensorboard": False})},
    [Method("dcgan", {**_ADAM, **_NS}),
     Method("mma-gan", {**_ADAM, **_MMA_SETS}, {"model.heads": [4], "loss.mma_lambda": [0.5]}, MMA_SHORT),
     Method("mma-gan-lambda0", {**_ADAM, **_MMA_SETS, "loss.mma_lambda": 0.0}, {"model.heads": [4]}, MMA_SHORT)],
    ["fid", "kid_mean", "lpips_div_mean"], plot=("lpips_div_mean", "fid"), curves=("fid", "kid_mean", "lpips_div_mean"),
    final=_MMA_CIFAR_FINAL))

# GPU scale (declared, run where a GPU is lent): StackedMNIST and CIFAR-10 on a smaller sweep
_SMALL = {"model.heads": [4, 16], "loss.mma_lambda": [0.5], "loss.mma_tau": [0.5]}
EXPERIMENTS.register("mma-stackedmnist")(Experiment(
    "MMA-GAN vs DCGAN and WGAN-GP on StackedMNIST (DCGAN 32x32, mode count on 26,000 samples)",
    {"stackedmnist": ("dcgan-cifar10", {"data.name": "stackedmnist", "train.kimg": 2000, "train.metrics": "modes",
                                         "train.eval_n": 26000, "train.snapshot_kimg": 500})},
    mma_methods(_SMALL), ["modes", "modes_kl"]))
EXPERIMENTS.register("mma-cifar10")(Experiment(
    "MMA-GAN vs DCGAN and WGAN-GP on CIFAR-10 (the JPEG copy; DCGAN 32x32; FID/KID against the same copy)",
    {"cifar10": ("dcgan-cifar10", {"data.subdir": "train", "train.kimg": 5000, "train.metrics": "fid,kid,lpips_div",
                                   "train.eval_n": 10000, "train.snapshot_kimg": 1000})},
    mma_methods(_SMALL), ["fid", "kid_mean", "lpips_div_mean"], plot=("lpips_div_mean", "fid")))

# R3GAN's loss ablation (Huang et al. 2024, sec. 2 and Table 1 on StackedMNIST: RpGAN + R1 + R2 covers every mode,
# GAN + R1 + R2 about 693, either loss with R1 alone fails to converge), at the default job's recipe and budget.
# "GAN" is the non-saturating loss. A run that goes non-finite stops there (train.on_nonfinite=stop): its divergence,
# with the kimg where it happened, is the result, not a rollback with a lowered learning rate.
_ABLATION = {"train.on_nonfinite": "stop", "train.tensorboard": False, "train.log_kimg": 1, "train.snapshot_kimg": 20}
EXPERIMENTS.register("r3gan-ablation")(Experiment(
    "R3GAN's loss ablation on stacked digits: RpGAN or GAN (non-saturating), with R1 + R2 or R1 alone "
    "(the default job's preset and budget, 3 seeds)",
    {"stacked-digits": ("r3gan-digits", _ABLATION)},
    [Method("rpgan+r1+r2", {"loss.name": "rpgan", "loss.regularizers": ["r1", "r2"]}),
     Method("gan+r1+r2", {"loss.name": "nonsaturating", "loss.regularizers": ["r1", "r2"]}),
     Method("rpgan+r1", {"loss.name": "rpgan", "loss.regularizers": ["r1"]}),
     Method("gan+r1", {"loss.name": "nonsaturating", "loss.regularizers": ["r1"]})],
    ["modes", "modes_kl", "modes_hq_fraction"], seeds=[0, 1, 2], plot=("modes", "modes_hq_fraction"),
    curves=("modes", "modes_hq_fraction", "modes_kl")))

# Where does R1 alone fail? (issue 26, docs/results/r3gan_claims.md). The paper's account (sec. 2.4): a D powerful
# enough to memorise the reals escapes a penalty on reals alone, and its gradient on fakes explodes. The pilot maps
# D's capacity (today's widths, 0.112M parameters, and [272, 136, 68], 1.997M: 17.8x, past the "at least 16x";
# [256, 128, 64] would give 15.8x) against the number of distinct real triples (a pool of
# 300, or 1M: no triple shown twice in the run) for RpGAN and GAN, with R1 and with R1 + R2, gamma 0.1 to 100 (10x
# fall over the run, as everywhere), 40k images, one seed; the D probe logs D's gradient on fakes and reals and its
# memorisation gap every 2k images. A non-finite run stops and is recorded where it diverged. The cells that decide
# the verdict are then rerun with 3 seeds. Cost: about 3.5 single-thread minutes per 1x cell; 21 were measured for a
# [256, 128, 64] cell, so about 24 per d18x cell (not measured).
REGIME_GAMMAS = [0.1, 1.0, 10.0, 100.0]
_REGIME = {**_ABLATION, "train.kimg": 40, "train.snapshot_kimg": 20, "train.log_kimg": 2, "train.d_probe": 64}
_REGIME_D = {"d1x": [64, 32, 16], "d18x": [272, 136, 68]}  # D's parameters: 1x and 17.8x


def _regime_methods() -> list[Method]:
    """RpGAN / GAN x R1 / R1 + R2, gamma swept 0.1 to 100 with the 10x fall tied to it."""
    return [Method(name, {"loss.name": loss, "loss.regularizers": regs}, {"loss.gamma": REGIME_GAMMAS},
                   {"loss.gamma": "gamma"}, tied={"loss.gamma_final": ("loss.gamma", 0.1)})
            for name, loss, regs in (("rpgan+r1", "rpgan", ["r1"]), ("rpgan+r1+r2", "rpgan", ["r1", "r2"]),
                                     ("gan+r1", "nonsaturating", ["r1"]), ("gan+r1+r2", "nonsaturating", ["r1", "r2"]))]


EXPERIMENTS.register("r3gan-regime-pilot")(Experiment(
    "Where R1 alone fails: D parameters (1x, 17.8x) x distinct real triples (300, 1M) x RpGAN/GAN x R1 / R1 + R2 x gamma "
    "0.1-100 on stacked digits, 40k images, D probe on, 1 seed (pilot)",
    {f"pool{pool}-{d}": ("r3gan-digits", {**_REGIME, "data.size": pool, "model.widths_d": widths})
     for d, widths in _REGIME_D.items() for pool in (300, 1000000)},
    _regime_methods(), ["modes", "modes_kl", "modes_hq_fraction", "d_gradsq_fake", "d_memorise"], seeds=[0],
    plot=("modes", "modes_hq_fraction"), curves=("modes", "d_gradsq_fake", "d_memorise")))

# Appendix E's lazy claim (lazy R1/R2 every 8 minibatches "resulted in complete convergence failure on Stacked
# MNIST") with both lazy forms, on StackedMNIST at 32 px (the CPU preset, 200k images, 26,000 samples), 3 seeds.
EXPERIMENTS.register("r3gan-lazy")(Experiment(
    "R1 + R2 every step vs lazy every 8 minibatches, fused and StyleGAN2's separate step, on StackedMNIST at 32 px "
    "(r3gan-stackedmnist-cpu, 200k images), 3 seeds",
    {"stackedmnist": ("r3gan-stackedmnist-cpu", {"train.on_nonfinite": "stop", "train.tensorboard": False,
                                                 "train.d_probe": 64})},
    [Method("every-step", {}), Method("lazy8-fused", {"loss.reg_interval": 8}),
     Method("lazy8-stylegan2", {"loss.reg_interval": 8, "loss.lazy_form": "stylegan2"})],
    ["modes", "modes_kl", "modes_hq_fraction"], seeds=[0, 1, 2], plot=("modes", "modes_kl"),
    curves=("modes", "modes_kl", "d_gradsq_fake")))

# bf16 stages against float32 on the loss ablation's setting (issue 13: a faster precision counts only if it trains to
# the same results): the default job's preset and budget, the ablation's seeds.
EXPERIMENTS.register("r3gan-precision")(Experiment(
    "float32 vs bf16 stages (train.precision) on stacked digits (R3GAN, the default job's preset and 180k images); "
    "3 seeds",
    {"stacked-digits": ("r3gan-digits", _ABLATION)},
    [Method("fp32", {"train.precision": "fp32"}), Method("bf16", {"train.precision": "bf16"})],
    ["modes", "modes_kl", "modes_hq_fraction"], seeds=[0, 1, 2], plot=("modes", "modes_hq_fraction"),
    curves=("modes", "modes_hq_fraction", "modes_kl")))

# Cheaper R1/R2 (docs/results/r1r2_cost.md): R3GAN's every-step penalties against lazy regularization (StyleGAN2:
# every k D steps with gamma * k) and a finite-difference estimate without the double backward (regularizers.r1_fd),
# on the loss ablation's setting (the default job's preset and budget, 3 seeds) and on the 25-Gaussian grid.
_COST_METHODS = [Method("r1r2-every-step", {}), Method("lazy4", {"loss.reg_interval": 4}),
                 Method("lazy16", {"loss.reg_interval": 16}), Method("fd", {"loss.regularizers": ["r1_fd", "r2_fd"]})]
EXPERIMENTS.register("r3gan-reg-cost")(Experiment(
    "R1 + R2 every step vs lazy (k = 4, 16) vs a finite-difference estimate, on stacked digits (R3GAN, the default "
    "job's preset and 180k images) and the 25-Gaussian grid (MLP, 400k images); 3 seeds",
    {"stacked-digits": ("r3gan-digits", _ABLATION),
     "grid25": ("mlp-grid25", {**_points(400), "train.snapshot_kimg": 100, "train.log_kimg": 10, "train.on_nonfinite": "stop"})},
    _COST_METHODS, ["modes", "modes_kl", "modes_hq_fraction"], seeds=[0, 1, 2], plot=("modes", "modes_hq_fraction"),
    curves=("modes", "modes_hq_fraction", "modes_kl")))

# The gamma rule (issue 25, docs/results/gamma_rule.md): R3GAN's R1 + R2 weight swept over 4-5 decades at a fixed budget
# of 60k real images, on CIFAR-10 (the JPEG copy, class-conditional as in the paper) at 16 and 32 pixels, at batch 32
# and 128, and on stacked digits. The recipe is the default job's CPU recipe (r3gan-digits: batch 32, lr 2e-3 -> 4e-4,
# beta2 0.9 -> 0.99, the paper's 10x fall of gamma over the run) with the data and widths changed; the 32-pixel network
# is the 16-pixel one plus a 32x32 stage. FID and KID at the end only (an evaluation costs about as much as a third of
# the training on one thread), on 1000 samples against 1000 training images: biased upward
# against FID-10k, comparable within the sweep.
# CIFAR-10 adds 0.001: at 16 px the best of the first five was the lowest, 0.01 (the optimum must be bracketed);
# and 0.0001, when at 32 px the best of six was again the lowest, 0.001.
GAMMAS = [0.01, 0.1, 1.0, 10.0, 100.0]
GAMMAS_CIFAR = [0.0001, 0.001, *GAMMAS]


def _gamma_method(gammas: list[float]) -> list[Method]:
    """R3GAN with loss.gamma swept and gamma_final tied to a tenth of it (the paper's 10x fall over the run)."""
    return [Method("r3gan", {}, {"loss.gamma": gammas}, {"loss.gamma": "gamma"},
                   tied={"loss.gamma_final": ("loss.gamma", 0.1)})]
_GAMMA_RUN = {"train.kimg": 60, "train.snapshot_kimg": 60, "train.checkpoint_kimg": 10, "train.log_kimg": 2,
              "train.ema_kimg": 3, "train.tensorboard": False}
_CIFAR_FOLDER = {"data.name": "folder", "data.subdir": "train", "data.xflip": True, "model.cond": True}
_CIFAR_METRICS = {"train.metrics": "fid,kid", "train.eval_n": 1000}
EXPERIMENTS.register("gamma-cifar10")(Experiment(
    "R3GAN's gamma on CIFAR-10 (JPEG copy, conditional) at 16 and 32 px and batch 32 and 128: 7 gammas over 6 "
    "decades, 60k real images, FID/KID on 1000 samples, 2 seeds",
    {"16px": ("r3gan-digits", {**_CIFAR_FOLDER, **_GAMMA_RUN, **_CIFAR_METRICS, "data.resolution": 16,
                               "model.widths": [64, 64, 32], "model.groups": [8, 8, 4]}),
     "32px": ("r3gan-digits", {**_CIFAR_FOLDER, **_GAMMA_RUN, **_CIFAR_METRICS, "data.resolution": 32,
                               "model.widths": [64, 64, 32, 16], "model.groups": [8, 8, 4, 2]}),
     "16px-b128": ("r3gan-digits", {**_CIFAR_FOLDER, **_GAMMA_RUN, **_CIFAR_METRICS, "data.resolution": 16,
                                    "model.widths": [64, 64, 32], "model.groups": [8, 8, 4], "train.batch": 128})},
    _gamma_method(GAMMAS_CIFAR), ["fid", "kid_mean"], seeds=[42, 43], plot=("kid_mean", "fid"), curves=("fid", "kid_mean")))
EXPERIMENTS.register("gamma-digits")(Experiment(
    "R3GAN's gamma on stacked digits (16 px, the default job's network and recipe): 5 gammas over 4 decades, 60k real "
    "images, modes on 10,000 samples, 2 seeds",
    {"stacked-digits": ("r3gan-digits", _GAMMA_RUN)},
    _gamma_method(GAMMAS), ["modes", "modes_kl", "modes_hq_fraction"], seeds=[42, 43], plot=("modes", "modes_hq_fraction"),
    curves=("modes", "modes_hq_fraction")))

# Every architecture family on stacked digits (issue 27, docs/results/archs.md): each preset as shipped (its paper's
# loss, optimiser and network at a small width), at the budgets of the first, single-seed table (DCGAN and PGGAN 200k
# real images, SNGAN, BigGAN and StyleGAN 100k, R3GAN's default job 180k), 3 seeds, modes and FID (digits features)
# on 10,000 samples at a quarter, half, three quarters and all of each run. The parameter counts come from each run's
# run.json (scripts/archs_report.py). About 60 single-thread minutes per seed.
_ARCHS = {"train.kimg": 200, "train.snapshot_kimg": 50, "train.log_kimg": 5, "train.metrics": "modes,fid",
          "train.eval_extractor": "digits", "train.eval_n": 10000, "train.tensorboard": False}
EXPERIMENTS.register("archs-digits")(Experiment(
    "Every architecture family on stacked digits at its preset's paper recipe: DCGAN and PGGAN (200k real images), "
    "SNGAN, BigGAN and StyleGAN (100k), R3GAN's default job (180k); modes and FID (digits) on 10,000 samples, 3 seeds",
    {"stacked-digits": ("dcgan-digits", _ARCHS)},
    [Method(f, {}, preset=f"{f}-digits", kimg_scale=scale) for f, scale in
     (("dcgan", 1.0), ("pggan", 1.0), ("sngan", 0.5), ("biggan", 0.5), ("stylegan", 0.5), ("r3gan", 0.9))],
    ["modes", "modes_kl", "modes_hq_fraction", "fid"], plot=("modes", "fid"),
    curves=("modes", "modes_kl", "modes_hq_fraction", "fid")))

"""The evaluation driver behind `gankit eval` and the training loop's snapshot metrics.

A *source* streams uint8 images (a generator, a dataset, an image folder or an .npz) or 2-D points;
`evaluate` pushes it once through the extractors the chosen metrics need, scores against a reference
(whose features are cached under a key of image-content hash, extractor, weights and protocol) and
returns {metric: {fields..., protocol...}}. Generated images are quantised as
(x * 127.5 + 128).clamp(0, 255) -> uint8 before any extractor sees them, exactly like a saved PNG.
"""
from __future__ import annotations

import hashlib
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from ..data.base import Dataset
from ..errors import GankitError
from ..registry import Registry
from .metrics import RunningMoments, density_coverage, fid_from_moments, fid_infinity, inception_score, kid, mixture_stats
from .metrics import mode_stats, precision_recall
from .sources import QUANTISATION, Source, dataset_source, generator_source, resolve_source
from .stats import Collected, PartialFeatures, stats_key, read_stats, write_stats

PARTIAL_EVERY = 20  # batches per saved chunk of a reference pass: 2,000 images at the default batch, minutes of Inception

# dataset name -> shipped classifier for mode counting and digit-set IS/FID
CLASSIFIED_SETS = {"digits": "digits", "stacked-digits": "digits", "mnist": "mnist", "stackedmnist": "mnist"}


@dataclass
class EvalOptions:
    """Everything a number depends on besides the two image sets; recorded in each result's protocol."""

    metrics: list[str] = field(default_factory=lambda: ["fid"])
    n: int = 10000  # generated samples (the reference's count is set by its Source; fewer in a set: all, with a warning)
    seed: int = 0  # latents of the generator and the random choice of images from a set
    extractor: str = "inception"  # features for fid, kid, pr, dc
    classifier: str = ""  # probabilities for is and digits for modes ("" : from the dataset, else inception)
    inception_weights: Optional[str] = None
    dinov2_weights: Optional[str] = None
    feature_precision: str = "exact"  # extractors.FEATURE_PRECISIONS: "fast" (bf16) for in-loop snapshots or on request
    lpips_trunk: Optional[str] = None
    lpips_pairs: int = 1000
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    batch: int = 100
    device: str = "cpu"
    cache: bool = True  # cache reference features under gankit's cache folder
    progress: Optional[Callable[[str], None]] = None  # called with a status line every 20 batches (the CLI: stderr)
    protocol: dict = field(default_factory=dict)  # a named protocol's description (protocols.py), recorded as "named"

    def weights(self, extractor: str) -> Optional[str]:
        """The weights file the user named for `extractor` (--inception-weights, --dinov2-weights), else None."""
        return {"inception": self.inception_weights, "dinov2": self.dinov2_weights}.get(extractor)


# --------------------------------------------------------------------------- metrics registry


@dataclass
class Metric:
    """What a metric needs ("features", "probs", "digits", "lpips", "points") and how it scores."""

    needs: str
    reference: bool
    higher_is_better: bool  # of the headline field
    headline: str  # the field that ranks checkpoints
    score: Callable[["Collected", Optional["Collected"], EvalOptions], dict]

    def key(self, name: str) -> str:
        """The headline's key in flatten_results' output."""
        return name if self.headline in ("value", name) else f"{name}_{self.headline}"


METRICS = Registry("metric")


def _register(name: str, needs: str, reference: bool, higher: bool, headline: str):
    def wrap(fn: Callable) -> Callable:
        METRICS.register(name)(Metric(needs, reference, higher, headline, fn))
        return fn
    return wrap


@_register("fid", "features", True, False, "value")
def _fid(g, r, o):
    return {"value": fid_from_moments(g.moments.mean, g.moments.cov, r.moments.mean, r.moments.cov)}


@_register("fid_inf", "features", True, False, "value")
def _fid_inf(g, r, o):
    """FID-infinity (Chong & Forsyth 2020): FID of 15 seeded random subsets, N from n/5 to n, extrapolated to 1/N = 0."""
    ns = sorted({int(v) for v in torch.linspace(max(2, g.n // 5), g.n, 15).round().tolist()})
    gen = torch.Generator().manual_seed(o.seed)
    fids = []
    for n in ns:
        f = g.features[torch.randperm(g.n, generator=gen)[:n]].double()
        fids.append(fid_from_moments(f.mean(0), torch.cov(f.T), r.moments.mean, r.moments.cov))
    return {"value": fid_infinity(fids, ns), "ns": ns, "fids": fids}


@_register("kid", "features", True, False, "mean")
def _kid(g, r, o):
    return kid(g.features, r.features, o.kid_subsets, o.kid_subset_size, seed=o.seed)


PR_K = 3  # improved precision/recall's k-NN radius (Kynkaanniemi et al. 2019: k = 3)
DC_K = 5  # density/coverage's (Naeem et al. 2020: k = 5)


@_register("pr", "features", True, True, "precision")
def _pr(g, r, o):
    return precision_recall(r.features, g.features, k=PR_K, real_knn=r.knn, fake_knn=g.knn)


@_register("dc", "features", True, True, "coverage")
def _dc(g, r, o):
    return density_coverage(r.features, g.features, k=DC_K, real_knn=r.knn)


@_register("is", "probs", False, True, "mean")
def _is(g, r, o):
    return inception_score(g.probs, splits=10)


POINT_METRICS = {"modes", "pr", "dc"}  # on 2-D points; FID/KID/IS/LPIPS are image metrics
HQ_CONFIDENCE = 0.9  # a stacked-digit sample is "high quality" when the classifier gives each channel's digit >= 0.9


@_register("modes", "digits", False, True, "modes")
def _modes(g, r, o):
    if g.points is not None:
        ds = g.dataset
        return mixture_stats(g.points, ds.centers, ds.sigma)
    from .classifiers import digits_to_modes

    c = g.digits.shape[1]
    hq = float((g.digit_conf.min(1).values >= HQ_CONFIDENCE).float().mean())  # every channel read with confidence
    return {**mode_stats(digits_to_modes(g.digits), 10 ** c), "num_modes": 10 ** c, "hq_fraction": hq}


@_register("lpips_div", "lpips", False, True, "mean")
def _lpips_div(g, r, o):
    return g.lpips.result()


# --------------------------------------------------------------------------- collection


def _classifier_for(src: Source, ref: Optional[Source], opts: EvalOptions) -> str:
    if opts.classifier:
        return opts.classifier
    for s in (src, ref):
        if s is not None and s.dataset_name in CLASSIFIED_SETS:
            return CLASSIFIED_SETS[s.dataset_name]
    return ""


def collect(src: Source, needs: set[str], opts: EvalOptions, ref: Optional[Source] = None,
            partial: Optional[PartialFeatures] = None) -> Collected:
    """One streaming pass: features (moments + rows), probabilities, per-channel digits, LPIPS pairs. With `partial`
    (features only), the batches it holds are read back instead of extracted, and new ones are saved to it."""
    from .metrics.extractors import load_extractor

    out = Collected(dataset=src.dataset)
    if src.kind == "points":  # 2-D mixtures: the coordinates are the features (k-NN metrics in the plane)
        out.points = torch.cat(list(src.batches(max(opts.batch, 1024))))
        out.n = out.points.shape[0]
        out.features = out.points.float()
        out.protocols = {"features": {"features": "the raw 2-D coordinates (no extractor)"}}
        return out
    clf = _classifier_for(src, ref, opts)
    fp = opts.feature_precision
    feat = load_extractor(opts.extractor, opts.weights(opts.extractor), opts.device, fp) if "features" in needs else None
    prob = load_extractor(clf or "inception", opts.weights(clf or "inception"), opts.device, fp) if "probs" in needs else None
    one_pass = feat is not None and prob is feat  # features and IS probabilities from the same network: one pass
    if "digits" in needs and clf not in ("digits", "mnist"):
        raise GankitError("modes counts digits per channel; pass --classifier digits (8x8 sklearn digits) or mnist")
    dig = load_extractor(clf, None, opts.device) if "digits" in needs else None
    pairs = None
    if "lpips" in needs:
        from .metrics.lpips import PairDistances, load_lpips

        net, out.lpips_sha = load_lpips(opts.lpips_trunk, opts.device)
        pairs = PairDistances(net, opts.lpips_pairs)
    h, feats, probs, digits = hashlib.sha256(), [], [], []
    if feat is not None:
        out.moments = RunningMoments()
    if partial is not None and needs != {"features"}:
        raise ValueError("a partial pass saves features only")
    done = partial.load() if partial is not None else []
    resumed = sum(len(f) for f in done)  # read back, not extracted: left out of the rate
    if done and opts.progress:
        opts.progress(f"{src.describe.get('kind')}: resuming after {resumed} images saved in {partial.folder}")
    t0 = time.time()
    t_new: Optional[float] = None  # when the first batch not read back began: the rate counts extracted images only
    t_extract = 0.0
    for i, x in enumerate(src.batches(opts.batch)):
        t1 = time.perf_counter()
        if t_new is None and i >= len(done):
            t_new = time.time()
        h.update(x.numpy().tobytes())
        out.n += x.shape[0]
        if feat is not None:
            if i < len(done):
                f, p = done[i], None
            else:
                f, p = feat.features_and_probs(x) if one_pass else (feat.features(x), None)
                if partial is not None:
                    partial.add(f)
            out.moments.update(f)
            feats.append(f)
        if prob is not None:
            probs.append(p if one_pass else prob.probs(x))
        if dig is not None:
            digits.append(dig.digits(x))  # (digits, confidences)
        if pairs is not None:
            pairs.update(x)
        t_extract += time.perf_counter() - t1
        if opts.progress and (i == 0 or i % 20 == 19 or out.n >= src.n):  # the first batch, every 20th and the last
            rate = (f"{(out.n - resumed) / max(time.time() - t_new, 1e-9):.1f} img/s" if t_new is not None
                    else "read back from the saved chunks")
            opts.progress(f"{src.describe.get('kind')}: {out.n}/{src.n} images, {rate}")
    out.seconds = {"source": round(time.time() - t0 - t_extract, 3), "extract": round(t_extract, 3)}
    out.images_sha256 = h.hexdigest()
    out.features = torch.cat(feats) if feats else None
    out.probs = torch.cat(probs) if probs else None
    out.digits = torch.cat([d for d, _ in digits]) if digits else None
    out.digit_conf = torch.cat([c for _, c in digits]) if digits else None
    out.lpips = pairs
    out.protocols = {k: e.protocol() for k, e in (("features", feat), ("probs", prob), ("digits", dig)) if e is not None}
    return out


def reference(ref: Source, needs: set[str], opts: EvalOptions, save: Optional[Path] = None) -> Collected:
    """The reference's features: from a statistics file, gankit's cache, or one pass (then cached)."""
    from .metrics.extractors import load_extractor

    if ref.kind == "points":  # coordinates: nothing to extract, nothing worth caching
        return collect(ref, needs, opts)
    from .metrics.inception import cache_dir

    proto = load_extractor(opts.extractor, opts.weights(opts.extractor), opts.device, opts.feature_precision).protocol()
    if ref.stats is not None:
        if ref.stats["protocol"] != proto:
            diff = sorted(k for k in set(proto) | set(ref.stats["protocol"]) if proto.get(k) != ref.stats["protocol"].get(k))
            raise GankitError(f"{ref.describe['path']} was computed with a different extractor protocol ({', '.join(diff)}); recompute it")
        return ref.stats["collected"]
    h = hashlib.sha256()
    for x in ref.batches(opts.batch):
        h.update(x.numpy().tobytes())
    path = cache_dir() / "stats" / f"{stats_key(h.hexdigest(), proto)}.safetensors"
    cached = opts.cache  # whether the statistics are in the cache file when this returns
    c = None
    if cached and path.is_file():
        try:
            c = read_stats(path)["collected"]
        except GankitError as e:  # a damaged entry (a disk error, a hand edit): replaced, never a dead end
            warnings.warn(f"{e}: the damaged cache entry is recomputed and replaced", stacklevel=2)
    if c is None:
        partial = PartialFeatures(path.parent, path.stem, batch=opts.batch, device=str(opts.device), n=ref.n,
                                  every=PARTIAL_EVERY) if cached else None
        c = collect(ref, {"features"}, opts, partial=partial)
        if cached:
            try:
                write_stats(path, c, proto)
                if partial is not None:
                    partial.clear()
            except OSError as e:  # the cache only saves time: say so and go on
                warnings.warn(f"could not write the reference statistics cache {path} ({e}); the result is unaffected. "
                              "Set $GANKIT_CACHE to a writable folder, or pass --no-cache", stacklevel=2)
                cached = False
    if save is not None:
        write_stats(save, c, proto)
    ref.describe["stats_cache"] = str(path) if cached else ""
    return c


# --------------------------------------------------------------------------- driver


def evaluate(src: Source, ref: Optional[Source], opts: EvalOptions, save_ref: Optional[Path] = None,
             ref_collected: Optional[Collected] = None) -> dict:
    """{metric: {its fields..., "protocol": {...}}} for opts.metrics (registry names).

    ref_collected: the reference's features when the caller already has them (the training loop).
    """
    metrics = {m: METRICS.get(m) for m in opts.metrics}
    if not metrics:
        raise GankitError(f"no metrics asked for; pass --metrics with some of {', '.join(METRICS.names())}")
    needs = {m.needs for m in metrics.values()}
    if src.kind == "points" and set(metrics) - POINT_METRICS:
        raise GankitError(f"2-D point sets support the metrics {', '.join(sorted(POINT_METRICS))} (precision/recall "
                          f"and density/coverage on the coordinates), not {', '.join(sorted(set(metrics) - POINT_METRICS))}")
    if opts.n < 1:
        raise GankitError(f"--n must be positive, got {opts.n}")
    need_ref = needs_reference(list(metrics))
    if need_ref and ref is None:
        raise GankitError(f"{', '.join(k for k, m in metrics.items() if m.reference)} compare against a reference; pass --ref")
    if "kid" in metrics:  # refused before any feature is extracted, not after minutes of Inception
        sizes = {"generated set (--n)": src.n}
        if ref_collected is not None:
            sizes["reference (--n-ref)"] = ref_collected.n
        elif ref is not None:
            sizes["reference (--n-ref)"] = ref.stats["collected"].n if ref.stats is not None else ref.n
        short = [f"the {k} has {v}" for k, v in sizes.items() if v < opts.kid_subset_size]
        if short:
            raise GankitError(f"KID draws subsets of {opts.kid_subset_size} samples but {' and '.join(short)}; raise the "
                              "counts or lower --kid-subset-size")
    if need_ref and "features" in needs and opts.extractor in _PER_CHANNEL and ref_collected is None:
        a, b = _channels(src), _channels(ref)  # refused before any image is read or generated
        if a and b and a != b:
            raise GankitError(f"the images have {a} channel(s) and the reference {b}: {_channel_hint(opts.extractor, a, b)}")
    # the reference first: its pass is saved in chunks and cached, so a kill or an error there wastes no generated
    # features (a first fid10k_full on CIFAR-10 spends hours on its 50,000 images, minutes on the 10,000 samples)
    t0 = time.perf_counter()
    r = ref_collected if ref_collected is not None or not need_ref else reference(ref, {"features"}, opts, save_ref)
    t_ref = round(time.perf_counter() - t0, 3)
    g = collect(src, needs, opts, ref)
    if need_ref and "features" in needs:
        _check_same_features(g, r, opts.extractor)
    seconds = {"generate" if src.describe.get("kind") == "generator" else "read": g.seconds.get("source", 0.0),
               "extract": g.seconds.get("extract", 0.0), "reference": t_ref}
    results = {}
    for name, m in metrics.items():
        proto = {"n_gen": g.n, "seed": opts.seed, "quantisation": QUANTISATION, "source": src.describe,
                 **g.protocols.get(m.needs, {})}
        if opts.protocol:
            proto["named"] = opts.protocol
        if m.reference:
            proto.update(n_ref=r.n, reference=ref.describe)
        if name == "kid":
            proto.update(subsets=opts.kid_subsets, subset_size=opts.kid_subset_size)
        if name in ("pr", "dc"):  # the k-NN radius sets the values: a number without it cannot be compared
            proto.update(k=PR_K if name == "pr" else DC_K)
        if name == "lpips_div":
            from .metrics.lpips import MIN_SIZE

            proto.update(net="lpips-alex-v0.1", weights_sha256=g.lpips_sha, resize=f"bilinear up to {MIN_SIZE} px when smaller")
        t0 = time.perf_counter()
        fields = m.score(g, r, opts)
        results[name] = {**fields, "seconds": {**seconds, "score": round(time.perf_counter() - t0, 3)}, "protocol": proto}
    return results


def _feature_dim(c: Collected) -> int:
    """The width of a pass's feature rows (its moments' width where only statistics were kept); 0 when it has none."""
    if c.features is not None:
        return int(c.features.shape[1])
    return int(c.moments.mean.shape[0]) if c.moments is not None and c.moments.n > 0 else 0


_PER_CHANNEL = {"digits": ("digits", "stacked-digits"), "mnist": ("mnist", "stackedmnist")}  # extractor -> 1-, 3-channel sets


def _channel_hint(extractor: str, a: int, b: int) -> str:
    """Why a per-channel classifier's features differ in width: the images have a channels, the reference b."""
    sets = _PER_CHANNEL[extractor]
    return (f"{extractor} reads each channel on its own, so their features differ in width; compare sets with the same"
            f" channels (--ref {sets[a > b]} for {3 if a > b else 1}-channel images)")


def _channels(s: Optional[Source]) -> int:
    """A source's channel count where its dataset declares its shape (a set or a run's training set); 0 if unknown."""
    shape = getattr(s.dataset, "shape", None) if s is not None and s.dataset is not None else None
    return int(shape[0]) if shape and len(shape) == 3 else 0


def _check_same_features(g: Collected, r: Collected, extractor: str) -> None:
    """Both sides' features come from one extractor on images alike, else one line that says why they differ (the
    check before extraction covers sources whose channels are known; this one, statistics files and the rest)."""
    dg, dr = _feature_dim(g), _feature_dim(r)
    if dg and dr and dg != dr:
        a, b = dg // math.gcd(dg, dr), dr // math.gcd(dg, dr)  # the channel counts: one extractor, features per channel
        hint = (_channel_hint(extractor, a, b) if extractor in _PER_CHANNEL else "score both sets with one extractor, "
                "on images of the same kind (not 2-D points against images), and recompute a reference computed with "
                "another")
        raise GankitError(f"the images' features have {dg} dimensions and the reference's {dr}"
                          f"{f' ({a} channel(s) against {b})' if extractor in _PER_CHANNEL else ''}: {hint}")


def needs_reference(metrics: list[str]) -> bool:
    """Whether any of the named metrics compares against a reference set."""
    return any(METRICS.get(m).reference for m in metrics)


def flatten_results(results: dict) -> dict[str, float]:
    """Scalars for logs: a metric's "value" (or the field named like it) as `name`, other fields as `name_field`."""
    flat = {}
    for name, fields in results.items():
        for k, v in fields.items():
            if k != "protocol" and isinstance(v, (int, float)):
                flat[name if k in ("value", name) else f"{name}_{k}"] = float(v)
    return flat


_SNAPSHOT_REF: dict[tuple, tuple[Dataset, Source, "Collected"]] = {}  # the training set's features, once per run


def snapshot_metrics(G: nn.Module, dataset: Dataset, dataset_name: str, metrics: list[str], n: int,
                     seed: int, device: str = "cpu", extractor: str = "inception", feature_precision: str = "exact") -> dict:
    """The training loop's metrics of G on n samples, against the training set where a reference is needed.

    The reference's features are computed (or read from the disk cache) at the first snapshot and kept
    in memory for the later ones, so a snapshot does not re-read and re-hash the training images.
    """
    if not metrics or n <= 0:
        return {}
    opts = EvalOptions(metrics=metrics, n=n, seed=seed, device=device, extractor=extractor, feature_precision=feature_precision)
    src = generator_source(G, n, seed, dataset, dataset_name)
    if not needs_reference(metrics):
        return evaluate(src, None, opts)
    key = (id(dataset), n, seed, extractor, device, feature_precision)
    hit = _SNAPSHOT_REF.get(key)
    if hit is None or hit[0] is not dataset:
        _SNAPSHOT_REF.clear()
        ref = dataset_source(dataset, n, seed, dataset_name)
        hit = _SNAPSHOT_REF[key] = (dataset, ref, reference(ref, {"features"}, opts))
    return evaluate(src, hit[1], opts, ref_collected=hit[2])


def default_metrics(dataset: Dataset, dataset_name: str) -> list[str]:
    """Snapshot metrics when train.metrics is "auto": mode coverage where the set has a mode metric, else none."""
    if dataset.kind == "points" and hasattr(dataset, "centers"):
        return ["modes"]
    return ["modes"] if dataset_name in CLASSIFIED_SETS else []


__all__ = ["EvalOptions", "METRICS", "Source", "dataset_source", "default_metrics", "evaluate", "flatten_results",
           "generator_source", "resolve_source", "snapshot_metrics"]

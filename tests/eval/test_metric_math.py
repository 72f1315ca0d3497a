"""FID, KID, precision/recall, density/coverage and IS against closed forms and brute-force references."""
import math

import numpy as np
import pytest
import torch

from gankit.errors import GankitError
from gankit.eval.metrics.fid import RunningMoments, fid, fid_from_moments, fid_from_moments_symmetric, fid_infinity
from gankit.eval.metrics.inception_score import inception_score
from gankit.eval.metrics.kid import kid
from gankit.eval.metrics.prdc import density_coverage, precision_recall

try:
    import scipy.linalg as sla
except ImportError:  # scipy is not a gankit dependency
    sla = None


def _sqrtm_ref(a: np.ndarray) -> np.ndarray:
    """Matrix square root independent of gankit: scipy's Schur-based sqrtm, else a numpy eigh route."""
    if sla is not None:
        return np.real(sla.sqrtm(a))
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _fid_ref(mu1, s1, mu2, s2) -> float:
    """Closed form with tr sqrt(S1^1/2 S2 S1^1/2) via the reference sqrtm."""
    r1 = _sqrtm_ref(s1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(_sqrtm_ref(r1 @ s2 @ r1)))


def _random_spd(d, rng, cond=10.0):
    """Random SPD matrix with eigenvalues spread log-uniformly over [1, cond]."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.exp(rng.uniform(0, math.log(cond), d))) @ q.T


# ---------------------------------------------------------------- FID

def test_fid_diagonal_gaussians_closed_form():
    rng = np.random.default_rng(0)
    d = 16
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = rng.uniform(0.1, 4, d), rng.uniform(0.1, 4, d)
    expect = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    t = torch.from_numpy
    for f in (fid_from_moments, fid_from_moments_symmetric):
        got = f(t(mu1), t(np.diag(a)), t(mu2), t(np.diag(b)))
        assert got == pytest.approx(expect, rel=1e-8, abs=1e-8)


def test_fid_non_commuting_closed_form_from_moments():
    # Known matrices that do not commute: S1 = diag, S2 = rotation of another diag.
    s1 = np.diag([4.0, 1.0, 0.25])
    c, s = math.cos(0.7), math.sin(0.7)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    s2 = rot @ np.diag([2.0, 0.5, 3.0]) @ rot.T
    assert np.abs(s1 @ s2 - s2 @ s1).max() > 0.1
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 0.0, 2.0])
    expect = _fid_ref(mu1, s1, mu2, s2)
    # Second independent route: tr sqrt(S1 S2) = sum sqrt(eig(S1 S2)) by numpy.
    alt = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.sqrt(np.linalg.eigvals(s1 @ s2).real).sum()
    assert expect == pytest.approx(alt, rel=1e-10)
    t = torch.from_numpy
    assert fid_from_moments(t(mu1), t(s1), t(mu2), t(s2)) == pytest.approx(expect, rel=1e-8, abs=1e-8)
    assert fid_from_moments_symmetric(t(mu1), t(s1), t(mu2), t(s2)) == pytest.approx(expect, rel=1e-8, abs=1e-8)

    # From samples: FID of 200k draws per side approaches the closed form (bias ~ d/N, noise ~ 1/sqrt(N)).
    g = torch.Generator().manual_seed(1)
    n = 200_000
    x = torch.randn(n, 3, generator=g, dtype=torch.float64) @ t(np.linalg.cholesky(s1)).T + t(mu1)
    y = torch.randn(n, 3, generator=g, dtype=torch.float64) @ t(np.linalg.cholesky(s2)).T + t(mu2)
    assert fid(x, y) == pytest.approx(expect, rel=0.01)


def test_fid_eig_and_symmetric_paths_agree_dim64():
    rng = np.random.default_rng(2)
    for _ in range(3):
        s1, s2 = _random_spd(64, rng, 100.0), _random_spd(64, rng, 100.0)
        mu1, mu2 = rng.standard_normal(64), rng.standard_normal(64)
        t = torch.from_numpy
        a = fid_from_moments(t(mu1), t(s1), t(mu2), t(s2))
        b = fid_from_moments_symmetric(t(mu1), t(s1), t(mu2), t(s2))
        assert a == pytest.approx(b, rel=1e-6)
        assert a == pytest.approx(_fid_ref(mu1, s1, mu2, s2), rel=1e-6)


def test_fid_rank_deficient_covariances_stay_finite():
    # N < D: both covariances are singular, S1 S2 has many (numerically) zero eigenvalues.
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(40, 128, generator=g), torch.randn(40, 128, generator=g) + 0.1
    a = fid(x, y)
    b = fid_from_moments_symmetric(x.double().mean(0), torch.cov(x.double().T), y.double().mean(0), torch.cov(y.double().T))
    assert math.isfinite(a) and a > 0
    assert a == pytest.approx(b, rel=1e-6)


def test_fid_self_is_zero():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3000, 256, generator=g) * torch.linspace(0.1, 3, 256) + 2.0
    assert abs(fid(x, x)) < 1e-6


def test_running_moments_match_torch_cov_and_round_trip():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1037, 32, generator=g, dtype=torch.float64) * 3 + 1e4  # large offset: stability check
    rm = RunningMoments()
    for chunk in torch.split(x, 100):
        rm.update(chunk)
    rm.update(x[:0])  # empty batch is a no-op
    assert rm.n == 1037
    assert torch.allclose(rm.mean, x.mean(0), rtol=0, atol=1e-10)
    assert torch.allclose(rm.cov, torch.cov(x.T), rtol=0, atol=1e-10)
    rm2 = RunningMoments()
    rm2.load_state_dict(rm.state_dict())
    assert rm2.n == rm.n and torch.equal(rm2.mean, rm.mean) and torch.equal(rm2.cov, rm.cov)
    # Streaming continues identically after a reload.
    extra = torch.randn(50, 32, generator=g, dtype=torch.float64)
    rm.update(extra)
    rm2.update(extra)
    assert torch.equal(rm.cov, rm2.cov)
    with pytest.raises(GankitError, match="feature dim"):
        rm.update(torch.randn(4, 31))
    with pytest.raises(GankitError, match="at least 2"):
        r = RunningMoments()
        r.update(torch.randn(1, 3))
        _ = r.cov


def test_fid_infinity_recovers_intercept():
    ns = [5000, 10000, 20000, 35000, 50000]
    fids = [7.25 + 4321.0 / n for n in ns]
    assert fid_infinity(fids, ns) == pytest.approx(7.25, rel=1e-12)
    with pytest.raises(GankitError):
        fid_infinity([1.0, 2.0], [100, 100])
    with pytest.raises(GankitError):
        fid_infinity([1.0], [100])


def test_fid_bad_input_errors():
    x = torch.randn(50, 8)
    bad = x.clone()
    bad[3, 1] = float("nan")
    bad[7] = float("inf")
    with pytest.raises(GankitError, match="2 of 50 rows"):
        fid(bad, x)
    with pytest.raises(GankitError, match="at least 2"):
        fid(x[:1], x)
    with pytest.raises(GankitError, match="feature dim"):
        fid(x, torch.randn(50, 9))
    with pytest.raises(GankitError):
        RunningMoments().update(bad)


# ---------------------------------------------------------------- KID

def _kid_ref(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2, cubic kernel, explicit double loop sums over i != j (full sets)."""
    d, m = x.shape[1], x.shape[0]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    mask = ~np.eye(m, dtype=bool)
    return kxx[mask].mean() + kyy[mask].mean() - 2 * kxy.mean()


def test_kid_matches_reference_on_full_sets():
    g = torch.Generator().manual_seed(6)
    x, y = torch.randn(200, 10, generator=g), torch.randn(200, 10, generator=g) + 0.3
    # subset_size = N: each subset is a permutation of the whole set, so every subset gives the same MMD.
    r = kid(x, y, subsets=3, subset_size=200)
    assert r["mean"] == pytest.approx(_kid_ref(x.double().numpy(), y.double().numpy()), rel=1e-10)
    assert r["std"] < 1e-10
    assert r["subsets"] == 1  # one distinct draw, said so: the 0 std is by construction
    r = kid(x, y, subsets=3, subset_size=150)
    assert r["subsets"] == 3 and r["std"] > 0


def test_kid_unbiased_zero_for_same_distribution_positive_for_shift():
    g = torch.Generator().manual_seed(7)
    same, shifted = [], []
    for s in range(30):
        x, y = torch.randn(300, 16, generator=g), torch.randn(300, 16, generator=g)
        same.append(kid(x, y, subsets=10, subset_size=100, seed=s)["mean"])
        shifted.append(kid(x, y + 0.5, subsets=10, subset_size=100, seed=s)["mean"])
    same = np.array(same)
    se = same.std(ddof=1) / math.sqrt(len(same))
    assert abs(same.mean()) < 4 * se
    assert min(shifted) > 0 and np.mean(shifted) > 20 * same.std(ddof=1)
    # Seeded: same seed, same answer; the std is over subsets.
    x, y = torch.randn(300, 16, generator=g), torch.randn(300, 16, generator=g)
    assert kid(x, y, 5, 100, seed=1) == kid(x, y, 5, 100, seed=1)
    assert kid(x, y, 5, 100, seed=1)["mean"] != kid(x, y, 5, 100, seed=2)["mean"]  # the seed draws the subsets


def test_kid_too_few_samples_errors():
    x, y = torch.randn(500, 4), torch.randn(2000, 4)
    with pytest.raises(GankitError, match="feats1 has 500 samples but subset_size is 1000"):
        kid(x, y)
    with pytest.raises(GankitError, match="NaN"):
        kid(torch.full((2000, 4), float("nan")), y)


# ---------------------------------------------------------------- precision / recall / density / coverage

def _prdc_ref(real: np.ndarray, fake: np.ndarray, k: int) -> dict:
    """Brute force on full distance matrices (Kynkaanniemi et al. 2019; Naeem et al. 2020)."""
    d = lambda a, b: np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # noqa: E731
    drr, dff, drf = d(real, real), d(fake, fake), d(real, fake)
    np.fill_diagonal(drr, np.inf)
    np.fill_diagonal(dff, np.inf)
    r_real = np.sort(drr, 1)[:, k - 1]
    r_fake = np.sort(dff, 1)[:, k - 1]
    inside = drf <= r_real[:, None]  # [N, M]: fake j inside real i's ball (NVlabs' precision/recall: <=)
    return {
        "precision": inside.any(0).mean(),
        "recall": (drf <= r_fake[None, :]).any(1).mean(),
        "density": (drf < r_real[:, None]).sum() / (k * fake.shape[0]),  # Naeem et al.'s prdc: strict <
        "coverage": (drf.min(1) < r_real).mean(),
    }


@pytest.mark.parametrize("k", [1, 3, 5])
def test_prdc_matches_brute_force(k):
    g = torch.Generator().manual_seed(10 + k)
    real = torch.randn(157, 6, generator=g)
    fake = torch.randn(113, 6, generator=g) * 1.3 + 0.4
    ref = _prdc_ref(real.double().numpy(), fake.double().numpy(), k)
    for batch in (17, 64, 1024):  # blocks smaller than, not dividing, and larger than the sets
        pr = precision_recall(real, fake, k=k, batch=batch)
        dc = density_coverage(real, fake, k=k, batch=batch)
        assert pr["precision"] == ref["precision"] and pr["recall"] == ref["recall"]
        assert dc["density"] == pytest.approx(ref["density"], rel=1e-14) and dc["coverage"] == ref["coverage"]
    assert 0 < ref["precision"] < 1 and 0 < ref["recall"] < 1 and 0 < ref["coverage"] < 1


def test_ties_follow_each_papers_code():
    """Points 0, 1, 2 (1-D) scored against themselves, k = 1: every radius is 1 and neighbours sit exactly on it.
    NVlabs' precision/recall count the boundary (<=): both 1. Naeem et al.'s density/coverage do not (<): each fake
    lies strictly inside only its own twin's ball, so density = 3 / (1 * 3) = 1 (with <= it would be 7 / 3), and
    coverage = 1 (nearest fake at distance 0 < 1). Catches a <= in density or a < in precision."""
    x = torch.tensor([[0.0], [1.0], [2.0]])
    assert density_coverage(x, x, k=1) == {"density": 1.0, "coverage": 1.0}
    assert precision_recall(x, x, k=1) == {"precision": 1.0, "recall": 1.0}
    y = torch.tensor([[0.5], [3.5], [1.0]])  # 0.5 strictly inside two balls; 3.5 in none; 1.0 on two boundaries, in one
    assert density_coverage(x, y, k=1)["density"] == pytest.approx(3 / 3)
    assert precision_recall(x, y, k=1)["precision"] == pytest.approx(2 / 3)


def test_fast_distances_decide_every_tie_as_the_exact_ones():
    """Distances come from GEMM (|a|^2 + |b|^2 - 2ab) except within its error bound of a radius, where _dist decides.
    A set scored against itself puts each point's k-th neighbour exactly on its radius; far from the origin (offset
    100) the GEMM form misplaces about half of those ties, so density would exceed 1 if they were not re-measured.
    Rows whose near-ties overflow the kept neighbours (a lattice: 18 points within sqrt 2) take the full exact scan."""
    from gankit.eval.metrics import prdc

    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64) + 100.0
    for k in (1, 3, 5):
        assert density_coverage(x, x, k=k, batch=64) == {"density": 1.0, "coverage": 1.0}
        assert precision_recall(x, x, k=k, batch=64) == {"precision": 1.0, "recall": 1.0}
    grid = torch.stack(torch.meshgrid(*[torch.arange(5.0)] * 3, indexing="ij"), -1).view(-1, 3).double() + 1e3
    for k in (5, 10, 20):
        exact = prdc._knn_radii_exact(grid, torch.arange(len(grid)), k, 32)
        assert torch.equal(prdc.knn_radii(grid, k, batch=32), exact)
    assert prdc.knn_radii(grid, 10)[62] == math.sqrt(2)  # the centre (2, 2, 2): 6 at 1, then 12 at sqrt 2
    # 30 points at distances 1 + i 1e-13 from a centre far out: far closer together than the GEMM's error, so its
    # order of them is noise and only the exact scan of the overflowing row finds the 5 nearest
    g = torch.Generator().manual_seed(4)
    u = torch.nn.functional.normalize(torch.randn(30, 3, generator=g, dtype=torch.float64), dim=1)
    centre = torch.full((1, 3), 1e3, dtype=torch.float64)
    shell = torch.cat([centre, centre + u * (1 + 1e-13 * torch.randperm(30, generator=g).double()[:, None])])
    assert torch.equal(prdc.knn_radii(shell, 5), prdc._knn_radii_exact(shell, torch.arange(31), 5, 1024))


def test_each_statistic_on_an_exact_tie():
    """Real {0, 1}, fake {2, 3} (1-D), k = 1: every radius is 1, and the only contact is real 1 - fake 2 at distance
    exactly 1. precision (<=): fake 2 counts, 1/2; recall (<=): real 1 counts, 1/2; density (<): no fake strictly
    inside a real ball, 0; coverage (<): real 1's nearest fake is not strictly inside its radius, 0. Flipping any one
    comparison flips exactly one of the four (each mutation was seen failing here)."""
    real, fake = torch.tensor([[0.0], [1.0]]), torch.tensor([[2.0], [3.0]])
    assert precision_recall(real, fake, k=1) == {"precision": 0.5, "recall": 0.5}
    assert density_coverage(real, fake, k=1) == {"density": 0.0, "coverage": 0.0}


def test_expected_coverage_identical_distributions():
    # Naeem et al. 2020, sec. 3.2: with N real and M fake i.i.d. from one distribution, real sample X_i
    # is NOT covered iff its k nearest neighbours among the other N - 1 reals and the M fakes (all
    # exchangeable) are all real: C(N-1, k) / C(N+M-1, k) = prod_{i=1..k} (N - i) / (M + N - i).
    # So E[coverage] = 1 - prod_{i=1..k} (N - i) / (M + N - i), N = #real, M = #fake.
    n_real, m_fake, k, draws = 150, 100, 5, 60
    expect = 1 - np.prod([(n_real - i) / (m_fake + n_real - i) for i in range(1, k + 1)])
    g = torch.Generator().manual_seed(20)
    cov = []
    for _ in range(draws):
        real, fake = torch.randn(n_real, 4, generator=g), torch.randn(m_fake, 4, generator=g)
        cov.append(density_coverage(real, fake, k=k)["coverage"])
    cov = np.array(cov)
    se = cov.std(ddof=1) / math.sqrt(draws)
    assert abs(cov.mean() - expect) < 4 * se
    # Sanity: the check has power (the expected value is far from trivial bounds).
    assert 0.7 < expect < 0.99


def test_prdc_errors():
    with pytest.raises(GankitError, match="more than 3 samples"):
        precision_recall(torch.randn(3, 2), torch.randn(10, 2))
    with pytest.raises(GankitError, match="NaN"):
        density_coverage(torch.randn(10, 2), torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(GankitError, match="feature dim"):
        density_coverage(torch.randn(10, 2), torch.randn(10, 3))


def test_prdc_reads_kept_radii_and_a_kept_reference_pays_for_them_once(monkeypatch):
    """A memo of a set's k-NN radii gives the same numbers as none, and is what the metrics read (a doctored memo changes
    them); across two snapshots of one run the reference's radii are computed once per k, the samples' every time."""
    from gankit.data import DataConfig, build_dataset
    from gankit.eval import evaluate as ev
    from gankit.eval.metrics import prdc

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 4, generator=g), torch.randn(200, 4, generator=g) * 1.3
    real_knn, fake_knn = {}, {}
    assert precision_recall(x, y, real_knn=real_knn, fake_knn=fake_knn) == precision_recall(x, y)
    assert density_coverage(x, y, real_knn=real_knn) == density_coverage(x, y)
    assert set(real_knn) == {3, 5} and set(fake_knn) == {3}
    assert precision_recall(x, y, real_knn={3: real_knn[3] * 0}, fake_knn=fake_knn)["precision"] == 0.0
    assert density_coverage(x, y, real_knn={5: real_knn[5] * 2})["coverage"] > density_coverage(x, y)["coverage"]

    calls: list[int] = []
    real_radii = prdc.knn_radii
    monkeypatch.setattr(prdc, "knn_radii", lambda f, k, batch=1024: (calls.append(len(f)), real_radii(f, k, batch))[1])
    ds = build_dataset(DataConfig(name="grid25"))
    class G(torch.nn.Linear):  # a generator of 2-D points: z -> a linear map of z
        z_dim, num_classes = 2, 0

        def forward(self, z, c=None):
            return super().forward(z)

    G = G(2, 2)
    ev._SNAPSHOT_REF.clear()
    first = ev.snapshot_metrics(G, ds, "grid25", ["pr", "dc"], n=150, seed=0)
    with torch.no_grad():
        G.weight.mul_(2.0)  # the generator trains between snapshots
    second = ev.snapshot_metrics(G, ds, "grid25", ["pr", "dc"], n=150, seed=0)
    assert first != second and len(calls) == 4  # reference: k = 3 and k = 5 once; samples: k = 3 at each snapshot


# ---------------------------------------------------------------- Inception Score

def test_inception_score_extremes():
    c, n, splits = 7, 7 * 10 * 5, 10
    onehot = torch.nn.functional.one_hot(torch.arange(n) % c, c).float()  # every split is balanced
    r = inception_score(onehot, splits=splits)
    assert r["mean"] == pytest.approx(c, rel=1e-12) and r["std"] < 1e-12
    same = torch.softmax(torch.randn(1, c), 1).expand(n, c)
    r = inception_score(same, splits=splits)
    assert r["mean"] == pytest.approx(1.0, abs=1e-12)


def test_inception_score_matches_original_formula():
    g = torch.Generator().manual_seed(30)
    p = torch.softmax(torch.randn(1003, 12, generator=g) * 2, 1).double().numpy()
    splits, scores = 10, []
    for s in range(splits):  # the original (Salimans et al.) numpy loop
        part = p[s * 1003 // splits:(s + 1) * 1003 // splits]
        kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    r = inception_score(torch.from_numpy(p), splits=splits)
    assert r["mean"] == pytest.approx(np.mean(scores), rel=1e-12)
    assert r["std"] == pytest.approx(np.std(scores), rel=1e-9)


def test_inception_score_bad_probs():
    with pytest.raises(GankitError, match="sum to 1"):
        inception_score(torch.rand(100, 5) + 0.1)
    neg = torch.full((100, 2), 0.5)
    neg[0] = torch.tensor([1.5, -0.5])
    with pytest.raises(GankitError, match="negative"):
        inception_score(neg)
    with pytest.raises(GankitError, match="lower splits"):
        inception_score(torch.full((5, 2), 0.5), splits=10)

"""Sample-quality metrics, float64 math on features: mode coverage (`modes`), FID and FID-infinity
(`fid`), KID (`kid`), precision/recall and density/coverage (`prdc`), Inception Score
(`inception_score`). Feature extractors and `gankit eval` come with the evaluation suite."""
from .fid import RunningMoments, fid, fid_from_moments, fid_from_moments_symmetric, fid_infinity
from .inception_score import inception_score
from .kid import kid
from .modes import class_coverage, mixture_stats, mode_stats, stacked_mode_stats
from .prdc import density_coverage, knn_radii, precision_recall

__all__ = ["RunningMoments", "fid", "fid_from_moments", "fid_from_moments_symmetric", "fid_infinity",
           "inception_score", "kid", "class_coverage", "mixture_stats", "mode_stats", "stacked_mode_stats",
           "density_coverage", "knn_radii", "precision_recall"]

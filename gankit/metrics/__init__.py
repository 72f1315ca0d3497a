"""Sample-quality metrics; mode coverage lives in `modes`."""
from .modes import class_coverage, mixture_stats, mode_stats, stacked_mode_stats

__all__ = ["class_coverage", "mixture_stats", "mode_stats", "stacked_mode_stats"]

"""Evaluation: the driver (evaluate.py), image sources (sources.py), statistics files (stats.py), the metrics and
their feature extractors (metrics/), the digit classifiers (classifiers.py), named protocols and the truncation sweep."""

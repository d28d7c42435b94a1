"""Measurement: topic classifier against arXiv categories, ranker against baselines."""

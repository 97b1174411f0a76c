"""Evaluation: metrics on hand-checkable formulas, classical baselines, summaries."""

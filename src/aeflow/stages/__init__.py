"""The workflow's stages, one module per rule family: data (fetch, prepare), train,
evaluate (+ spectra), anomaly, compression, classifier, generate, figures and summary.

Each stage function reads its declared inputs, computes through pure functions of the lower
floors (data, models, training, evaluation, plotting), then writes its outputs atomically
and tracks them in MLflow. Rules (``workflow/scripts/*.py``) and the ``aeflow`` CLI call the
same functions with a validated config and the paths of :mod:`aeflow.plan`.
"""

import os

PathLike = str | os.PathLike

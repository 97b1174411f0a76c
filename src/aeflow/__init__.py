"""aeflow: physics data to paper figures with autoencoders.

Importing the package is cheap (no torch): the Snakefile imports :mod:`aeflow.config`.
"""

__version__ = "0.1.0"

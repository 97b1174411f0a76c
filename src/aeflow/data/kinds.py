"""Dataset kinds: each kind module declares what its data is, once, as a :class:`Kind`.

A kind module (``aeflow.data.<kind>``) holds ``KINDS``, its declaration(s), and its hooks:

- ``RAW_KEYS``, ``check_raw(raw, where)`` (raises :class:`aeflow.data.sources.RawDataError`
  naming file and key; returns the checked arrays, samples first) and ``prepare(checked,
  dataset_cfg, raw_path, split) -> xarray.Dataset`` (with ``input``, ``target`` and a
  ``sample`` dim; ``split`` holds each sample's train/val/test label, e.g. for normalizing by
  training statistics; the stage adds it as a coordinate);
- ``simulate(dataset_cfg, n, rng) -> dict of raw arrays`` (``n`` samples drawn from ``rng``;
  the stage runs it block by block, :mod:`aeflow.data.chunks`) for kinds with a simulator,
  and optionally
  ``simulation(dataset_cfg)`` (builds the simulator's parameters: the config check calls it to
  catch inconsistent parameters before any job);
- optionally ``read_raw(path) -> dict | None`` for a file layout of its own (None: not that
  layout, read ``RAW_KEYS`` the usual way), ``fetch(dataset_cfg, out) -> sha256 | None`` for
  sources of its own (None: not one of them), and ``select_split(checked, dataset_cfg) ->
  (checked, split)`` when the data brings its own split or is subsampled.

The config check, the workflow plan, the stages and the figures ask a kind for its traits
(:func:`traits`) instead of matching its name. Adding a kind is its module in this package
(found by its ``KINDS``), its simulator, its schema block and its tests.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from types import ModuleType

# Kind modules are the modules of this package that declare ``KINDS``.
_PACKAGE = "aeflow.data"


@dataclass(frozen=True)
class Kind:
    """What a dataset kind's prepared data is, for everything downstream of ``prepare``.

    ``modality``: ``images`` or ``traces`` (which models, suites and figures apply).
    ``labelled``: samples carry a class ``label`` (feature classifier, latent figures, k-NN).
    ``generative``: its experiments with models that sample are judged on generated samples
    (generate stage); autoencoders on it on their test reconstructions.
    ``anomaly_labels``: samples carry ``is_anomaly`` (anomaly experiments); ``anomaly_names``
    name the normal and the anomalous population in figures; ``anomaly_observable`` is a
    per-sample variable the autoencoder should not sculpt (a baseline score, and the
    sculpting check); ``anomaly_needs_classes``: anomalies exist only once
    ``preprocess.anomaly_classes`` names some.
    ``real_data_only``: no simulator (source installed, download or a local path);
    ``own_download``: knows its official download mirrors (no ``download.url`` needed).
    ``colour``: its images may be colour (three channels; ``task: colorize``).
    ``clean_inputs``: the prepared input equals the target, so denoising needs a ``corrupt``
    section. ``observables``: generated samples are compared in physical observables
    (:func:`aeflow.evaluation.observables.observables_of`).
    ``log_images``: images are shown on a log10 scale (pt fractions spanning decades).
    ``form_factor_rings``: scattering patterns around a central direct beam whose radial
    profile carries the particle size (:mod:`aeflow.evaluation.rings`).
    ``chunked_prepare``: the raw file is checked and preprocessed chunk by chunk (peak memory
    one chunk's, :mod:`aeflow.data.chunks`): ``check_raw`` and ``prepare`` work on any range
    of samples, the split is the file's own (an optional ``file_split(raw_path) -> split or
    None``, read before the chunks) or the configured one over the samples kept, statistics over
    the whole file come from an optional ``prepare_statistics(chunks, dataset_cfg, raw_path)
    -> kwargs of prepare`` over ``(checked, split)`` chunks. ``OPTIONAL_RAW_KEYS`` are read
    along where a file has them; an optional ``open_raw(path, name)`` reads a layout of the
    kind's own in row slices (like :class:`aeflow.data.chunks.RawChunks`).
    A kind that drops samples (galaxies of unmapped classes) names the raw key that decides
    (``SELECT_KEY``, read first) and has ``keep_samples(values, dataset_cfg) -> mask`` and
    ``select(checked, mask, dataset_cfg) -> checked`` for a chunk.
    ``converted_raw``: the kind's ``fetch`` converts every source into its own ``.npz``
    (``data/raw/<dataset>.npz``, whatever the source's format).
    ``signal_flags``: samples carry ``has_signal`` (noise-only samples among them) and their
    ``snr`` (signal detectors train on the flags).
    ``interpolation_classes`` / ``arithmetic_classes``: the class pairs the latent figures of
    generative models walk between and subtract (first present pair wins).
    """

    name: str
    module: str
    modality: str
    labelled: bool = False
    generative: bool = False
    anomaly_labels: bool = False
    anomaly_names: tuple[str, str] = ("normal", "anomalous")
    anomaly_observable: str | None = None
    anomaly_needs_classes: bool = False
    real_data_only: bool = False
    own_download: bool = False
    clean_inputs: bool = False
    colour: bool = False
    observables: bool = False
    collections: bool = False
    log_images: bool = False
    form_factor_rings: bool = False
    signal_flags: bool = False
    converted_raw: bool = False
    chunked_prepare: bool = False
    interpolation_classes: tuple[str, str] | None = None
    arithmetic_classes: tuple[str, str] | None = None

    def hooks(self) -> ModuleType:
        """The kind's module (reader, simulator, prepare)."""
        return importlib.import_module(self.module)


def kind_modules() -> list[str]:
    """The modules of ``aeflow.data`` that declare kinds (``KINDS``), sorted by name."""
    package = importlib.import_module(_PACKAGE)
    names = sorted(
        f"{_PACKAGE}.{m.name}" for m in pkgutil.iter_modules(package.__path__) if not m.ispkg
    )
    return [name for name in names if hasattr(importlib.import_module(name), "KINDS")]


@cache
def registry() -> dict[str, Kind]:
    """Every declared kind by name."""
    kinds: dict[str, Kind] = {}
    for module_name in kind_modules():
        for kind in importlib.import_module(module_name).KINDS:
            if kind.name in kinds:
                raise ValueError(f"dataset kind {kind.name!r} declared twice")
            kinds[kind.name] = kind
    return kinds


def traits(kind: str) -> Kind:
    """The declaration of kind ``kind``."""
    try:
        return registry()[kind]
    except KeyError:
        known = ", ".join(registry())
        raise KeyError(f"unknown dataset kind {kind!r} (known: {known})") from None


def get(kind: str) -> ModuleType:
    """The module implementing kind ``kind`` (its hooks)."""
    return traits(kind).hooks()


def read(module: ModuleType, path, name: str | None = None) -> dict:
    """The raw arrays of a kind's file: its own reader if it has one, else ``RAW_KEYS``."""
    from aeflow.data import sources

    reader = getattr(module, "read_raw", None)
    arrays = reader(path) if reader is not None else None
    if arrays is None:
        arrays = sources.read_arrays(path, module.RAW_KEYS, name=name)
    return arrays

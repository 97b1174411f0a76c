"""Configuration: one JSON Schema, validated once, defaults filled from the schema.

Both the Snakefile and the ``aeflow`` CLI go through :func:`validate_config`, so a bad key or
value fails before any job starts, with a message naming the key.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from aeflow.data import kinds
from aeflow.models import catalog
from aeflow.plan import is_generative, raw_path

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")  # package data


class ConfigError(ValueError):
    """A configuration key is missing, unknown or has a bad value."""


def _kinds_with(trait: str) -> str:
    """The kinds that have a trait, for error messages."""
    return ", ".join(name for name, k in kinds.registry().items() if getattr(k, trait))


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def _with_defaults(validator_class):
    """A validator class that fills ``default`` values while it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(key, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def validate_config(config: Mapping[str, Any], source: str = "config") -> dict[str, Any]:
    """Return a validated deep copy of ``config`` with schema defaults filled in.

    Raises :class:`ConfigError` naming the offending key (``datasets.saxs.split.seed``) and
    ``source`` (usually the config file).
    """
    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    validator = _with_defaults(cls)(schema)
    filled = copy.deepcopy(dict(config))
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for err in errors:
            # Report the most specific cause of oneOf/anyOf failures.
            best = jsonschema.exceptions.best_match([err])
            lines.append(f"  {_key_path(best)}: {best.message}")
        raise ConfigError(f"{source}: invalid configuration\n" + "\n".join(lines))
    _check_finite(filled, source)
    filled["experiments"] = _expand_sweeps(filled, source)
    _fill_bands(filled)
    _fill_clips(filled)
    check_references(filled, source)
    return filled


def _kind_of(config: Mapping[str, Any], exp: Mapping[str, Any]) -> kinds.Kind | None:
    """The kind of an experiment's dataset; None when the dataset or kind is unknown (the
    reference checks name it)."""
    ds = config["datasets"].get(exp["dataset"])
    return kinds.registry().get(ds["kind"]) if ds is not None else None


def _fill_clips(config: dict[str, Any]) -> None:
    """``corrupt.clip: auto``: [0, 1] for images (pixels scaled to it), none for traces."""
    for exp in config["experiments"].values():
        corrupt = exp.get("corrupt")
        if not corrupt or corrupt["clip"] != "auto":
            continue
        kind = _kind_of(config, exp)
        corrupt["clip"] = None if kind and kind.modality == "traces" else [0.0, 1.0]


DEFAULT_BAND_MHZ = [30.0, 80.0]  # the radio band of the book and the blog


def _fill_bands(config: dict[str, Any]) -> None:
    """An experiment's band-pass baseline left null takes its dataset's band (a kind's
    ``band(dataset_cfg)`` hook: the stated ``preprocess.band_mhz``, a simulation's signal
    band), else :data:`DEFAULT_BAND_MHZ`."""
    for exp in config["experiments"].values():
        baselines = exp["evaluate"]["baselines"]
        if baselines["bandpass_mhz"] is not None:
            continue
        kind = _kind_of(config, exp)
        hook = getattr(kind.hooks(), "band", None) if kind else None
        band = hook(config["datasets"][exp["dataset"]]) if hook else None
        baselines["bandpass_mhz"] = [float(b) for b in (band or DEFAULT_BAND_MHZ)]


def _expand_sweeps(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Experiments with ``anomaly.classes: each`` become one experiment per class of their
    dataset, ``<name>_c<k>`` holding class k out (``anomaly.sweep`` names the entry); those
    with ``seeds`` one per seed, ``<name>_s<seed>`` (``seed_sweep`` names the entry)."""
    return _expand_classes(_expand_seeds(config["experiments"], source), config, source)


def _expand_seeds(experiments: Mapping[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, exp in experiments.items():
        if not exp.get("seeds"):
            out[name] = exp
            continue
        for seed in exp["seeds"]:
            if f"{name}_s{seed}" in experiments:
                raise ConfigError(
                    f"{source}: experiments.{name}.seeds makes {name}_s{seed}, "
                    "which is already an experiment"
                )
            one = copy.deepcopy(exp) | {"seeds": None, "seed_sweep": name}
            one["train"]["seed"] = seed
            out[f"{name}_s{seed}"] = one
    return out


def _expand_classes(
    experiments: Mapping[str, Any], config: Mapping[str, Any], source: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, exp in experiments.items():
        anomaly = exp.get("anomaly")
        if not anomaly or anomaly["classes"] != "each":
            out[name] = exp
            continue
        dataset = exp["dataset"]
        classes = _class_names(name, dataset, config["datasets"].get(dataset), source)
        for k in range(len(classes)):
            one = copy.deepcopy(exp)
            one["anomaly"] |= {"classes": [k], "sweep": name}
            if f"{name}_c{k}" in experiments:
                raise ConfigError(
                    f"{source}: experiments.{name}.anomaly.classes: each makes {name}_c{k}, "
                    "which is already an experiment"
                )
            out[f"{name}_c{k}"] = one
    return out


def _class_names(name: str, dataset: str, ds: Mapping[str, Any] | None, source: str) -> list[str]:
    """The class names of ``dataset`` (its config ``ds``, None if unknown), whose classes
    experiment ``name`` holds out: a labelled image dataset."""
    kind = kinds.traits(ds["kind"]) if ds is not None and ds["kind"] in kinds.registry() else None
    if kind is None or not hasattr(kind.hooks(), "class_names"):
        raise ConfigError(
            f"{source}: experiments.{name}.anomaly.classes: needs a labelled image dataset "
            f"(kinds {_kinds_with('collections')}, labelled_image_set); {dataset!r} is not one"
        )
    return kind.hooks().class_names(ds)


def _check_finite(value: Any, source: str, key: str = "") -> None:
    """YAML reads ``.nan`` and ``.inf`` as numbers the schema accepts: refuse them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {key}: {value} is not a finite number")
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_finite(v, source, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_finite(v, source, f"{key}[{i}]")


def check_references(config: Mapping[str, Any], source: str = "config") -> None:
    """Cross-key checks the schema cannot express."""
    datasets = config["datasets"]
    for name, ds in datasets.items():
        _check_dataset(name, ds, source)
    study = config.get("compression")
    if study:
        ds = datasets.get(study["dataset"])
        if ds is None or not kinds.traits(ds["kind"]).collections:
            raise ConfigError(
                f"{source}: compression.dataset: {study['dataset']!r} is not an image dataset "
                f"of kind {_kinds_with('collections')}"
            )
    for name, exp in config["experiments"].items():
        _check_experiment(name, exp, datasets, source)
        _check_init_chain(name, config["experiments"], source)
    for name, study in (config.get("label_efficiency") or {}).items():
        _check_label_efficiency(name, study, config, source)
    _check_reproduction(config, source)


def _check_label_efficiency(
    dataset: str, study: Mapping[str, Any], config: Mapping[str, Any], source: str
) -> None:
    """A label-efficiency study: a labelled image dataset, and encoders that are trained
    autoencoders of that dataset with a code."""
    where = f"{source}: label_efficiency.{dataset}"
    ds = config["datasets"].get(dataset)
    if ds is None:
        raise ConfigError(f"{where}: unknown dataset {dataset!r}")
    kind = kinds.traits(ds["kind"])
    if kind.modality != "images" or not kind.labelled:
        raise ConfigError(
            f"{where}: needs a labelled image dataset; {dataset!r} is of kind {kind.name!r}"
        )
    for e in study["encoders"]:
        exp = config["experiments"].get(e)
        if exp is None:
            raise ConfigError(f"{where}.encoders: unknown experiment {e!r}")
        if exp["dataset"] != dataset:
            raise ConfigError(
                f"{where}.encoders: {e!r} was trained on {exp['dataset']!r}, not {dataset!r}"
            )
        if exp["anomaly"]:
            raise ConfigError(
                f"{where}.encoders: {e!r} trained on the normal classes only: its selection by "
                "label would leak labels into the pretraining"
            )
        traits = catalog.traits(exp["model"])
        if not traits.latent or traits.adversarial:
            with_code = ", ".join(
                m for m, t in catalog.CATALOG.items() if t.latent and not t.adversarial
            )
            raise ConfigError(
                f"{where}.encoders: {e!r} is a {exp['model']}, which has no encoder to reuse "
                f"({with_code} do)"
            )


def _check_reproduction(config: Mapping[str, Any], source: str) -> None:
    """Published ids and experiments of ``reproduction:`` (see :mod:`aeflow.reproduction`)."""
    from aeflow import reproduction

    try:
        reproduction.check_section(config.get("reproduction"), config["experiments"])
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _check_dataset(name: str, ds: Mapping[str, Any], source: str) -> None:
    """One dataset's keys against its kind: sources it can take, ranges, its own checks."""
    src = ds["source"]
    kind = kinds.traits(ds["kind"])
    if src not in ("simulate", "download", "installed") and Path(src) == Path(raw_path(name, ds)):
        raise ConfigError(
            f"{source}: datasets.{name}.source: {src} is where the workflow writes this "
            "dataset's checked copy of its source; keep your file elsewhere (e.g. data/local/)"
        )
    if src == "download" and not kind.own_download:
        dl = ds["download"]  # (image collections know their official mirrors)
        if not (dl.get("url") or dl.get("gdrive_id")):
            raise ConfigError(
                f"{source}: datasets.{name}.download needs a url or a gdrive_id "
                "when source is 'download'"
            )
    for key, value in ds["simulate"].items():
        if key.endswith(("_range", "band_mhz")) and value[0] > value[1]:
            raise ConfigError(
                f"{source}: datasets.{name}.simulate.{key}: low {value[0]} > high {value[1]}"
            )
    if ds.get("collection") and not kind.collections:
        raise ConfigError(
            f"{source}: datasets.{name}.collection: only kinds {_kinds_with('collections')} "
            f"have a collection (this is kind {ds['kind']!r})"
        )
    for key in ("keys", "class_names", "channel_names"):
        if ds.get(key) and not kind.converted_raw:
            raise ConfigError(
                f"{source}: datasets.{name}.{key}: only kinds {_kinds_with('converted_raw')} "
                f"name their arrays (this is kind {ds['kind']!r})"
            )
    if src == "simulate" and kind.real_data_only:
        raise ConfigError(
            f"{source}: datasets.{name}.source: image collections are real data; use "
            "installed, download or a local path"
        )
    if src == "simulate":
        _check_simulation(name, ds, source)
    _check_hook(kind, "check_dataset", source, name, ds)


def _check_experiment(
    name: str, exp: Mapping[str, Any], datasets: Mapping[str, Any], source: str
) -> None:
    """One experiment against its dataset's kind and its model's traits."""
    if exp["dataset"] not in datasets:
        raise ConfigError(
            f"{source}: experiments.{name}.dataset: unknown dataset {exp['dataset']!r} "
            f"(known: {', '.join(sorted(datasets))})"
        )
    kind = kinds.traits(datasets[exp["dataset"]]["kind"])
    takes = catalog.traits(exp["model"]).modality
    if takes != kind.modality:
        raise ConfigError(
            f"{source}: experiments.{name}.model: {exp['model']!r} takes "
            f"{takes}, but dataset {exp['dataset']!r} (kind {kind.name!r}) "
            f"holds {kind.modality}"
        )
    if catalog.traits(exp["model"]).adversarial and exp["train"]["max_grad_norm"] is not None:
        raise ConfigError(
            f"{source}: experiments.{name}.train.max_grad_norm: {exp['model']!r} is a GAN, "
            "trained by its own recipe (critic and generator steps); it does not clip"
        )
    if catalog.traits(exp["model"]).detector:
        for dataset in (exp["dataset"], *exp["evaluate"]["also_on"]):
            ds_kind = kinds.traits(datasets[dataset]["kind"]) if dataset in datasets else kind
            if not ds_kind.signal_flags:
                raise ConfigError(
                    f"{source}: experiments.{name}.model: {exp['model']!r} tells signal from "
                    f"noise-only samples; dataset {dataset!r} (kind {ds_kind.name!r}) has no "
                    "signal flags"
                )
        for key in ("anomaly", "corrupt"):
            if exp[key]:
                raise ConfigError(
                    f"{source}: experiments.{name}.{key}: not available for signal detectors"
                )
    if exp["train"]["data_in_memory"] is False and catalog.traits(exp["model"]).in_memory:
        raise ConfigError(
            f"{source}: experiments.{name}.train.data_in_memory: {exp['model']!r} trains on "
            "data held in memory (leave it auto, or true)"
        )
    band = exp["evaluate"]["baselines"]["bandpass_mhz"]
    if band[0] >= band[1]:
        raise ConfigError(
            f"{source}: experiments.{name}.evaluate.baselines.bandpass_mhz: "
            f"low {band[0]} >= high {band[1]}"
        )
    edges = exp["evaluate"]["traces"]["snr_bins"]
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise ConfigError(
            f"{source}: experiments.{name}.evaluate.traces.snr_bins must increase: {edges}"
        )
    for other in exp["evaluate"]["also_on"]:
        if other not in datasets:
            raise ConfigError(
                f"{source}: experiments.{name}.evaluate.also_on: unknown dataset {other!r}"
            )
    _check_hook(kind, "check_experiment", source, name, exp, datasets)
    needs_val = watches_validation(exp)
    _check_split_sizes(name, exp["dataset"], datasets[exp["dataset"]], source, needs_val)
    if exp["anomaly"]:
        _check_anomaly(name, exp, datasets[exp["dataset"]], source)
    if is_generative(exp, datasets):  # judged on samples: no task
        _check_generative(name, exp, kind, source)
    else:
        _check_task(name, exp, kind, source)
    for other in exp["evaluate"]["also_on"]:
        if datasets[other]["kind"] != datasets[exp["dataset"]]["kind"]:
            raise ConfigError(
                f"{source}: experiments.{name}.evaluate.also_on: dataset {other!r} is of "
                f"kind {datasets[other]['kind']!r}, the model was trained on "
                f"{datasets[exp['dataset']]['kind']!r}"
            )


def _check_init_chain(name: str, experiments: Mapping[str, Any], source: str) -> None:
    """The experiments ``train.init_from`` leads through exist, share the model and end."""
    seen, current = [name], name
    while (other := experiments[current]["train"]["init_from"]) is not None:
        key = f"{source}: experiments.{current}.train.init_from"
        if other not in experiments:
            known = ", ".join(sorted(experiments))
            raise ConfigError(f"{key}: unknown experiment {other!r} (known: {known})")
        if experiments[other]["model"] != experiments[current]["model"]:
            raise ConfigError(
                f"{key}: {other!r} trains model {experiments[other]['model']!r}, "
                f"not {experiments[current]['model']!r}"
            )
        if other in seen:
            raise ConfigError(f"{key}: a cycle: {' -> '.join([*seen, other])}")
        seen.append(other)
        current = other


WATCH_VALIDATION = ("early_stopping", "lr_plateau")  # train: keys that watch val_loss


def watches_validation(exp: Mapping[str, Any]) -> bool:
    """Whether early stopping or the LR schedule of an experiment watch the val split."""
    tc = exp.get("train") or {}
    return any((tc.get(key) or {}).get("patience") is not None for key in WATCH_VALIDATION)


def _check_split_sizes(
    experiment: str, name: str, ds: Mapping[str, Any], source: str, needs_val: bool = True
) -> None:
    """The dataset an experiment trains on needs train and test samples, and validation
    samples when ``needs_val`` (early stopping or the LR schedule watch them): a split that
    leaves one empty fails here, before any data is fetched (sizes are known for simulated
    data; for files, fractions of 0 or 1 are caught)."""
    sp = ds.get("split") or {}
    if not sp or sp.get("n_train") is not None:
        return
    where = f"{source}: datasets.{name}.split"
    why = f"(experiment {experiment!r} trains and is tested on it)"
    n = ds.get("n_samples") if ds["source"] == "simulate" else None
    if isinstance(n, int):
        n_test = round(sp["test_fraction"] * n)
        n_val = round(sp["val_fraction"] * (n - n_test))
        sizes = {"train": n - n_test - n_val, "val": n_val, "test": n_test}
        empty = [s for s, size in sizes.items() if size < 1 and (needs_val or s != "val")]
        if empty:
            raise ConfigError(
                f"{where}: test_fraction {sp['test_fraction']} and val_fraction "
                f"{sp['val_fraction']} of {n} samples leave the {'/'.join(empty)} split empty "
                f"{why}"
            )
        return
    for key, bad in (("test_fraction", (0, 1)), ("val_fraction", (0, 1) if needs_val else (1,))):
        if sp[key] in bad:
            raise ConfigError(f"{where}.{key}: {sp[key]} leaves a split empty {why}")


def _check_simulation(name: str, ds: Mapping[str, Any], source: str) -> None:
    """Simulator parameters that are valid one by one but not together (a kind's
    ``simulation(dataset_cfg)`` raises ValueError naming the key)."""
    build = getattr(kinds.get(ds["kind"]), "simulation", None)
    if build is not None:
        try:
            build(ds)
        except ValueError as exc:
            raise ConfigError(f"{source}: datasets.{name}.{exc}") from None


def _check_hook(kind: kinds.Kind, hook: str, source: str, *args: Any) -> None:
    """A kind's own cross-key check (``check_dataset(name, dataset_cfg)`` or
    ``check_experiment(name, exp_cfg, datasets)``), if it has one: a ValueError it raises
    names the key and becomes a ConfigError naming the config file."""
    check = getattr(kind.hooks(), hook, None)
    if check is not None:
        try:
            check(*args)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None


def _check_task(name: str, exp: Mapping[str, Any], kind: kinds.Kind, source: str) -> None:
    """The corruption a task needs, on data that can take it."""
    where = f"{source}: experiments.{name}"
    corrupt = exp["corrupt"]
    if corrupt and corrupt["downsample"] and kind.modality != "images":
        raise ConfigError(
            f"{where}.corrupt.downsample: applies to images, dataset kind {kind.name!r} has "
            f"{kind.modality} (traces take corrupt.noise_sd)"
        )
    if exp["task"] == "colorize":
        if not kind.colour:
            raise ConfigError(
                f"{where}.task: colorize needs colour images (kinds {_kinds_with('colour')}); "
                f"dataset kind {kind.name!r} has "
                + ("grey images" if kind.modality == "images" else kind.modality)
            )
        if corrupt:
            raise ConfigError(
                f"{where}.corrupt: colorize takes none (its input is the colour image's luminance)"
            )
        if not catalog.traits(exp["model"]).maps_channels:
            able = ", ".join(m for m, t in catalog.CATALOG.items() if t.maps_channels)
            raise ConfigError(
                f"{where}.model: colorize needs a model whose output has other channels than "
                f"its input ({able}), got {exp['model']!r}"
            )
    if exp["task"] == "superres" and not (corrupt and corrupt["downsample"]):
        raise ConfigError(f"{where}.task: superres needs corrupt.downsample (2 or 4)")
    if exp["task"] == "denoise" and kind.clean_inputs and not (corrupt and corrupt["noise_sd"]):
        raise ConfigError(
            f"{where}.task: denoise on clean images needs corrupt.noise_sd (or task: reconstruct)"
        )
    if corrupt and corrupt["clip"] is not None and corrupt["clip"][0] >= corrupt["clip"][1]:
        raise ConfigError(f"{where}.corrupt.clip: low {corrupt['clip'][0]} >= high")


def _check_generative(name: str, exp: Mapping[str, Any], kind: kinds.Kind, source: str) -> None:
    """Generative experiments: a model that samples, evaluated on its samples alone."""
    where = f"{source}: experiments.{name}"
    model = catalog.traits(exp["model"])
    if not model.samples:
        sampling = ", ".join(m for m, t in catalog.CATALOG.items() if t.samples)
        raise ConfigError(
            f"{where}.model: dataset kind {kind.name!r} is for generative models "
            f"({sampling}), got {exp['model']!r}"
        )
    for key in ("anomaly", "corrupt"):
        if exp[key]:
            raise ConfigError(f"{where}.{key}: not available for generative experiments")
    if exp["evaluate"]["also_on"]:
        raise ConfigError(f"{where}.evaluate.also_on: not available for generative experiments")
    n, k = exp["generate"]["n_samples"], exp["generate"]["k"]
    if n is not None and n <= k:
        raise ConfigError(
            f"{where}.generate.n_samples: {n} samples leave no k = {k} nearest neighbours"
        )
    if model.conditional and not kind.labelled:
        raise ConfigError(
            f"{where}.model: {exp['model']} needs class labels; dataset kind {kind.name!r} has none"
        )


def _check_anomaly(name: str, exp: Mapping[str, Any], ds: Mapping[str, Any], source: str) -> None:
    """An anomaly section needs labelled anomalies in the dataset."""
    where = f"{source}: experiments.{name}.anomaly"
    kind = kinds.traits(ds["kind"])
    if not kind.anomaly_labels:
        raise ConfigError(
            f"{where}: dataset kind {kind.name!r} has no anomaly labels "
            f"(kinds {_kinds_with('anomaly_labels')} do)"
        )
    if exp["anomaly"]["score"] == "latent" and not catalog.traits(exp["model"]).latent:
        with_code = ", ".join(m for m, t in catalog.CATALOG.items() if t.latent)
        raise ConfigError(
            f"{where}.score: latent scores a sample by its code; {exp['model']!r} has none "
            f"({with_code} do)"
        )
    classes = exp["anomaly"]["classes"]
    if classes is not None:
        n = len(_class_names(name, exp["dataset"], ds, source))
        if max(classes) >= n:
            raise ConfigError(
                f"{where}.classes: {max(classes)} is not among the {n} classes of "
                f"dataset {exp['dataset']!r}"
            )
    elif kind.anomaly_needs_classes and not ds["preprocess"]["anomaly_classes"]:
        raise ConfigError(
            f"{where}: the dataset marks no anomalies; set its preprocess.anomaly_classes "
            "or the experiment's anomaly.classes"
        )


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    path = Path(path)
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return validate_config(raw, source=str(path))

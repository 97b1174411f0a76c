"""What is declared in several places agrees: dataset kinds (their modules and the schema),
the model catalog (the registry's classes and the schema), and the figure table of the plan
(its drawing functions, captions and input files)."""

import importlib

import pytest

from aeflow import plan
from aeflow.config import load_schema, validate_config
from aeflow.data import kinds
from aeflow.models import REGISTRY, catalog
from aeflow.stages import figures
from conftest import REPO

MODALITIES = {"images", "traces"}


def _kind_modules() -> list[str]:
    """The modules of aeflow.data that declare kinds."""
    return kinds.kind_modules()


# ---- dataset kinds -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(kinds.registry()))
def test_every_kind_declares_its_modality_in_its_own_module(name):
    kind = kinds.traits(name)
    assert kind.name == name
    assert kind.modality in MODALITIES
    assert kind.module in _kind_modules()
    assert kind in importlib.import_module(kind.module).KINDS


@pytest.mark.parametrize("module_name", _kind_modules())
def test_every_kind_module_has_its_hooks(module_name):
    module = importlib.import_module(module_name)
    assert module.KINDS, f"{module_name} declares no kind"
    keys = module.RAW_KEYS
    assert keys and all(isinstance(k, str) for k in keys), f"{module_name}.RAW_KEYS"
    assert callable(module.check_raw) and callable(module.prepare)
    for kind in module.KINDS:
        assert kind.module == module_name
        # a kind with a simulator can be simulated; a real-data kind cannot
        assert kind.real_data_only != callable(getattr(module, "simulate", None)), kind.name


def test_every_declared_kind_module_is_registered():
    assert {k.module for k in kinds.registry().values()} == set(_kind_modules())


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown dataset kind 'sax'.*saxs"):
        kinds.traits("sax")


# ---- the schema's enums --------------------------------------------------------------------------
def test_schema_lists_exactly_the_registered_kinds():
    enum = load_schema()["$defs"]["dataset"]["properties"]["kind"]["enum"]
    assert len(enum) == len(set(enum))
    assert set(enum) == set(kinds.registry())


def test_schema_lists_exactly_the_catalogued_models():
    enum = load_schema()["$defs"]["experiment"]["properties"]["model"]["enum"]
    assert len(enum) == len(set(enum))
    assert set(enum) == set(catalog.CATALOG)


# ---- the model catalog against the classes -------------------------------------------------------
def test_registry_and_catalog_name_the_same_models():
    assert set(REGISTRY) == set(catalog.CATALOG)


@pytest.mark.parametrize("name", sorted(catalog.CATALOG))
def test_catalog_entry_agrees_with_the_model_class(name):
    cls, traits = REGISTRY[name], catalog.traits(name)
    assert traits.modality in MODALITIES
    assert cls.modality == traits.modality
    assert bool(cls.adversarial) == traits.adversarial
    if hasattr(cls, "conditional"):
        assert bool(cls.conditional) == traits.conditional
    else:
        assert not traits.conditional
    assert traits.latent == (hasattr(cls, "encode") and hasattr(cls, "decode"))
    assert traits.samples == hasattr(cls, "sample")
    if traits.generative:  # judged on its samples: it must draw them
        assert traits.samples
    assert traits.maps_channels == ("out_channels" in cls.config_class.__dataclass_fields__)


def test_unknown_model_names_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown model 'resnet'.*skip_dae"):
        catalog.traits("resnet")


# ---- the figure table ----------------------------------------------------------------------------
def test_every_figure_of_the_plan_has_a_drawing_function_and_back():
    keys = [(f.dataset_scope, f.name) for f in plan.FIGURES]
    assert len(keys) == len(set(keys)), "a figure is declared twice"
    assert set(keys) == set(figures.DRAW)


@pytest.mark.parametrize("figure", plan.FIGURES, ids=lambda f: f.name)
def test_every_figure_has_a_caption_and_known_inputs(figure):
    assert (REPO / "workflow" / "report" / f"{figure.caption}.rst").is_file()
    cfg = validate_config(
        {
            "datasets": {"d": {"kind": "saxs", "source": "simulate"}},
            "experiments": {"e": {"dataset": "d", "model": "skip_dae"}},
        }
    )
    p = plan.Plan(cfg)
    files = p.dataset_files("d") if figure.dataset_scope else p.experiment_files("e")
    assert set(figure.inputs) <= set(files)
    if not figure.dataset_scope:  # attached to the training run
        assert "run" in figure.inputs
    else:
        assert figure.category


def test_one_plotting_job_per_target_draws_every_planned_figure():
    """The default config: every figure path of the plan belongs to exactly one plotting job,
    whose inputs are the union of its figures' inputs."""
    import yaml

    cfg = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    p = plan.Plan(cfg)
    jobs = p.figure_jobs()
    dataset_jobs = p.figure_jobs(dataset_scope=True)
    assert [target for target, _ in jobs] == list(cfg["experiments"])  # every one has figures
    drawn = [plan.figure_path(t, f) for t, figs in jobs for f in figs]
    drawn += [plan.dataset_figure_path(t, f) for t, figs in dataset_jobs for f in figs]
    planned = [path for path in p.targets() if path.startswith("results/figures/")]
    assert sorted(drawn) == sorted(planned)
    assert len(drawn) == len(set(drawn))
    figs = dict(jobs)["saxs_dae"]
    union = p.figure_job_files(figs)
    assert set(figs) >= {"history", "examples", "also_on_examples"}
    for files in figs.values():
        assert all(union[key] == path for key, path in files.items())
    assert union["history"] == "results/models/saxs_dae/history.csv"

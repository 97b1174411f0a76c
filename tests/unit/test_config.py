import copy

import pytest
import yaml

from aeflow.config import ConfigError, load_config, validate_config
from conftest import REPO


def test_defaults_are_filled(tiny_config):
    cfg = validate_config(tiny_config)
    train = cfg["experiments"]["saxs_dae"]["train"]
    assert train["learning_rate"] == pytest.approx(1e-3)
    assert train["early_stopping"]["patience"] == 3
    assert train["lr_plateau"] == {"factor": 0.67, "patience": 2, "min_lr": 1e-5, "min_delta": 1e-4}
    pp = cfg["datasets"]["saxs"]["preprocess"]
    assert pp == {"log_offset": 1.0, "clip_min": 0.0, "clip_max": 1.1, "geometry": None}
    assert cfg["datasets"]["saxs"]["simulate"]["image_size"] == 64
    # the input is not modified
    assert "preprocess" not in tiny_config["datasets"]["saxs"]


def test_defaults_are_not_shared_between_entries(tiny_config):
    cfg = validate_config(tiny_config)
    cfg["datasets"]["saxs"]["preprocess"]["clip_max"] = 2.0
    assert cfg["datasets"]["saxs_partial"]["preprocess"]["clip_max"] == 1.1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["datasets"]["saxs"].update(kind="sax"), "datasets.saxs.kind"),
        (lambda c: c["datasets"]["saxs"].update(colour="red"), "colour"),
        (
            lambda c: c["experiments"]["saxs_dae"]["train"].update(epochs=0),
            "experiments.saxs_dae.train.epochs",
        ),
        (
            lambda c: c["datasets"]["saxs"]["split"].update(val_fraction=1.5),
            "datasets.saxs.split.val_fraction",
        ),
        (
            lambda c: c["experiments"]["saxs_dae"].update(model="resnet"),
            "experiments.saxs_dae.model",
        ),
        (
            lambda c: c["experiments"]["saxs_dae"].update(dataset="nope"),
            "experiments.saxs_dae.dataset",
        ),
        (lambda c: c["experiments"]["saxs_dae"]["evaluate"].update(also_on=["x"]), "also_on"),
        (lambda c: c["datasets"]["saxs"].update(sha256="abc"), "datasets.saxs.sha256"),
        (lambda c: c["datasets"]["saxs"].update(source="download"), "datasets.saxs.download"),
        (
            lambda c: (
                c["datasets"]["saxs"]["simulate"].update(image_size=30)
                if "simulate" in c["datasets"]["saxs"]
                else c["datasets"]["saxs"].update(simulate={"image_size": 30})
            ),
            "datasets.saxs.simulate.image_size",
        ),
        (lambda c: c.pop("experiments"), "experiments"),
        (
            lambda c: c["experiments"]["saxs_dae"].update(model_params={"depth": 3}),
            "experiments.saxs_dae.model_params",
        ),
        (
            lambda c: c["experiments"]["saxs_dae"].update(model_params={"kernel_size": 4}),
            "experiments.saxs_dae.model_params.kernel_size",
        ),
        (
            lambda c: c["datasets"]["saxs"].update(simulate={"radius_range": [3.0, 1.0]}),
            "datasets.saxs.simulate.radius_range",
        ),
        # YAML's .nan and .inf are numbers to the schema
        (
            lambda c: c["experiments"]["saxs_dae"]["train"].update(learning_rate=float("nan")),
            "experiments.saxs_dae.train.learning_rate: nan is not a finite number",
        ),
        (
            lambda c: c["datasets"]["saxs"].update(simulate={"radius_range": [1.0, float("inf")]}),
            r"datasets.saxs.simulate.radius_range\[1\]: inf",
        ),
        # sane upper bounds
        (
            lambda c: c["experiments"]["saxs_dae"]["train"].update(epochs=10**9),
            "experiments.saxs_dae.train.epochs",
        ),
        (lambda c: c["datasets"]["saxs"].update(n_samples=10**12), "datasets.saxs.n_samples"),
        # a local file where the workflow writes the dataset's own raw copy: a cycle
        (
            lambda c: c["datasets"]["saxs"].update(source="data/raw/saxs.npz"),
            "datasets.saxs.source: data/raw/saxs.npz is where the workflow writes",
        ),
        # splits an experiment needs, checked before any data exist
        (
            lambda c: c["datasets"]["saxs"].update(split={"test_fraction": 0.0}),
            "leave the test split empty",
        ),
        (
            lambda c: c["datasets"]["saxs"].update(n_samples=4, split={"val_fraction": 0.1}),
            "leave the val split empty",
        ),
    ],
)
def test_bad_config_names_the_key(tiny_config, mutate, message):
    mutate(tiny_config)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate_config(tiny_config, source="my.yaml")


def _second_experiment(config, **changes):
    other = copy.deepcopy(config["experiments"]["saxs_dae"])
    config["experiments"]["tuned"] = other | changes
    return other


@pytest.mark.parametrize(
    ("init_from", "model", "message"),
    [
        ("nope", "skip_dae", "experiments.tuned.train.init_from: unknown experiment 'nope'"),
        ("tuned", "skip_dae", "a cycle: tuned -> tuned"),
        ("saxs_dae", "conv_ae", "'saxs_dae' trains model 'skip_dae', not 'conv_ae'"),
    ],
)
def test_init_from_names_another_experiment_of_the_same_model(
    tiny_config, init_from, model, message
):
    other = _second_experiment(tiny_config, model=model)
    other["train"]["init_from"] = init_from
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate_config(tiny_config, source="my.yaml")


def test_init_from_cycles_through_two_experiments_are_refused(tiny_config):
    _second_experiment(tiny_config)["train"]["init_from"] = "saxs_dae"
    tiny_config["experiments"]["saxs_dae"]["train"]["init_from"] = "tuned"
    with pytest.raises(ConfigError, match="a cycle: saxs_dae -> tuned -> saxs_dae"):
        validate_config(tiny_config)
    tiny_config["experiments"]["saxs_dae"]["train"].pop("init_from")
    assert validate_config(tiny_config)["experiments"]["tuned"]["train"]["init_from"] == "saxs_dae"


def test_an_empty_val_split_is_allowed_only_when_nothing_watches_it(tiny_config):
    tiny_config["datasets"]["saxs"]["split"] = {"test_fraction": 0.2, "val_fraction": 0.0}
    with pytest.raises(ConfigError, match="leave the val split empty"):
        validate_config(tiny_config)  # early stopping and the LR schedule watch val_loss
    train = tiny_config["experiments"]["saxs_dae"]["train"]
    train |= {"early_stopping": {"patience": None}, "lr_plateau": {"patience": None}}
    cfg = validate_config(tiny_config)  # the lectures' recipe: all epochs, no validation
    assert cfg["datasets"]["saxs"]["split"]["val_fraction"] == 0.0


def test_shipped_configs_are_valid():
    for name in ("config.yaml", "paper.yaml"):
        cfg = load_config(REPO / "config" / name)
        assert cfg["experiments"]["saxs_dae"]["model"] == "skip_dae"
    paper = load_config(REPO / "config" / "paper.yaml")
    assert paper["datasets"]["saxs"]["source"] == "download"
    assert paper["datasets"]["saxs"]["split"]["n_train"] == 20000
    assert paper["experiments"]["saxs_dae"]["train"]["epochs"] == 15


def test_the_smoke_config_reaches_every_stage_offline():
    """.test/config/config.yaml (make smoke): simulated data only, and a target of every
    stage - evaluation, spectra, anomaly, generation, the classifier behind it, figures,
    the summary and the reproduction table."""
    from aeflow import plan

    cfg = load_config(REPO / ".test" / "config" / "config.yaml")
    assert {d["source"] for d in cfg["datasets"].values()} == {"simulate"}
    the_plan = plan.Plan(cfg)
    targets = the_plan.targets()
    for stage in ("eval", "anomaly", "generative", "figures", "summary"):
        assert any(t.startswith(f"results/{stage}/") for t in targets), stage
    assert any(t.endswith("spectra.zarr") for t in targets)
    assert "results/reproduction.json" in targets
    assert any(the_plan.uses_classifier(e) for e in cfg["experiments"])
    assert max(d["n_samples"] for d in cfg["datasets"].values()) <= 1000  # minutes, not hours


def test_the_generative_seeds_study_repeats_the_defaults_generators():
    """config/generative_seeds.yaml: the default's three generators, seed 0 the default."""
    cfg = load_config(REPO / "config" / "generative_seeds.yaml")
    default = load_config(REPO / "config" / "config.yaml")["experiments"]
    for name in ("galaxy_vae", "galaxy_wgan_gp", "airshower_wgan_gp"):
        runs = [cfg["experiments"][f"{name}_s{seed}"] for seed in (0, 1, 2)]
        assert [r["train"]["seed"] for r in runs] == [0, 1, 2]
        assert runs[0] == default[name] | {"seed_sweep": name}


def test_the_long_air_shower_run_is_the_defaults_recipe_trained_longer():
    """config/airshower_long.yaml: the default's air-shower WGAN-GP, its data and recipe,
    with twice the epochs and three seeds."""
    cfg = load_config(REPO / "config" / "airshower_long.yaml")
    default = load_config(REPO / "config" / "config.yaml")
    runs = [cfg["experiments"][f"airshower_wgan_gp_60_s{seed}"] for seed in (0, 1, 2)]
    base = default["experiments"]["airshower_wgan_gp"]
    assert runs[0]["train"]["epochs"] == 2 * base["train"]["epochs"]
    for seed, run in enumerate(runs):
        assert run["train"] == base["train"] | {"epochs": 60, "seed": seed}
        assert run["model_params"] == base["model_params"]
    assert cfg["datasets"]["airshowers"] == default["datasets"]["airshowers"]


def test_the_anomaly_study_runs_both_jet_directions_and_every_held_out_class():
    cfg = load_config(REPO / "config" / "anomaly.yaml")
    exps = cfg["experiments"]
    assert exps["jets_ae_inverse"]["anomaly"]["invert"] and not exps["jets_ae"]["anomaly"]["invert"]
    held = [exps[f"fashion_ae_c{k}"]["anomaly"]["classes"] for k in range(10)]
    assert held == [[k] for k in range(10)]
    assert cfg["mlflow"]["experiment"] == "aeflow-anomaly"


def test_the_precision_check_overlays_the_default():
    """bench/saxs_fp32.yaml on top of config.yaml (Snakemake merges the files): the default's
    SAXS network in fp32 and bf16, three seeds, nothing else changed."""
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    overlay = yaml.safe_load((REPO / "bench/saxs_fp32.yaml").read_text())
    cfg["experiments"] |= overlay["experiments"]
    exps = validate_config(cfg)["experiments"]
    for name in overlay["experiments"]:
        spec = {k: v for k, v in exps[name]["train"].items() if k not in ("seed", "amp")}
        base = {k: v for k, v in exps["saxs_dae"]["train"].items() if k not in ("seed", "amp")}
        assert spec == base and exps[name]["model_params"] == exps["saxs_dae"]["model_params"]
        assert exps[name]["train"]["amp"] == ("fp32" not in name)
    assert sorted(exps[n]["train"]["seed"] for n in overlay["experiments"] if "fp32" in n) == [
        0,
        1,
        2,
    ]


def test_the_gallery_runs_every_family_member_and_generator_the_default_leaves_out():
    """config/gallery.yaml holds the whole image family and every generator, so the README's
    family and generative tables come from one run; the lean default keeps a few of each."""
    default = load_config(REPO / "config" / "config.yaml")
    gallery = load_config(REPO / "config" / "gallery.yaml")
    family = {n for n, e in gallery["experiments"].items() if e["dataset"] != "galaxies"}
    assert {"fashion_linear", "fashion_superres4", "digits_denoise"} <= family
    # (the self-supervised pretexts serve the default's label-efficiency studies)
    pretexts = {e for study in default["label_efficiency"].values() for e in study["encoders"]}
    assert set(default["experiments"]) - {"fashion_ae", "jets_ae"} - pretexts - {
        n for n in default["experiments"] if n.startswith(("saxs", "radio"))
    } <= set(gallery["experiments"])
    assert gallery["compression"] and default["compression"] is None
    # every training job of both runs asks for one thread (two jobs side by side)
    for cfg in (default, gallery):
        assert {e["train"]["threads"] for e in cfg["experiments"].values()} == {1}


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML"):
        load_config(bad)


def _digits_anomaly(config, **anomaly):
    config["datasets"]["digits"] = {"kind": "images", "collection": "digits", "source": "installed"}
    config["experiments"]["ae"] = {
        "dataset": "digits",
        "model": "dense_ae",
        "task": "reconstruct",
        "anomaly": anomaly,
    }


def test_each_class_held_out_makes_one_experiment_per_class(tiny_config):
    _digits_anomaly(tiny_config, classes="each", score="mae")
    experiments = validate_config(tiny_config)["experiments"]
    made = [e for e in experiments if e.startswith("ae")]
    assert made == [f"ae_c{k}" for k in range(10)]
    for k in range(10):
        a = experiments[f"ae_c{k}"]["anomaly"]
        assert (a["classes"], a["sweep"], a["score"]) == ([k], "ae", "mae")
    assert "saxs_dae" in experiments  # the others are left as they are


def test_seeds_make_one_experiment_per_seed(tiny_config):
    tiny_config["experiments"]["saxs_dae"]["seeds"] = [1, 7]
    del tiny_config["reproduction"]  # it names saxs_dae, which the seeds replace
    experiments = validate_config(tiny_config)["experiments"]
    assert list(experiments) == ["saxs_dae_s1", "saxs_dae_s7"]
    for seed in (1, 7):
        exp = experiments[f"saxs_dae_s{seed}"]
        assert (exp["train"]["seed"], exp["seed_sweep"], exp["seeds"]) == (seed, "saxs_dae", None)
        assert exp["evaluate"]["also_on"] == ["saxs_partial"]  # the rest as the entry says
    tiny_config["experiments"]["saxs_dae"]["seeds"] = [1, 1]
    with pytest.raises(ConfigError, match="seeds"):
        validate_config(tiny_config)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["experiments"]["ae"]["anomaly"].update(classes=[10]),
            "10 is not among the 10",
        ),
        (
            lambda c: c["experiments"]["ae"].update(dataset="jets"),
            "anomaly.classes: needs a labelled image dataset",
        ),
        (
            lambda c: (
                c["experiments"].update(ae_c3={**c["experiments"]["saxs_dae"]})
                or c["experiments"]["ae"]["anomaly"].update(classes="each")
            ),
            "each makes ae_c3, which is already an experiment",
        ),
    ],
)
def test_held_out_classes_are_checked(tiny_config, change, message):
    _digits_anomaly(tiny_config, classes=[3])
    tiny_config["datasets"]["jets"] = {"kind": "jets", "source": "simulate"}
    change(tiny_config)
    with pytest.raises(ConfigError, match=message):
        validate_config(tiny_config)


def test_anomaly_classes_stand_in_for_the_datasets(tiny_config):
    """An image dataset without preprocess.anomaly_classes serves an experiment that names
    its own; without either the experiment is refused."""
    _digits_anomaly(tiny_config, classes=[3])
    assert validate_config(tiny_config)["experiments"]["ae"]["anomaly"]["classes"] == [3]
    _digits_anomaly(tiny_config)
    with pytest.raises(ConfigError, match=r"or the experiment's anomaly\.classes"):
        validate_config(tiny_config)


@pytest.mark.parametrize(("model", "refused"), [("stacked_ae", True), ("conv_ae", False)])
def test_only_models_that_can_stream_may_be_told_to(model, refused):
    config = {
        "datasets": {"f": {"kind": "images", "source": "installed", "collection": "digits"}},
        "experiments": {"e": {"dataset": "f", "model": model, "task": "reconstruct"}},
    }
    config["experiments"]["e"]["train"] = {"data_in_memory": False}
    if refused:
        message = "experiments.e.train.data_in_memory: 'stacked_ae' trains on data held"
        with pytest.raises(ConfigError, match=message):
            validate_config(config)
    else:
        assert validate_config(config)["experiments"]["e"]["train"]["data_in_memory"] is False
    config["experiments"]["e"]["train"] = {}
    assert validate_config(config)["experiments"]["e"]["train"]["data_in_memory"] == "auto"


def test_the_book_radio_config_trains_the_defaults_networks_on_the_books_file():
    """config/book_radio.yaml: Exercise 9.2's radio_data.npz (Google Drive, or a local file
    as `source: <path>`), the default's galactic denoiser and classifier recipes on it, set
    beside the blog and Erdmann et al."""
    cfg = load_config(REPO / "config" / "book_radio.yaml")
    default = load_config(REPO / "config" / "config.yaml")["experiments"]
    book = cfg["datasets"]["radio_book"]
    assert (book["kind"], book["source"]) == ("radio", "download")
    assert book["download"]["gdrive_id"] == "1R-qfxO1jVh88TC9Gnm9JGMomSRg0Zpkx"
    for name, recipe in (
        ("radio_book_dae", "radio_galactic_dae"),
        ("radio_book_classifier", "radio_galactic_classifier"),
    ):
        run, base = cfg["experiments"][name], default[recipe]
        assert run["model"] == base["model"] and run["dataset"] == "radio_book"
        assert run.get("model_params") == base.get("model_params")
        own = ("threads", "device", "max_grad_norm")  # (the book's 50,000 traces: clipped)
        assert {k: v for k, v in run["train"].items() if k not in own} == {
            k: v for k, v in base["train"].items() if k not in own
        }
    assert set(cfg["reproduction"]) == {
        "blog_radio_peak_galactic",
        "erdmann_radio_energy",
        "erdmann_radio_classifier",
    }


def test_gans_are_not_told_to_clip_gradients(tiny_config):
    tiny_config["datasets"]["gal"] = {"kind": "galaxies", "source": "simulate", "n_samples": 200}
    gan = {"dataset": "gal", "model": "wgan_gp", "train": {"max_grad_norm": 1.0}}
    tiny_config["experiments"]["g"] = gan
    with pytest.raises(ConfigError, match=r"experiments\.g\.train\.max_grad_norm"):
        validate_config(tiny_config)
    tiny_config["experiments"]["saxs_dae"]["train"]["max_grad_norm"] = 1.0
    gan["train"]["max_grad_norm"] = None
    cfg = validate_config(tiny_config)
    assert cfg["experiments"]["saxs_dae"]["train"]["max_grad_norm"] == 1.0

"""The aeflow command's own help: one line per stage, each stage with only its options."""

import pytest

import aeflow
from aeflow.cli import STAGES, main


def _help(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_version(capsys):
    assert _help(capsys, "--version").strip() == f"aeflow {aeflow.__version__}"


def test_top_level_help_lists_every_stage_with_its_summary(capsys):
    out = " ".join(_help(capsys, "--help").split())  # argparse wraps long lines
    for name, stage in STAGES.items():
        assert name in out and stage.summary in out


@pytest.mark.parametrize(
    ("stage", "has", "lacks"),
    [
        ("train", ["--experiment", "--threads"], ["--dataset"]),
        ("prepare", ["--dataset"], ["--experiment", "--threads"]),
        ("check", ["--config"], ["--dataset", "--experiment", "--threads"]),
    ],
)
def test_each_stage_has_its_own_help(capsys, stage, has, lacks):
    out = _help(capsys, stage, "--help")
    assert out.startswith(f"usage: aeflow {stage}")
    assert STAGES[stage].summary in " ".join(out.split())
    assert all(flag in out for flag in has)
    assert not any(flag in out for flag in lacks)


def test_an_option_of_another_stage_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["prepare", "--experiment", "x"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --experiment" in capsys.readouterr().err

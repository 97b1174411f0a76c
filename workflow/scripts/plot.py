import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from pathlib import Path

from aeflow import stages

experiment = snakemake.wildcards.experiment
model_dir = Path(snakemake.input.model_json).parent
kind = snakemake.params.figure
if kind == "history":
    stages.plot_history(experiment, snakemake.input.history, snakemake.output.figure, model_dir)
elif kind == "error_distribution":
    stages.plot_error_distribution(
        experiment, snakemake.input.predictions, snakemake.output.figure, model_dir
    )
else:
    plot = {"examples": stages.plot_examples, "also_on_examples": stages.plot_also_on_examples}[
        kind
    ]
    plot(
        experiment,
        snakemake.params.experiment,
        snakemake.input.predictions,
        snakemake.output.figure,
        model_dir,
    )

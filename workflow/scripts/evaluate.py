import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from pathlib import Path

from aeflow.stages.evaluate import evaluate

evaluate(
    snakemake.wildcards.experiment,
    snakemake.params.experiment,
    snakemake.params.mlflow,
    model_dir=Path(snakemake.input.model).parent,
    prepared=snakemake.input.prepared,
    also_on=dict(zip(snakemake.params.also_on, snakemake.input.also_on, strict=True)),
    out_dir=Path(snakemake.output.metrics).parent,
    threads=snakemake.threads,
)

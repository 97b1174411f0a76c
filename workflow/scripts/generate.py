import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from pathlib import Path

from aeflow.stages.generate import generate

classifier = snakemake.input.classifier
generate(
    snakemake.wildcards.experiment,
    snakemake.params.experiment,
    snakemake.params.mlflow,
    model_dir=Path(snakemake.input.model).parent,
    prepared=snakemake.input.prepared,
    classifier_dir=Path(classifier[0]).parent if classifier else None,
    out_dir=Path(snakemake.output.metrics).parent,
    threads=snakemake.threads,
)

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from pathlib import Path

from aeflow.stages.anomaly import anomaly

anomaly(
    snakemake.wildcards.experiment,
    snakemake.params.experiment,
    snakemake.params.mlflow,
    model_dir=Path(snakemake.input.model).parent,
    prepared=snakemake.input.prepared,
    out_dir=Path(snakemake.output.thresholds).parent,
    threads=snakemake.threads,
)

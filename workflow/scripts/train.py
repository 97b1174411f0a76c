import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from pathlib import Path

from aeflow.stages.train import train

train(
    snakemake.wildcards.experiment,
    snakemake.params.spec,
    snakemake.params.mlflow,
    snakemake.input.prepared,
    out_dir=Path(snakemake.output.model).parent,
    checkpoint_dir=snakemake.params.checkpoint_dir,
    init_weights=snakemake.input.init[0] if snakemake.input.init else None,
    threads=snakemake.threads,
)

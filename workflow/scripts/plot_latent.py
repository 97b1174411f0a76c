import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from pathlib import Path

from aeflow.stages import plot_latent

plot_latent(
    snakemake.wildcards.experiment,
    snakemake.params.experiment,
    Path(snakemake.input.model).parent,
    snakemake.input.prepared,
    snakemake.output.space,
    snakemake.output.walks,
)

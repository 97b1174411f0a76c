import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from pathlib import Path

from aeflow.generation import plot_generative

inp = snakemake.input
plot_generative(
    snakemake.wildcards.experiment,
    snakemake.params.figure,
    inp.samples,
    inp.metrics,
    inp.prepared,
    Path(inp.model_json).parent,
    snakemake.output.figure,
)

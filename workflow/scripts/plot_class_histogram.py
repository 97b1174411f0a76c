import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.generation import plot_class_histogram

plot_class_histogram(
    snakemake.wildcards.dataset,
    dict(zip(snakemake.params.experiments, snakemake.input.metrics, strict=True)),
    snakemake.output.figure,
)

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.stages import plot_compression

plot_compression(snakemake.input.result, snakemake.output.figure)

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.stages.data import prepare

prepare(
    snakemake.wildcards.dataset,
    snakemake.params.dataset,
    snakemake.input.raw,
    snakemake.output.store,
)

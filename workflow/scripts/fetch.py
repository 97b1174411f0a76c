import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.stages.data import fetch_raw

fetch_raw(snakemake.wildcards.dataset, snakemake.params.dataset, snakemake.output.raw)

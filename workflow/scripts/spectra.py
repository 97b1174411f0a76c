import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.stages.evaluate import spectra

spectra(snakemake.input.predictions, snakemake.params.also_on, snakemake.output.spectra)

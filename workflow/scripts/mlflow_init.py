import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.stages.tracking import init_mlflow

init_mlflow(snakemake.params.mlflow, snakemake.output.store)

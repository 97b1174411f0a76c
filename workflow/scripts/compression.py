import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.stages.compression import compression

compression(
    snakemake.params.study,
    snakemake.params.mlflow,
    snakemake.input.prepared,
    snakemake.output.result,
)

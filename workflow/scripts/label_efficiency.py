import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.stages.label_efficiency import label_efficiency

label_efficiency(
    snakemake.wildcards.dataset,
    snakemake.params.study,
    snakemake.params.encoders,
    snakemake.params.mlflow,
    snakemake.input.prepared,
    snakemake.output.result,
)

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.stages.summary import summary_table

metrics = dict(zip(snakemake.params.experiments, snakemake.input.metrics, strict=True))
anomaly = dict(zip(snakemake.params.anomaly, snakemake.input.anomaly, strict=True))
p = snakemake.params
about = {"config": p.config_label, "mlflow_experiment": p.mlflow_experiment}
summary_table(
    metrics,
    snakemake.output.table,
    anomaly,
    snakemake.output.json,
    about,
    list(snakemake.input.label_efficiency),
)

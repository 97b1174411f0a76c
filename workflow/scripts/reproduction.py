import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.stages.reproduction import reproduction_table

p = snakemake.params
reproduction_table(
    p.section,
    p.records,
    p.prepared,
    p.config_label,
    p.mlflow_experiment,
    snakemake.output.json,
    snakemake.output.table,
)

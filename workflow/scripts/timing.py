import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.stages.timing import timing_report

timing_report(snakemake.params.benchmarks, snakemake.output.table, snakemake.output.jobs)

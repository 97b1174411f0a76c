import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from pathlib import Path

from aeflow.stages.classifier import train_classifier

train_classifier(
    snakemake.wildcards.dataset,
    snakemake.params.classifier,
    snakemake.input.prepared,
    Path(snakemake.output.record).parent,
    threads=snakemake.threads,
)

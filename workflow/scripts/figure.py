import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.data import kinds
from aeflow.models import catalog
from aeflow.stages.figures import FigureInputs, draw

params = snakemake.params
experiment = params.experiment  # None for a dataset's figure
inputs = FigureInputs(
    target=params.target,
    files={
        key: value if isinstance(value, str) else list(value)
        for key, value in snakemake.input.items()
    },
    cfg=experiment,
    kind=kinds.traits(params.kind) if params.kind else None,
    model=catalog.traits(experiment["model"]) if experiment else None,
)
draw(params.figure, inputs, snakemake.output.figure, dataset_scope=experiment is None)

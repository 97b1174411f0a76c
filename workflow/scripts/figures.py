import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from aeflow.data import kinds
from aeflow.models import catalog
from aeflow.stages.figures import FigureInputs, draw_all

params = snakemake.params
experiment = params.experiment  # None for a dataset's figures
kind = kinds.traits(params.kind)
model = catalog.traits(experiment["model"]) if experiment else None
jobs = {
    figure: (
        FigureInputs(
            target=params.target,
            files={k: v if isinstance(v, str) else list(v) for k, v in files.items()},
            cfg=experiment,
            kind=kind,
            model=model,
        ),
        snakemake.output[figure],
    )
    for figure, files in params.figures.items()
}
draw_all(jobs, dataset_scope=experiment is None)

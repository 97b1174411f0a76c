import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")
from aeflow.logs import to_file

to_file(snakemake.log[0])
from pathlib import Path

from aeflow import stages

figure = snakemake.params.figure
inp, out = snakemake.input, snakemake.output.figure
if figure == "dataset":
    stages.plot_dataset(snakemake.wildcards.dataset, inp.prepared, out)
elif hasattr(inp, "thresholds"):
    stages.plot_anomaly(
        snakemake.wildcards.experiment,
        figure,
        inp.scores,
        inp.thresholds,
        out,
        Path(inp.model_json).parent,
    )
else:
    experiment, cfg = snakemake.wildcards.experiment, snakemake.params.experiment
    model_dir = Path(inp.model_json).parent
    plots = {
        "history": lambda: stages.plot_history(experiment, inp.history, out, model_dir),
        "error_distribution": lambda: stages.plot_error_distribution(
            experiment, inp.predictions, out, model_dir
        ),
        "examples": lambda: stages.plot_examples(experiment, cfg, inp.predictions, out, model_dir),
        "also_on_examples": lambda: stages.plot_also_on_examples(
            experiment, cfg, inp.predictions, out, model_dir
        ),
        "traces": lambda: stages.plot_trace_examples(
            experiment, cfg, inp.predictions, out, model_dir
        ),
        "spectra": lambda: stages.plot_spectra(experiment, cfg, inp.spectra, out, model_dir),
        "peak_accuracy": lambda: stages.plot_peak_accuracy(
            experiment, cfg, inp.predictions, out, model_dir
        ),
        "energy_ratio": lambda: stages.plot_energy_ratio(
            experiment, inp.predictions, out, model_dir
        ),
    }
    plots[figure]()

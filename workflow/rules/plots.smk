# Figures (each marked for the report) and the summary table.


rule plot_history:
    input:
        history="results/models/{experiment}/history.csv",
        model_json="results/models/{experiment}/model.json",
        run="results/models/{experiment}/run.json",
    output:
        figure=report(
            "results/figures/{experiment}/history.png",
            caption="../report/history.rst",
            category="{experiment}",
            labels={"figure": "training history"},
        ),
    log:
        "results/logs/plots/{experiment}/history.log",
    conda:
        ENV
    params:
        figure="history",
        experiment=experiment_config,
    script:
        "../scripts/plot.py"


rule plot_examples:
    input:
        predictions="results/eval/{experiment}/predictions.zarr",
        model_json="results/models/{experiment}/model.json",
        run="results/models/{experiment}/run.json",
    output:
        figure=report(
            "results/figures/{experiment}/examples.png",
            caption="../report/examples.rst",
            category="{experiment}",
            labels={"figure": "test examples"},
        ),
    log:
        "results/logs/plots/{experiment}/examples.log",
    conda:
        ENV
    params:
        figure="examples",
        experiment=experiment_config,
    script:
        "../scripts/plot.py"


rule plot_also_on_examples:
    input:
        predictions="results/eval/{experiment}/predictions.zarr",
        model_json="results/models/{experiment}/model.json",
        run="results/models/{experiment}/run.json",
    output:
        figure=report(
            "results/figures/{experiment}/also_on_examples.png",
            caption="../report/also_on_examples.rst",
            category="{experiment}",
            labels={"figure": "other datasets"},
        ),
    log:
        "results/logs/plots/{experiment}/also_on_examples.log",
    conda:
        ENV
    params:
        figure="also_on_examples",
        experiment=experiment_config,
    script:
        "../scripts/plot.py"


rule plot_error_distribution:
    input:
        predictions="results/eval/{experiment}/predictions.zarr",
        model_json="results/models/{experiment}/model.json",
        run="results/models/{experiment}/run.json",
    output:
        figure=report(
            "results/figures/{experiment}/error_distribution.png",
            caption="../report/error_distribution.rst",
            category="{experiment}",
            labels={"figure": "per-image error"},
        ),
    log:
        "results/logs/plots/{experiment}/error_distribution.log",
    conda:
        ENV
    params:
        figure="error_distribution",
        experiment=experiment_config,
    script:
        "../scripts/plot.py"


use rule plot_examples as plot_traces with:
    output:
        figure=report(
            "results/figures/{experiment}/traces.png",
            caption="../report/traces.rst",
            category="{experiment}",
            labels={"figure": "test traces"},
        ),
    log:
        "results/logs/plots/{experiment}/traces.log",
    params:
        figure="traces",
        experiment=experiment_config,


use rule plot_examples as plot_peak_accuracy with:
    output:
        figure=report(
            "results/figures/{experiment}/peak_accuracy.png",
            caption="../report/peak_accuracy.rst",
            category="{experiment}",
            labels={"figure": "peak-location accuracy vs SNR"},
        ),
    log:
        "results/logs/plots/{experiment}/peak_accuracy.log",
    params:
        figure="peak_accuracy",
        experiment=experiment_config,


use rule plot_examples as plot_energy_ratio with:
    output:
        figure=report(
            "results/figures/{experiment}/energy_ratio.png",
            caption="../report/energy_ratio.rst",
            category="{experiment}",
            labels={"figure": "energy ratio"},
        ),
    log:
        "results/logs/plots/{experiment}/energy_ratio.log",
    params:
        figure="energy_ratio",
        experiment=experiment_config,


rule plot_spectra:
    input:
        spectra="results/eval/{experiment}/spectra.zarr",
        model_json="results/models/{experiment}/model.json",
        run="results/models/{experiment}/run.json",
    output:
        figure=report(
            "results/figures/{experiment}/spectra.png",
            caption="../report/spectra.rst",
            category="{experiment}",
            labels={"figure": "FFT spectra"},
        ),
    log:
        "results/logs/plots/{experiment}/spectra.log",
    conda:
        ENV
    params:
        figure="spectra",
        experiment=experiment_config,
    script:
        "../scripts/plot.py"


rule plot_anomaly:
    input:
        scores="results/anomaly/{experiment}/scores.zarr",
        thresholds="results/anomaly/{experiment}/thresholds.json",
        model_json="results/models/{experiment}/model.json",
        run="results/models/{experiment}/run.json",
    output:
        figure=report(
            "results/figures/{experiment}/{figure}.png",
            caption="../report/anomaly.rst",
            category="{experiment}",
            labels={"figure": "{figure}"},
        ),
    log:
        "results/logs/plots/{experiment}/{figure}.log",
    wildcard_constraints:
        figure="|".join(ANOMALY_FIGURES),
    conda:
        ENV
    params:
        figure=lambda wildcards: wildcards.figure,
        experiment=experiment_config,
    script:
        "../scripts/plot.py"


rule plot_latent:
    input:
        model="results/models/{experiment}/model.pt",
        model_json="results/models/{experiment}/model.json",
        run="results/models/{experiment}/run.json",
        prepared=experiment_prepared,
    output:
        space=report(
            "results/figures/{experiment}/latent_space.png",
            caption="../report/latent_space.rst",
            category="{experiment}",
            labels={"figure": "latent space"},
        ),
        walks=report(
            "results/figures/{experiment}/latent_walks.png",
            caption="../report/latent_walks.rst",
            category="{experiment}",
            labels={"figure": "latent operations"},
        ),
    log:
        "results/logs/plots/{experiment}/latent.log",
    conda:
        ENV
    params:
        experiment=experiment_config,
    script:
        "../scripts/plot_latent.py"


rule plot_compression:
    input:
        result="results/compression/{dataset}.json",
    output:
        figure=report(
            "results/figures/compression/{dataset}.png",
            caption="../report/compression.rst",
            category="Compression",
            labels={"dataset": "{dataset}"},
        ),
    log:
        "results/logs/plots/compression/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/plot_compression.py"


rule plot_dataset:
    input:
        prepared="results/prepared/{dataset}.zarr",
    output:
        figure=report(
            "results/figures/datasets/{dataset}/traces.png",
            caption="../report/dataset_traces.rst",
            category="Datasets",
            labels={"dataset": "{dataset}"},
        ),
    log:
        "results/logs/plots/datasets/{dataset}.log",
    conda:
        ENV
    params:
        figure="dataset",
    script:
        "../scripts/plot.py"


rule summary:
    input:
        metrics=[metrics_json(experiment) for experiment in config["experiments"]],
        anomaly=expand(
            "results/anomaly/{experiment}/thresholds.json",
            experiment=anomaly_experiments(),
        ),
    output:
        table=report(
            "results/summary/metrics.html",
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "test metrics"},
        ),
    log:
        "results/logs/summary.log",
    conda:
        ENV
    params:
        experiments=list(config["experiments"]),
        anomaly=anomaly_experiments(),
    script:
        "../scripts/summary.py"

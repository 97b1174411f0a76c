# Figures (each marked for the report) and the summary table.


rule plot_history:
    input:
        history="results/models/{experiment}/history.csv",
        model_json="results/models/{experiment}/model.json",
    output:
        figure=report(
            "results/figures/{experiment}/history.png",
            caption="../report/history.rst",
            category="{experiment}",
            labels={"figure": "training history"},
        ),
    params:
        figure="history",
        experiment=experiment_config,
    log:
        "results/logs/plots/{experiment}/history.log",
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule plot_examples:
    input:
        predictions="results/eval/{experiment}/predictions.zarr",
        model_json="results/models/{experiment}/model.json",
    output:
        figure=report(
            "results/figures/{experiment}/examples.png",
            caption="../report/examples.rst",
            category="{experiment}",
            labels={"figure": "test examples"},
        ),
    params:
        figure="examples",
        experiment=experiment_config,
    log:
        "results/logs/plots/{experiment}/examples.log",
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule plot_also_on_examples:
    input:
        predictions="results/eval/{experiment}/predictions.zarr",
        model_json="results/models/{experiment}/model.json",
    output:
        figure=report(
            "results/figures/{experiment}/also_on_examples.png",
            caption="../report/also_on_examples.rst",
            category="{experiment}",
            labels={"figure": "other datasets"},
        ),
    params:
        figure="also_on_examples",
        experiment=experiment_config,
    log:
        "results/logs/plots/{experiment}/also_on_examples.log",
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule plot_error_distribution:
    input:
        predictions="results/eval/{experiment}/predictions.zarr",
        model_json="results/models/{experiment}/model.json",
    output:
        figure=report(
            "results/figures/{experiment}/error_distribution.png",
            caption="../report/error_distribution.rst",
            category="{experiment}",
            labels={"figure": "per-image error"},
        ),
    params:
        figure="error_distribution",
        experiment=experiment_config,
    log:
        "results/logs/plots/{experiment}/error_distribution.log",
    conda:
        ENV
    script:
        "../scripts/plot.py"


rule summary:
    input:
        metrics=expand("results/eval/{experiment}/metrics.json", experiment=config["experiments"]),
    output:
        table=report(
            "results/summary/metrics.html",
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "test metrics"},
        ),
    params:
        experiments=list(config["experiments"]),
    log:
        "results/logs/summary.log",
    conda:
        ENV
    script:
        "../scripts/summary.py"

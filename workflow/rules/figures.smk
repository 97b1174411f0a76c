# Figures (each marked for the report) and the summary table. Which figures an experiment or
# dataset gets, and from which files, is the table aeflow.plan.FIGURES.


rule experiment_figure:
    input:
        unpack(experiment_figure_inputs),
    output:
        figure=report(
            "results/figures/{experiment}/{figure}.png",
            caption="../report/figure.rst",
            category="{experiment}",
            labels=experiment_figure_label,
        ),
    log:
        "results/logs/plots/{experiment}/{figure}.log",
    wildcard_constraints:
        figure="|".join(plan.figure_names()),
    conda:
        ENV
    params:
        figure=lambda wildcards: wildcards.figure,
        target=lambda wildcards: wildcards.experiment,
        experiment=experiment_config,
        kind=experiment_kind,
        caption=experiment_caption,
    script:
        "../scripts/figure.py"


rule dataset_figure:
    input:
        unpack(dataset_figure_inputs),
    output:
        figure=report(
            "results/figures/datasets/{dataset}/{figure}.png",
            caption="../report/figure.rst",
            category=dataset_figure_category,
            labels=dataset_figure_label,
        ),
    log:
        "results/logs/plots/datasets/{dataset}/{figure}.log",
    wildcard_constraints:
        figure="|".join(plan.figure_names(dataset_scope=True)),
    conda:
        ENV
    params:
        figure=lambda wildcards: wildcards.figure,
        target=lambda wildcards: wildcards.dataset,
        experiment=None,
        kind=lambda wildcards: config["datasets"][wildcards.dataset]["kind"],
        caption=dataset_caption,
    script:
        "../scripts/figure.py"


rule summary:
    input:
        metrics=[PLAN.record(experiment) for experiment in config["experiments"]],
        anomaly=[
            f"{plan.anomaly_dir(experiment)}/thresholds.json"
            for experiment in PLAN.anomaly_experiments()
        ],
    output:
        table=report(
            plan.SUMMARY,
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
        anomaly=PLAN.anomaly_experiments(),
    script:
        "../scripts/summary.py"

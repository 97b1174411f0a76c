# Figures (each marked for the report) and the summary table. Which figures an experiment or
# dataset gets, and from which files, is the table aeflow.plan.FIGURES. One plotting job per
# experiment (and per dataset) draws all of its figures, so Python, torch, xarray and
# matplotlib start once per target rather than once per figure; a rule per target, because
# the set of figures (the outputs) differs between targets.


for _experiment, _figures in PLAN.figure_jobs():

    rule:
        name:
            f"figures_{_experiment}"
        input:
            **PLAN.figure_job_files(_figures),
        output:
            **{
                spec.name: report(
                    plan.figure_path("{experiment}", spec.name),
                    caption=f"../report/{spec.caption}.rst",
                    category="{experiment}",
                    labels={"figure": spec.label},
                )
                for spec in map(plan.figure_spec, _figures)
            },
            # the vector twin of each figure (same name, .pdf), for papers
            **{
                f"{name}_pdf": plan.figure_path("{experiment}", name, "pdf")
                for name in _figures
            },
        log:
            "results/logs/figures/{experiment}.log",
        benchmark:
            "results/benchmarks/figures/{experiment}.tsv"
        wildcard_constraints:
            experiment=_experiment,
        conda:
            ENV
        params:
            figures=_figures,
            target=_experiment,
            experiment=config["experiments"][_experiment],
            kind=PLAN.kind(_experiment).name,
        script:
            "../scripts/figures.py"


for _dataset, _figures in PLAN.figure_jobs(dataset_scope=True):

    rule:
        name:
            f"dataset_figures_{_dataset}"
        input:
            **PLAN.figure_job_files(_figures),
        output:
            **{
                spec.name: report(
                    plan.dataset_figure_path("{dataset}", spec.name),
                    caption=f"../report/{spec.caption}.rst",
                    category=spec.category,
                    labels={"figure": spec.label, "dataset": _dataset},
                )
                for spec in (plan.figure_spec(name, True) for name in _figures)
            },
            **{
                f"{name}_pdf": plan.dataset_figure_path("{dataset}", name, "pdf")
                for name in _figures
            },
        log:
            "results/logs/dataset_figures/{dataset}.log",
        benchmark:
            "results/benchmarks/dataset_figures/{dataset}.tsv"
        wildcard_constraints:
            dataset=_dataset,
        conda:
            ENV
        params:
            figures=_figures,
            target=_dataset,
            experiment=None,
            kind=config["datasets"][_dataset]["kind"],
        script:
            "../scripts/figures.py"


rule summary:
    input:
        metrics=[PLAN.record(experiment) for experiment in config["experiments"]],
        anomaly=[
            f"{plan.anomaly_dir(experiment)}/thresholds.json"
            for experiment in PLAN.anomaly_experiments()
        ],
        label_efficiency=[
            plan.label_efficiency_result(dataset)
            for dataset in config["label_efficiency"]
        ],
    output:
        table=report(
            plan.SUMMARY,
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "test metrics"},
        ),
        json=plan.SUMMARY_JSON,
    log:
        "results/logs/summary/metrics.log",
    benchmark:
        "results/benchmarks/summary/metrics.tsv"
    conda:
        ENV
    params:
        experiments=list(config["experiments"]),
        anomaly=PLAN.anomaly_experiments(),
        config_label=CONFIG_LABEL,
        mlflow_experiment=config["mlflow"]["experiment"],
    script:
        "../scripts/summary.py"


rule reproduction:
    input:
        catalog=str(reproduction.CATALOG),
        records=[
            path
            for files in PLAN.reproduction_records().values()
            for path in files.values()
        ],
        prepared=list(PLAN.reproduction_prepared().values()),
    output:
        json=plan.REPRODUCTION,
        table=report(
            plan.REPRODUCTION_TABLE,
            caption="../report/reproduction.rst",
            category="Summary",
            labels={"table": "published vs obtained"},
        ),
    log:
        "results/logs/summary/reproduction.log",
    benchmark:
        "results/benchmarks/summary/reproduction.tsv"
    conda:
        ENV
    params:
        section=config["reproduction"],
        records=PLAN.reproduction_records(),
        prepared=PLAN.reproduction_prepared(),
        config_label=CONFIG_LABEL,
        mlflow_experiment=config["mlflow"]["experiment"],
    script:
        "../scripts/reproduction.py"


rule timing:
    input:
        PLAN.targets(),
    output:
        table=report(
            plan.TIMING,
            caption="../report/timing.rst",
            category="Summary",
            labels={"table": "where the time went"},
        ),
        jobs=plan.TIMING_CSV,
    log:
        "results/logs/timing.log",
    conda:
        ENV
    params:
        benchmarks="results/benchmarks",
    script:
        "../scripts/timing.py"

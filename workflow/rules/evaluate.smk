# Test metrics of each trained model beside its classical baselines.


rule evaluate:
    input:
        model="results/models/{experiment}/model.pt",
        model_json="results/models/{experiment}/model.json",
        run="results/models/{experiment}/run.json",
        prepared=experiment_prepared,
        also_on=also_on_prepared,
    output:
        metrics="results/eval/{experiment}/metrics.json",
        predictions=directory("results/eval/{experiment}/predictions.zarr"),
    log:
        "results/logs/evaluate/{experiment}.log",
    benchmark:
        "results/benchmarks/evaluate/{experiment}.tsv"
    conda:
        ENV
    threads: train_threads
    resources:
        gpu=uses_gpu,
    params:
        experiment=experiment_config,
        mlflow=config["mlflow"],
        also_on=also_on,
    script:
        "../scripts/evaluate.py"


rule spectra:
    input:
        predictions="results/eval/{experiment}/predictions.zarr",
    output:
        spectra=directory("results/eval/{experiment}/spectra.zarr"),
    log:
        "results/logs/spectra/{experiment}.log",
    benchmark:
        "results/benchmarks/spectra/{experiment}.tsv"
    conda:
        ENV
    params:
        also_on=also_on,
    script:
        "../scripts/spectra.py"


rule anomaly:
    input:
        model="results/models/{experiment}/model.pt",
        model_json="results/models/{experiment}/model.json",
        run="results/models/{experiment}/run.json",
        prepared=experiment_prepared,
    output:
        scores=directory("results/anomaly/{experiment}/scores.zarr"),
        thresholds="results/anomaly/{experiment}/thresholds.json",
    log:
        "results/logs/anomaly/{experiment}.log",
    benchmark:
        "results/benchmarks/anomaly/{experiment}.tsv"
    conda:
        ENV
    threads: train_threads
    resources:
        gpu=uses_gpu,
    params:
        experiment=experiment_config,
        mlflow=config["mlflow"],
    script:
        "../scripts/anomaly.py"


rule compression:
    input:
        prepared=lambda wildcards: plan.prepared(wildcards.dataset),
        store="results/mlflow/store.json",
    output:
        result="results/compression/{dataset}.json",
    log:
        "results/logs/compression/{dataset}.log",
    benchmark:
        "results/benchmarks/compression/{dataset}.tsv"
    conda:
        ENV
    threads: lambda wildcards: config["compression"]["threads"]
    params:
        study=config["compression"],
        mlflow=config["mlflow"],
    script:
        "../scripts/compression.py"

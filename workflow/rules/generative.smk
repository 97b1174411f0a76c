# Generative experiments: the feature classifier of each labelled dataset, and samples
# scored against the real test set.


rule classifier:
    input:
        prepared=lambda wildcards: plan.prepared(wildcards.dataset),
    output:
        model="results/classifiers/{dataset}/model.pt",
        record="results/classifiers/{dataset}/classifier.json",
    log:
        "results/logs/classifier/{dataset}.log",
    benchmark:
        "results/benchmarks/classifier/{dataset}.tsv"
    conda:
        ENV
    threads: lambda wildcards: config["classifier"]["threads"]
    params:
        classifier=config["classifier"],
    script:
        "../scripts/classifier.py"


rule generate:
    input:
        model="results/models/{experiment}/model.pt",
        model_json="results/models/{experiment}/model.json",
        run="results/models/{experiment}/run.json",
        prepared=experiment_prepared,
        classifier=classifier_input,
    output:
        metrics="results/generative/{experiment}/metrics.json",
        samples=directory("results/generative/{experiment}/samples.zarr"),
    log:
        "results/logs/generate/{experiment}.log",
    benchmark:
        "results/benchmarks/generate/{experiment}.tsv"
    conda:
        ENV
    threads: train_threads
    resources:
        gpu=uses_gpu,
    params:
        experiment=experiment_config,
        mlflow=config["mlflow"],
    script:
        "../scripts/generate.py"

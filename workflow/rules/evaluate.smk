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


# What a pretrained encoder buys when labels are few: a classifier head on the frozen and on
# the fine-tuned encoders of the study's experiments, beside the same networks from scratch
# and logistic regression on PCA features.
rule label_efficiency:
    input:
        prepared=lambda wildcards: plan.prepared(wildcards.dataset),
        models=lambda wildcards: [
            f"{plan.model_dir(e)}/{f}"
            for e in config["label_efficiency"][wildcards.dataset]["encoders"]
            for f in ("model.pt", "model.json")
        ],
        store="results/mlflow/store.json",
    output:
        result="results/label_efficiency/{dataset}.json",
    log:
        "results/logs/label_efficiency/{dataset}.log",
    benchmark:
        "results/benchmarks/label_efficiency/{dataset}.tsv"
    conda:
        ENV
    threads: lambda wildcards: config["label_efficiency"][wildcards.dataset]["threads"]
    resources:
        gpu=int(GPU_HOST),  # its networks train where a GPU is
    params:
        study=lambda wildcards: config["label_efficiency"][wildcards.dataset],
        encoders=lambda wildcards: {
            e: {
                "model_dir": plan.model_dir(e),
                "task": config["experiments"][e]["task"],
            }
            for e in config["label_efficiency"][wildcards.dataset]["encoders"]
        },
        mlflow=config["mlflow"],
    script:
        "../scripts/label_efficiency.py"

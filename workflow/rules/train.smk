# The MLflow store (created once, before any training job) and training.


rule mlflow_init:
    output:
        store="results/mlflow/store.json",
    log:
        "results/logs/mlflow_init/store.log",
    benchmark:
        "results/benchmarks/mlflow_init/store.tsv"
    conda:
        ENV
    params:
        mlflow=config["mlflow"],
    script:
        "../scripts/mlflow_init.py"


rule train:
    input:
        prepared=experiment_prepared,
        store="results/mlflow/store.json",
        init=init_weights,
    output:
        model="results/models/{experiment}/model.pt",
        model_json="results/models/{experiment}/model.json",
        history="results/models/{experiment}/history.csv",
        run="results/models/{experiment}/run.json",
    log:
        "results/logs/train/{experiment}.log",
    benchmark:
        "results/benchmarks/train/{experiment}.tsv"
    conda:
        ENV
    threads: train_threads
    resources:
        gpu=uses_gpu,
    params:
        spec=experiment_training_spec,
        mlflow=config["mlflow"],
        checkpoint_dir=lambda wildcards: plan.checkpoint_dir(wildcards.experiment),
    script:
        "../scripts/train.py"

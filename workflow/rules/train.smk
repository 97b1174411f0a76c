# The MLflow store (created once, before any training job) and training.


rule mlflow_init:
    output:
        store="results/mlflow/store.json",
    params:
        mlflow=config["mlflow"],
    log:
        "results/logs/mlflow_init.log",
    conda:
        ENV
    script:
        "../scripts/mlflow_init.py"


rule train:
    input:
        prepared=experiment_prepared,
        store="results/mlflow/store.json",
    output:
        model="results/models/{experiment}/model.pt",
        model_json="results/models/{experiment}/model.json",
        history="results/models/{experiment}/history.csv",
        run="results/models/{experiment}/run.json",
    params:
        experiment=experiment_config,
        mlflow=config["mlflow"],
        checkpoint_dir=lambda wildcards: f"results/checkpoints/{wildcards.experiment}",
    threads: train_threads
    resources:
        gpu=uses_gpu,
    log:
        "results/logs/train/{experiment}.log",
    conda:
        ENV
    script:
        "../scripts/train.py"

# Generative experiments: the feature classifier of each labelled dataset, samples scored
# against the real test set, and their figures.


rule classifier:
    input:
        prepared=lambda wildcards: prepared(wildcards.dataset),
    output:
        model="results/classifiers/{dataset}/model.pt",
        record="results/classifiers/{dataset}/classifier.json",
    log:
        "results/logs/classifiers/{dataset}.log",
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


rule plot_generative:
    input:
        samples="results/generative/{experiment}/samples.zarr",
        metrics="results/generative/{experiment}/metrics.json",
        model="results/models/{experiment}/model.pt",
        model_json="results/models/{experiment}/model.json",
        run="results/models/{experiment}/run.json",
        prepared=experiment_prepared,
    output:
        figure=report(
            "results/figures/{experiment}/{figure}.png",
            caption="../report/generative.rst",
            category="{experiment}",
            labels={"figure": "{figure}"},
        ),
    log:
        "results/logs/plots/{experiment}/{figure}.log",
    wildcard_constraints:
        figure="|".join(GENERATIVE_FIGURES),
    conda:
        ENV
    params:
        figure=lambda wildcards: wildcards.figure,
    script:
        "../scripts/plot_generative.py"


rule plot_class_histogram:
    input:
        metrics=lambda wildcards: [
            f"results/generative/{e}/metrics.json"
            for e in class_histogram_experiments(wildcards.dataset)
        ],
    output:
        figure=report(
            "results/figures/datasets/{dataset}/class_histogram.png",
            caption="../report/class_histogram.rst",
            category="Generative models",
            labels={"figure": "class histogram", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/plots/datasets/{dataset}/class_histogram.log",
    conda:
        ENV
    params:
        experiments=lambda wildcards: class_histogram_experiments(wildcards.dataset),
    script:
        "../scripts/plot_class_histogram.py"

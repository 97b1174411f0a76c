# Raw data (simulated, downloaded or copied, hash-checked) and its preprocessing.


rule fetch_npz:
    input:
        local_source,
    output:
        raw="data/raw/{dataset}.npz",
    log:
        "results/logs/fetch/{dataset}.log",
    benchmark:
        "results/benchmarks/fetch/{dataset}.tsv"
    wildcard_constraints:
        dataset=DATASETS,
    conda:
        ENV
    params:
        dataset=dataset_config,
    script:
        "../scripts/fetch.py"


use rule fetch_npz as fetch_hdf5 with:
    output:
        raw="data/raw/{dataset}.h5",


rule prepare:
    input:
        raw=raw_input,
    output:
        store=directory("results/prepared/{dataset}.zarr"),
    log:
        "results/logs/prepare/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare/{dataset}.tsv"
    conda:
        ENV
    params:
        dataset=dataset_config,
    script:
        "../scripts/prepare.py"

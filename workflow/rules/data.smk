# Raw data (simulated, downloaded or copied, hash-checked) and its preprocessing.


rule fetch_npz:
    input:
        local_source,
    output:
        raw="data/raw/{dataset}.npz",
    params:
        dataset=dataset_config,
    log:
        "results/logs/fetch/{dataset}.log",
    conda:
        ENV
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
    params:
        dataset=dataset_config,
    log:
        "results/logs/prepare/{dataset}.log",
    conda:
        ENV
    script:
        "../scripts/prepare.py"

# aeflow: `make run` sets up and runs the default workflow; `make test` sets up and tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= all

.PHONY: setup data-packages test-packages debian-packages run smoke report readme test lint unit stage e2e bench bench-peer-env bench-peer clean

# Debian packages: the real Fashion-MNIST the default workflow reads (IDX files under
# /usr/share/datasets/fashion-mnist), and for the tests only a single-node SLURM (the cluster
# test). Installed when run as root on Debian/Ubuntu; otherwise the data are downloaded and
# the cluster test is skipped.
DATA_PACKAGES := dataset-fashion-mnist
TEST_PACKAGES := slurm-wlm munge

## setup: create .venv and install aeflow with its dev tools (a no-op when nothing changed),
## plus the data's Debian package when run as root on Debian/Ubuntu
setup: $(STAMP) data-packages

data-packages:
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(DATA_PACKAGES)"

test-packages:
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(TEST_PACKAGES)"

debian-packages:
	@if dpkg -s $(PACKAGES) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages: $(PACKAGES)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PACKAGES) >/dev/null; \
	else \
		echo "note: Debian packages $(PACKAGES) missing and not root: what needs them downloads or is skipped"; \
	fi

# uv installs the environment in seconds where pip takes about 90 s. Wheels kept on disk for
# pip (its find-links, e.g. a CPU build of torch) are handed to uv; pip is the fallback.
# Bytecode is compiled at install (as pip does): where PYTHONDONTWRITEBYTECODE is set, every
# job would otherwise compile torch, MLflow and the rest again (imports 2.5x slower).
FIND_LINKS := $(sort $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	# torch==2.13.0 (pinned in pyproject.toml) is the CPU wheel on this machine's disk.
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python $(addprefix --find-links ,$(FIND_LINKS)) -e '.[dev]' \
		|| { echo "uv failed: installing with pip"; $(BIN)/python -m pip install --quiet -e '.[dev]'; }
	touch $@

## run: the embedded default workflow, then the HTML report (rebuilt only when a job ran:
## the timing table is the last job of every run that did something)
run: setup
	$(BIN)/snakemake --cores $(CORES)
	@if [ results/report.html -nt results/summary/timing.html ]; then \
		echo "report: results/report.html (up to date)"; \
	else \
		$(BIN)/snakemake --report results/report.html && echo "report: results/report.html"; \
	fi

## smoke: every stage on tiny simulated data (.test/config/config.yaml, 1.5-3 minutes),
## results and report under .test/results: the way to look before the full run
smoke: setup
	$(BIN)/snakemake --cores $(CORES) --directory .test
	$(BIN)/snakemake --directory .test --report results/report.html
	@echo "report: .test/results/report.html"

report: setup
	$(BIN)/snakemake --report results/report.html

## readme: keep a run's published-vs-ours table and summary tables (results/reproduction.json,
## results/summary/metrics.json -> docs/{reproduction,summary}/<MLflow experiment>.json) and
## regenerate the README's tables from them
readme: setup
	$(BIN)/python -m aeflow.readme --collect results

## test: quality gates and the whole test suite (tiers: tests/unit, tests/stage, tests/e2e),
## one pytest worker per core, each test file on one worker
PYTEST_WORKERS ?= auto
PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15
test: setup test-packages lint
	$(BIN)/pytest $(PARALLEL)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint
	$(BIN)/python -m aeflow.readme --check

## unit: pure functions, models and configs (under a minute)
unit: setup
	$(BIN)/pytest $(PARALLEL) tests/unit

## stage: each stage function on tiny data in a temporary store
stage: setup
	$(BIN)/pytest $(PARALLEL) tests/stage

## e2e: the Snakemake workflow end to end (SLURM and GPU-lock tests included; slow)
e2e: setup test-packages
	$(BIN)/pytest $(PARALLEL) tests/e2e

bench: setup
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/train_throughput.py --model conv1d_dae --size 500 --batch-size 64

## bench-peer-env: bench/peer/.venv with TensorFlow (CPU) for the Keras peer benchmark
bench-peer-env:
	PYTHON=$(PYTHON) bash bench/peer/setup.sh

## bench-peer: the SAXS network's training throughput, ours against Keras, alternating rounds
bench-peer: setup bench-peer-env
	$(BIN)/python bench/train_throughput.py --peer $(BENCH_PEER_ARGS)

clean:
	rm -rf results data .snakemake

#!/usr/bin/env bash
# The peer venv for bench/peer/keras_saxs.py: TensorFlow (CPU) in its own venv, kept out of
# aeflow's .venv so that TensorFlow and torch never share a process or a dependency set.
#
#     bash bench/peer/setup.sh            # or: make bench-peer-env
#
# A no-op when the pinned version is already installed.
set -euo pipefail

TENSORFLOW="tensorflow-cpu==2.21.0"
PYTHON="${PYTHON:-python3}"
VENV="$(cd "$(dirname "$0")" && pwd)/.venv"
STAMP="$VENV/.installed-$TENSORFLOW"

if [ -f "$STAMP" ]; then
	exit 0
fi
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "$TENSORFLOW"
"$VENV/bin/python" -c 'import tensorflow as tf; print("peer venv ready: tensorflow", tf.__version__)'
touch "$STAMP"

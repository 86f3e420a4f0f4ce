#!/usr/bin/env bash
# The two tables a 2-core CPU cannot finish (HIRL's six bases x 3 seeds; HierNet 3 seeds x A = 2, 4, ELU and narrow
# backbones), in one call on a lent GPU machine: Keras' JAX backend, mixed precision, no TensorFlow (see
# benchmarks/gpu_tables.py for the budgets).
#
#   1. Here, once:  bash scripts/gpu_tables.sh prepare
#      (Keras' wheels into .whl/ and Fashion-MNIST into .gpu_data/, both kept out of git: about 32 MB to carry).
#   2. The device call (tool `run`, carry [".whl", ".gpu_data"], timeout_s 600):
#      bash scripts/gpu_tables.sh --output $OUT/gpu_tables --minutes 9
#   3. Here, from what came back:
#      .venv/bin/python -m benchmarks.gpu_tables --rebuild --output FILES_AT/gpu_tables --docs docs/results/gpu_tables.md
#      and commit the two metrics.json files under docs/results/gpu_tables/ with the markdown.
#
# Any other arguments go to `python -m benchmarks.gpu_tables` (e.g. `--size tiny` for the CPU test).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${1:-}" = prepare ]; then
  for ignored in /.whl/ /.gpu_data/; do
    grep -qxF "$ignored" .git/info/exclude 2>/dev/null || echo "$ignored" >> .git/info/exclude
  done
  keras_version=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("keras"))')
  # The GPU image has numpy, scipy, scikit-learn, matplotlib, h5py, absl-py, rich and ml-dtypes; not these.
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "keras==$keras_version" namex optree
  mkdir -p .gpu_data
  .venv/bin/python - <<'PY'
import shutil
from keras_hier.datasets import fashion_mnist
shutil.copytree(fashion_mnist.find_data_dir(), ".gpu_data/fashion-mnist", dirs_exist_ok=True)
PY
  du -sh .whl .gpu_data
  exit 0
fi

export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import keras" >/dev/null 2>&1; then  # the GPU machine: Keras from the carried wheels
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if [ -d .gpu_data/fashion-mnist ]; then export KERAS_HIER_FASHION_MNIST_DIR=$PWD/.gpu_data/fashion-mnist; fi
# XLA's compilation cache: the seeds after the first, and a rerun, skip compiling the same steps again.
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/keras_hier_jax_cache}
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
exec "$PYTHON" -m benchmarks.gpu_tables "$@"

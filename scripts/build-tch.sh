#!/usr/bin/env bash
# Builds minbert with the LibTorch backend (`--features tch`, `--device libtorch`) against the
# PyTorch 2.9.0 wheel that the `tch` 0.22 crate is written for, installed in ../tch-venv together
# with the PyTorch reference benchmark's other requirements (so that the reference can run on the
# very same libtorch). The wheel from PyPI is the CUDA build (about 4 GB with its NVIDIA
# libraries); only its CPU path is used here. Usage: scripts/build-tch.sh
# Then run the binary with LD_LIBRARY_PATH as printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-../tch-venv}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/target-minbert}"
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.9.0
  grep -v '^torch==' ../shared/bench/pytorch/requirements.txt | "$venv/bin/pip" install -q -r /dev/stdin
fi
venv=$(cd "$venv" && pwd)
# torch-sys finds libtorch (headers and libraries) through the venv's python.
VIRTUAL_ENV=$venv PATH="$venv/bin:$PATH" LIBTORCH_USE_PYTORCH=1 cargo build --release -p minbert-cli --features tch
lib=$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)
echo "built $CARGO_TARGET_DIR/release/minbert with libtorch; run it with:"
echo "  export LD_LIBRARY_PATH=$lib"

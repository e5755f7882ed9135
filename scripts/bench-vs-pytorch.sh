#!/usr/bin/env bash
# minbert vs PyTorch + PEFT, back to back on this machine (../shared/docs/BENCHMARKS.md):
# sets up the reference in ../bench-venv if missing, then per run and mode alternates the two
# tools, each in its own process, and prints both tables and the ratio ours / PyTorch.
# Usage: scripts/bench-vs-pytorch.sh [OUT_DIR]   (env: RUNS=3, MODES="infer full lora dora",
# PRECISION=f32 for minbert; VENV=../bench-venv; MINBERT=binary, default: built here with the
# default features; MINBERT_DEVICE=libtorch with a `scripts/build-tch.sh` binary and VENV=../tch-venv
# compares both on the same libtorch)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-target/bench-vs-pytorch/$(date +%F)}
runs=${RUNS:-3}
modes=${MODES:-infer full lora dora}
model=${MINBERT_MODEL:-sentence-transformers/all-MiniLM-L6-v2}
ref=../shared/bench/pytorch
venv=${VENV:-../bench-venv}
precision=${PRECISION:-f32}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/target-minbert}"
# A CPU comparison: the CPU backend unless MINBERT_DEVICE says otherwise (auto would take a GPU).
export MINBERT_DEVICE="${MINBERT_DEVICE:-flex}"

if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$ref/requirements.txt"
fi
if [[ -z ${MINBERT:-} ]]; then
  cargo build --release -p minbert-cli
  MINBERT="$CARGO_TARGET_DIR/release/minbert"
fi
bin=$MINBERT
mkdir -p "$out"
{ grep -m1 'model name' /proc/cpuinfo || true; nproc; uptime; } > "$out/machine.txt"
for r in $(seq 1 "$runs"); do
  for m in $modes; do
    "$venv/bin/python" "$ref/bench_train.py" --model "$model" --mode "$m" --threads 2 \
      --json "$out/pytorch-$m-$r.json" 2> >(grep -v -e 'Loading weights' -e 'warnings.warn' >&2)
    "$bin" bench --model "$model" --mode "$m" --precision "$precision" --threads 2 --json "$out/minbert-$m-$r.json"
  done
done
uptime >> "$out/machine.txt"
"$venv/bin/python" "$ref/summarize.py" "$out"/*.json
"$venv/bin/python" - "$out" <<'PY'
import json, pathlib, statistics, sys
rows = {}
for f in pathlib.Path(sys.argv[1]).glob("*.json"):
    r = json.loads(f.read_text())
    rows.setdefault((r["mode"], r["tool"]), []).append(r)
print("\n| mode | ours / PyTorch ex/s | ours / PyTorch peak RSS |")
print("|---|---|---|")
for mode in ["infer", "full", "lora", "dora"]:
    ours, ref = rows.get((mode, "minbert")), rows.get((mode, "pytorch"))
    if not ours or not ref:
        continue
    med = lambda rs, k: statistics.median(r[k] for r in rs)
    print(f"| {mode} | {med(ours, 'examples_per_s') / med(ref, 'examples_per_s'):.2f} | "
          f"{med(ours, 'peak_rss_mib') / med(ref, 'peak_rss_mib'):.2f} |")
PY

#!/usr/bin/env bash
# minbert vs PyTorch + PEFT, back to back on this machine (../shared/docs/BENCHMARKS.md):
# sets up the reference in ../bench-venv if missing, then per run and mode alternates the two
# tools, each in its own process, and prints both tables and the ratio ours / PyTorch. Each run
# also times the FFN's GEMM (2048 x 384 x 1536) in numpy's OpenBLAS (the machine's best fp32
# GEMM at hand) and in minbert's backend (`minbert bench --mode gemm`), and the last table gives
# each mode's effective GFLOP/s as a fraction of them.
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
mkdir -p "$out/gemm"
for r in $(seq 1 "$runs"); do
  # OpenBLAS picks its kernels by CPU; the variables some machines set would pin it lower.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$venv/bin/python" "$ref/gemm_bench.py" --threads 2 \
    --json "$out/gemm/openblas-$r.json"
  "$bin" bench --model "$model" --mode gemm --threads 2 --json "$out/gemm/minbert-$r.json"
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

# The GEMM limit: medians over runs of each probe's median GFLOP/s on the FFN shape.
gemm = pathlib.Path(sys.argv[1]) / "gemm"
load = lambda pattern: [json.loads(f.read_text()) for f in sorted(gemm.glob(pattern))]
openblas = statistics.median(g["numpy_matmul"]["gflops_median"] for g in load("openblas-*.json"))
mkl = statistics.median(g["torch_matmul"]["gflops_median"] for g in load("openblas-*.json"))
ffn = lambda g: next(s for s in g["gemm"] if s["name"] == "ffn_up")["gflops_median"]
flex = statistics.median(ffn(g) for g in load("minbert-*.json"))
print(f"\nFFN GEMM 2048x384x1536, GFLOP/s (median): numpy OpenBLAS {openblas:.1f}, "
      f"PyTorch {mkl:.1f}, minbert's backend {flex:.1f}")
print("\n| mode | minbert GFLOP/s (runs) | of OpenBLAS's GEMM | of minbert's GEMM | PyTorch GFLOP/s |")
print("|---|---|---|---|---|")
for mode in ["infer", "full", "lora", "dora"]:
    ours, ref = rows.get((mode, "minbert")), rows.get((mode, "pytorch"))
    if not ours:
        continue
    rates = [r["effective_gflops"] for r in ours]
    med = statistics.median(rates)
    # The same workload: PyTorch's rate at minbert's count of FLOPs per example.
    theirs = (statistics.median(r["examples_per_s"] for r in ref) * ours[0]["gflop_per_example_step"]
              if ref else float("nan"))
    print(f"| {mode} | {med:.1f} ({', '.join(f'{x:.1f}' for x in rates)}) | {med / openblas:.0%} | "
          f"{med / flex:.0%} | {theirs:.1f} |")
PY

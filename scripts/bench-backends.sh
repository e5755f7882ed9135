#!/usr/bin/env bash
# Forward throughput of each CPU backend on the benchmark workload (batch 32, seq 64, 2 threads):
# builds minbert with flex + ndarray + OpenBLAS compiled in, then runs `minbert bench --mode infer`
# three times per device, alternating. Needs libopenblas-dev. Results: target/bench-backends/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/target-minbert}"
cargo build --release -p minbert-cli --features openblas
bin="$CARGO_TARGET_DIR/release/minbert"
out=target/bench-backends
mkdir -p "$out"
for run in 1 2 3; do
  for device in flex ndarray; do
    "$bin" bench --mode infer --device "$device" --json "$out/infer-$device-$run.json"
  done
done
python3 - "$out" <<'PY'
import json, pathlib, statistics, sys
runs = {}
for f in sorted(pathlib.Path(sys.argv[1]).glob("infer-*.json")):
    r = json.loads(f.read_text())
    runs.setdefault(r["backend"], []).append(r)
print("| backend | ex/s median (min-max) | step ms median | cpu_util | peak RSS MiB |")
print("|---|---|---|---|---|")
for name, rs in runs.items():
    xs = [r["examples_per_s"] for r in rs]
    print(f"| {name} | {statistics.median(xs):.1f} ({min(xs):.1f}-{max(xs):.1f}) | "
          f"{statistics.median(r['step_ms_median'] for r in rs):.0f} | "
          f"{statistics.median(r['cpu_util'] for r in rs):.2f} | {statistics.median(r['peak_rss_mib'] for r in rs):.0f} |")
PY

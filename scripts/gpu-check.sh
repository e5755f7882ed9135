#!/usr/bin/env bash
# The GPU check, for a machine with a real GPU and no network: takes an already built binary
# (the default features include wgpu), and from this repository's files only
#   1. runs the parity fixture's inputs through `embed` on the GPU and compares every hidden
#      state and the pooler output with transformers' (tests/fixtures/hf-parity/base.safetensors);
#   2. trains a few steps of LoRA in f32, f16 and bf16 on the course data;
#   3. runs `bench` for every mode and precision on the GPU, and each mode in f32 on the CPU;
# and writes one JSON summary (OUT/gpu-check.json) beside each command's own files and logs.
# A precision the GPU lacks is recorded as refused, not as a failure.
#
# Usage: scripts/gpu-check.sh BINARY MODEL_DIR [OUT_DIR]
#   env: DEVICE=wgpu (or wgpu:N, vulkan, cuda:0 in a cuda build), STEPS=20, BATCH=32, SEQ=128,
#        MODES="infer full lora dora", PRECISIONS="f32 f16 bf16", CPU_THREADS=nproc
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 2 ]]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
bin=$(realpath "$1")
model=$(realpath "$2")
out=${3:-gpu-check-out}
device=${DEVICE:-wgpu}
steps=${STEPS:-20}
batch=${BATCH:-32}
seq=${SEQ:-128}
modes=${MODES:-infer full lora dora}
precisions=${PRECISIONS:-f32 f16 bf16}
cpu_threads=${CPU_THREADS:-$(nproc)}
mkdir -p "$out"
out=$(realpath "$out")
export MINBERT_MODEL=$model MINBERT_DATA_DIR=$PWD/data

# Each step's exit status goes into status.tsv; the summary reads it with the JSON files.
: > "$out/status.tsv"
step() {
  local name=$1
  shift
  local t0=$SECONDS
  "$@" > "$out/$name.log" 2>&1
  local rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >> "$out/status.tsv"
  echo "$name: exit $rc ($((SECONDS - t0)) s)"
}

step info "$bin" info --device "$device" --json "$out/info.json"
step embed "$bin" embed --device "$device" --input tests/fixtures/hf-parity/base.safetensors \
  --out "$out/embed.safetensors" --batch-size 6

cat > "$out/train.toml" <<'EOF'
[adapter]
mode = "lora"
r = 8
[data]
max_len = 64
subset = 256
dev_subset = 256
[tasks.sst]
[tasks.para]
[tasks.sts]
[train]
max_steps = 30
batch_size = 16
lr = 1e-3
log_every = 10
EOF
for p in $precisions; do
  step "train-$p" "$bin" train --config "$out/train.toml" --out "$out/train-$p" --progress quiet \
    --device "$device" --set "train.precision=$p"
done

for m in $modes; do
  for p in $precisions; do
    step "bench-gpu-$m-$p" "$bin" bench --device "$device" --mode "$m" --precision "$p" \
      --batch "$batch" --seq "$seq" --steps "$steps" --json "$out/bench-gpu-$m-$p.json"
  done
  step "bench-cpu-$m-f32" "$bin" bench --device flex --threads "$cpu_threads" --mode "$m" \
    --batch "$batch" --seq "$seq" --steps "$((steps < 5 ? steps : 5))" --json "$out/bench-cpu-$m-f32.json"
done

python3 scripts/gpu_check_summary.py "$out" tests/fixtures/hf-parity/base.safetensors

#!/usr/bin/env bash
# Real-data training, minbert vs PyTorch + PEFT, back to back on this machine: one epoch of
# configs/quickstart.toml (2,500 examples per task, LoRA r=8 on every linear layer, dynamic
# padding and length bucketing over 50 batches; BUCKET=0 turns bucketing off on both sides)
# with `minbert train`, and the same with scripts/pytorch_multitask.py; prints seconds
# per epoch, examples/s and peak RSS of each, and the ratios.
# Usage: scripts/real-data-vs-pytorch.sh [OUT_DIR]
# Env: RUNS=1; MODE=lora (lora, dora or full); MINBERT=binary (default: built here);
#      VENV=../bench-venv (the PyTorch reference's, set up by scripts/bench-vs-pytorch.sh);
#      MINBERT_DEVICE / MINBERT_MODEL / MINBERT_DATA_DIR as for minbert (a model id resolves through
#      the Hugging Face cache on both sides: run scripts/fetch-model.sh where the Hub is unreachable).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/real-data-vs-pytorch/$(date +%F)}
runs=${RUNS:-1}
mode=${MODE:-lora}
bucket=${BUCKET:-50}
venv=${VENV:-../bench-venv}
model=${MINBERT_MODEL:-sentence-transformers/all-MiniLM-L6-v2}
data=${MINBERT_DATA_DIR:-data}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/target-minbert}"
# A CPU comparison: the CPU backend unless MINBERT_DEVICE says otherwise (auto would take a GPU).
export MINBERT_DEVICE="${MINBERT_DEVICE:-flex}"
if [[ -z ${MINBERT:-} ]]; then
  cargo build --release -p minbert-cli
  MINBERT="$CARGO_TARGET_DIR/release/minbert"
fi
[[ -x $venv/bin/python ]] || { echo "no PyTorch venv at $venv: run scripts/bench-vs-pytorch.sh first, or set VENV" >&2; exit 1; }
case $mode in
  lora) sets=(--set adapter.mode=lora) ; args=(--mode lora --r 8 --alpha 16 --lr 1e-3) ;;
  dora) sets=(--set adapter.mode=dora) ; args=(--mode dora --r 8 --alpha 16 --lr 1e-3) ;;
  full) sets=(--set adapter.mode=full --set train.lr=1e-4) ; args=(--mode full --lr 1e-4) ;;
  *) echo "MODE must be lora, dora or full, got $mode" >&2; exit 1 ;;
esac
mkdir -p "$out"
{ grep -m1 'model name' /proc/cpuinfo || true; nproc; uptime; } > "$out/machine.txt"
for r in $(seq 1 "$runs"); do
  rm -rf "$out/minbert-$mode-$r"
  "$MINBERT" train --config configs/quickstart.toml "${sets[@]}" --set train.eval_every=0 --set data.bucket_batches="$bucket" \
    --threads 2 --model "$model" --data-dir "$data" --out "$out/minbert-$mode-$r" --progress plain > "$out/minbert-$mode-$r.log" 2>&1
  "$venv/bin/python" scripts/pytorch_multitask.py --model "$model" --data "$data" "${args[@]}" \
    --subset 2500 --dev-subset 600 --max-len 64 --batch 16 --bucket-batches "$bucket" --json "$out/pytorch-$mode-$r.json" \
    > "$out/pytorch-$mode-$r.log" 2>&1
done
uptime >> "$out/machine.txt"
"$venv/bin/python" - "$out" "$mode" <<'PY'
import json, pathlib, statistics, sys
out, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
ours = [json.loads(p.read_text()) for p in sorted(out.glob(f"minbert-{mode}-*/summary.json"))]
ref = [json.loads(p.read_text()) for p in sorted(out.glob(f"pytorch-{mode}-*.json"))]
med = lambda rs, k: statistics.median(r[k] for r in rs)
print(f"| tool | runs | train s/epoch | ex/s | peak RSS MiB | dev SST / Quora / STS |")
print("|---|---|---|---|---|---|")
for name, rs, scores in [("minbert", ours, lambda r: r["best"]["scores"]), ("pytorch", ref, lambda r: r["scores"])]:
    s = scores(rs[-1])
    print(f"| {name} | {len(rs)} | {med(rs, 'train_s'):.1f} | {med(rs, 'train_examples_per_s'):.1f} | "
          f"{med(rs, 'peak_rss_mib'):.0f} | {s['sst_acc']:.3f} / {s['quora_acc']:.3f} / {s['sts_pearson']:.3f} |")
print(f"\nours / PyTorch: speed {med(ours, 'train_examples_per_s') / med(ref, 'train_examples_per_s'):.2f}, "
      f"peak RSS {med(ours, 'peak_rss_mib') / med(ref, 'peak_rss_mib'):.2f}")
PY

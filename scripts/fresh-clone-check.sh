#!/usr/bin/env bash
# What a new user meets: clones this repository's HEAD into an empty temporary folder (no
# ../shared beside it), with HOME an empty folder whose Hugging Face cache holds only the
# default model (filled by scripts/fetch-model.sh), and runs the README's main command there with
# a step cap. Fails unless it exits 0 and prints dev scores. Used by .ci/run.
#
#   scripts/fresh-clone-check.sh [MAX_STEPS]     (default 20)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
max_steps=${1:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The toolchain and caches stay where they are; only the user's home is new.
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo} RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
# A clean checkout holds exactly the clone's sources, and CI has just built them: the clone
# reuses that build. Cargo judges path crates (the workspace and the vendored crates) by file
# times, so the clone's files take the checkout's times. A checkout with changes builds the
# clone in a target folder of its own instead.
clean=$([[ -z $(git -C "$repo" status --porcelain --untracked-files=no) ]] && echo yes || echo no)
if [[ $clean == no ]]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}-fresh-clone
fi
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$HOME/.cache/pip}
export HOME=$tmp/home
mkdir -p "$HOME"
unset MINBERT_MODEL MINBERT_DATA_DIR MINBERT_DEVICE HF_HOME HF_HUB_CACHE HF_ENDPOINT HF_HUB_OFFLINE XDG_CACHE_HOME

git clone --quiet "$repo" "$tmp/minbert"
cd "$tmp/minbert"
if [[ $clean == yes ]]; then
  git ls-files -z | (cd "$repo" && xargs -0 stat --format '%Y %n') | while read -r time name; do
    touch -d "@$time" "$name"
  done
fi
scripts/fetch-model.sh
echo "HOME's Hugging Face cache: $(cd "$HOME/.cache/huggingface/hub" && ls)"

log=$tmp/main-job.log
started=$SECONDS
cargo run --release --quiet -- train --config configs/quickstart.toml --out runs/quickstart \
  --set train.max_steps="$max_steps" --progress plain 2>&1 | tee "$log"
echo "fresh clone: the main job took $((SECONDS - started)) s"
grep -Eq '^best \(overall at step [0-9]+\): sst_acc [0-9.]+  quora_acc [0-9.]+  sts_pearson [0-9.]+  overall [0-9.]+' "$log" \
  || { echo "fresh clone: the main job printed no dev scores" >&2; exit 1; }
echo "fresh clone: OK"

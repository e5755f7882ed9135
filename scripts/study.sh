#!/usr/bin/env bash
# Runs the study's training runs one after another: scripts/study.sh RUNS.tsv OUT_DIR
#
# RUNS.tsv lines: name <TAB> config <TAB> --set overrides (space-separated); '#' starts a comment.
# A run whose summary.json exists is skipped; one that was killed continues from its last/
# checkpoint (or starts again if it had none); so the script can be stopped and started again. Logs: OUT_DIR/NAME.log.
# MINBERT (default: target/release/minbert) names the binary.
set -euo pipefail
runs=${1:?usage: scripts/study.sh RUNS.tsv OUT_DIR}
out=${2:?usage: scripts/study.sh RUNS.tsv OUT_DIR}
minbert=${MINBERT:-target/release/minbert}
mkdir -p "$out"
while IFS=$'\t' read -r name config sets; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  dir="$out/$name"
  if [[ -f "$dir/summary.json" ]]; then
    echo "$name: done"
    continue
  fi
  args=()
  for s in $sets; do args+=(--set "$s"); done
  if [[ -d "$dir" && ! -d "$dir/last" ]]; then
    # Stopped before its first checkpoint: nothing to resume.
    echo "$name: restarting (no checkpoint yet)"
    rm -rf "$dir"
  fi
  if [[ -d "$dir/last" ]]; then
    echo "$name: resuming"
    "$minbert" train --resume --out "$dir" --progress plain >>"$out/$name.log" 2>&1 || echo "$name: FAILED (see $out/$name.log)"
  else
    echo "$name: training"
    "$minbert" train --config "$config" "${args[@]}" --out "$dir" --progress plain >"$out/$name.log" 2>&1 || echo "$name: FAILED (see $out/$name.log)"
  fi
done <"$runs"

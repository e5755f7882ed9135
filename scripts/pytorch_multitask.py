#!/usr/bin/env python3
"""The PyTorch + PEFT counterpart of `minbert train` for real-data timing (issue: performance).

It trains what `configs/quickstart.toml` describes, the same way, so that seconds per epoch and
peak memory can be compared side by side (scripts/real-data-vs-pytorch.sh):

- all-MiniLM-L6-v2 without its pooler, mean pooling over the attention mask;
- LoRA or DoRA (PEFT) on every linear layer of the encoder, base frozen, or full fine-tuning;
- SST: dropout + Linear(384, 5), cross-entropy;
- Quora: each question encoded alone (both sides as one batch), features
  [u, v, |u - v|, u * v, cos(u, v)], dropout + Linear(4 * 384 + 1, 1), BCE with logits;
- STS: cos(u, v), CoSENT with scale 20; predicted score 5 cos;
- dynamic padding (each batch padded to its longest sequence), max_len truncation, and
  minbert's length bucketing (`data.bucket_batches`, default 50: after the shuffle, examples are
  sorted by their longest side within chunks of 50 batches, and the batches shuffled again);
- each epoch every batch of every task once, tasks interleaved at random ("proportional");
- AdamW (0.9, 0.999, eps 1e-8, weight decay 0.01 on matrices), linear warmup then linear decay,
  global gradient-norm clipping at 1.0.

Only training is timed (`train_s`); the dev scores at the end show that the run learned. The
subsets are seeded random samples like minbert's, not the same examples.
"""

import argparse
import csv
import json
import math
import random
import resource
import time
from pathlib import Path


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def load_task(data, task, split):
    """(first, second or None, label) triples, rows without a label skipped (as the course)."""
    rows = []
    if task == "sst":
        for r in read_tsv(Path(data) / f"ids-sst-{split}.csv"):
            rows.append((r["sentence"].strip(), None, int(r["sentiment"])))
    elif task == "para":
        name = "partial/quora-train.first-14139-rows.csv" if split == "train" else "quora-dev.csv"
        for r in read_tsv(Path(data) / name):
            try:
                rows.append((r["sentence1"], r["sentence2"], int(float(r["is_duplicate"]))))
            except (TypeError, ValueError):
                pass
    else:
        for r in read_tsv(Path(data) / f"sts-{split}.csv"):
            rows.append((r["sentence1"], r["sentence2"], float(r["similarity"])))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--mode", choices=["lora", "dora", "full"], default="lora")
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--subset", type=int, default=2500, help="training examples per task (0: all)")
    ap.add_argument("--dev-subset", type=int, default=600)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--bucket-batches", type=int, default=50, help="0: no length bucketing")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from tokenizers import Tokenizer
    from transformers import BertModel
    import peft

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tasks = ["sst", "para", "sts"]

    tok = Tokenizer.from_file(str(Path(args.model) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(args.max_len)

    def encode(rows):
        """Token ids of each side, unpadded."""
        first = [e.ids for e in tok.encode_batch([r[0] for r in rows])]
        second = None if rows[0][1] is None else [e.ids for e in tok.encode_batch([r[1] for r in rows])]
        return first, second, [r[2] for r in rows]

    def sample(rows, n):
        return rows if n == 0 or n >= len(rows) else rng.sample(rows, n)

    train = {t: encode(sample(load_task(args.data, t, "train"), args.subset)) for t in tasks}
    dev = {t: encode(sample(load_task(args.data, t, "dev"), args.dev_subset)) for t in tasks}

    bert = BertModel.from_pretrained(args.model, add_pooling_layer=False, dtype=torch.float32)
    if args.mode != "full":
        config = peft.LoraConfig(r=args.r, lora_alpha=args.alpha, lora_dropout=0.0,
                                 target_modules=["query", "key", "value", "dense"],
                                 use_dora=args.mode == "dora")
        bert = peft.get_peft_model(bert, config)
    hidden = 384
    sst_head = torch.nn.Linear(hidden, 5)
    para_head = torch.nn.Linear(4 * hidden + 1, 1)
    head_dropout = torch.nn.Dropout(0.1)
    modules = torch.nn.ModuleList([bert, sst_head, para_head])

    def pad(seqs):
        width = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), width, dtype=torch.int64)
        mask = torch.zeros(len(seqs), width, dtype=torch.int64)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        return ids, mask

    def embed(seqs):
        ids, mask = pad(seqs)
        h = bert(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
        m = mask.unsqueeze(2).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp_min(1.0)

    def forward(task, first, second):
        if task == "sst":
            return sst_head(head_dropout(embed(first)))
        both = embed(first + second)
        u, v = both[: len(first)], both[len(first):]
        cos = F.cosine_similarity(u, v, dim=1, eps=1e-8).unsqueeze(1)
        if task == "sts":
            return cos
        return para_head(head_dropout(torch.cat([u, v, (u - v).abs(), u * v, cos], 1)))

    def loss_of(task, out, labels):
        if task == "sst":
            return F.cross_entropy(out, torch.tensor(labels))
        if task == "para":
            return F.binary_cross_entropy_with_logits(out.squeeze(1), torch.tensor(labels, dtype=torch.float32))
        s, y = out.squeeze(1) * 20.0, torch.tensor(labels)
        diff = s.unsqueeze(0) - s.unsqueeze(1)  # diff[i][j] = scale (s_j - s_i)
        diff = diff.masked_fill(~(y.unsqueeze(1) > y.unsqueeze(0)), -1e12).flatten()
        return torch.logsumexp(torch.cat([torch.zeros(1), diff]), 0)

    trainable = [p for p in modules.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                              lr=args.lr, betas=(0.9, 0.999), eps=1e-8)

    def batches(task):
        first, second, _ = train[task]
        n = len(first)
        order = list(range(n))
        rng.shuffle(order)
        if args.bucket_batches > 0:
            longest = [max(len(first[i]), len(second[i]) if second else 0) for i in range(n)]
            chunk = args.batch * args.bucket_batches
            order = [i for c in range(0, n, chunk) for i in sorted(order[c: c + chunk], key=longest.__getitem__)]
        out = [(task, order[i: i + args.batch]) for i in range(0, n, args.batch)]
        if args.bucket_batches > 0:
            rng.shuffle(out)
        return out

    steps_per_epoch = sum(math.ceil(len(train[t][0]) / args.batch) for t in tasks)
    total = steps_per_epoch * args.epochs
    warmup = int(args.warmup * total)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda step: (step + 1) / max(1, warmup) if step < warmup else max(0.0, (total - step) / max(1, total - warmup)))

    modules.train()
    examples = 0
    started = time.perf_counter()
    for _ in range(args.epochs):
        plan = [b for t in tasks for b in batches(t)]
        rng.shuffle(plan)
        for task, idx in plan:
            first, second, labels = train[task]
            out = forward(task, [first[i] for i in idx], None if second is None else [second[i] for i in idx])
            loss = loss_of(task, out, [labels[i] for i in idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optim.step()
            schedule.step()
            optim.zero_grad(set_to_none=True)
            examples += len(idx)
    train_s = time.perf_counter() - started

    modules.eval()
    scores = {}
    with torch.inference_mode():
        for task in tasks:
            first, second, labels = dev[task]
            outs = []
            for i in range(0, len(first), 64):
                outs.append(forward(task, first[i: i + 64], None if second is None else second[i: i + 64]))
            out = torch.cat(outs)
            if task == "sst":
                scores["sst_acc"] = (out.argmax(1) == torch.tensor(labels)).float().mean().item()
            elif task == "para":
                scores["quora_acc"] = ((out.squeeze(1) > 0).long() == torch.tensor(labels)).float().mean().item()
            else:
                pred, gold = out.squeeze(1) * 5.0, torch.tensor(labels)
                scores["sts_pearson"] = torch.corrcoef(torch.stack([pred, gold.to(pred.dtype)]))[0, 1].item()

    result = {
        "tool": "pytorch",
        "torch": torch.__version__,
        "peft": peft.__version__,
        "mode": args.mode,
        "r": args.r,
        "subset": args.subset,
        "max_len": args.max_len,
        "batch": args.batch,
        "bucket_batches": args.bucket_batches,
        "epochs": args.epochs,
        "threads": args.threads,
        "steps": total,
        "examples": examples,
        "train_s": train_s,
        "train_examples_per_s": examples / train_s,
        "peak_rss_mib": peak_rss_mib(),
        "trainable_params": sum(p.numel() for p in trainable),
        "scores": scores,
    }
    print(f"pytorch {args.mode} r={args.r}: {examples} examples in {train_s:.1f} s "
          f"({examples / train_s:.1f} ex/s), peak RSS {result['peak_rss_mib']:.0f} MiB, dev {scores}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

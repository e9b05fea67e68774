"""Benchmark: chat-line classification and sentiment (issue 9).

Usage: HF_HUB_OFFLINE=1 python bench/classify.py [--no-minilm] [--json]

Data: tests/data/messages_{en,zh}.jsonl (synthetic, hand-written templates; see
tests/data/README.md). Figures, per language and per class (precision / recall /
F1), for three classifiers:

* rules   - `RuleClassifier`, lexicons + question detector + label priority;
* model   - `MessageClassifier`, the shipped softmax regression (the cheap path);
* +minilm - the same with the MiniLM cascade for English lines it is unsure of
            (top probability < 0.9), English only.

on three sets: the held-out split (30 % of the template groups), the blind
"fresh" lines (written after everything was frozen), and the held-out split
with one seeded typo per line (a letter swapped/dropped/doubled in one English
word; one ideograph dropped or doubled in Chinese), which is how chat really
looks.

Throughput (median of 5 runs): the cheap path on 5,000 distinct lines
(the set's lines with a counter appended), with and without reasons, the rules
alone, and the cascade on English lines; sentiment: `polarity` on 40,000
distinct lines with a cold cache and `mood_series` of 40,000 lines in one minute.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._common import machine_line, table  # noqa: E402
from brain.chat.classify import (  # noqa: E402
    DEFAULT_DATA, LABELS, MessageClassifier, RuleClassifier, load_labelled, scores, split_of,
)
from brain.chat.sentiment import SentimentAnalyzer, mood_series  # noqa: E402

RUNS = 5
N_THROUGHPUT = 5_000
N_MOOD = 40_000
_CJK = re.compile("[\u4e00-\u9fff]")


def typo(text: str) -> str:
    """One seeded typo per line (seeded by the text: the same line always gets the same typo)."""
    rng = random.Random(text)
    cjk = [i for i, ch in enumerate(text) if _CJK.match(ch)]
    if len(cjk) >= 2:
        i = rng.choice(cjk)
        return text[:i] + text[i + 1 :] if rng.random() < 0.5 else text[:i] + text[i] + text[i:]
    words = [m for m in re.finditer(r"[A-Za-z]{4,}", text)]
    if not words:
        return text
    m = rng.choice(words)
    w = m.group()
    j = rng.randrange(len(w) - 1)
    kind = rng.random()
    if kind < 0.4:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif kind < 0.7:
        w = w[:j] + w[j + 1 :]
    else:
        w = w[:j] + w[j] + w[j:]
    return text[: m.start()] + w + text[m.end() :]


def score_set(clf, records: list[dict], perturb: bool = False) -> dict:
    texts = [typo(r["text"]) if perturb else r["text"] for r in records]
    pred = [lab.label for lab in clf.classify_many(texts)]
    return scores([r["label"] for r in records], pred)


def timed(fn, runs: int = RUNS) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main(argv: list[str]) -> int:
    use_minilm = "--no-minilm" not in argv
    recs = {lang: load_labelled(path) for lang, path in zip(("en", "zh"), DEFAULT_DATA)}
    rules, model = RuleClassifier(), MessageClassifier()
    classifiers = {"rules": rules, "model": model}
    cascade = None
    if use_minilm:
        from brain.retrieval.embedders import make_embedder

        cascade = MessageClassifier(embedder=make_embedder("minilm"))
        cascade.classify("warm up the model")
    results: dict = {"sets": {}, "throughput": {}}
    for set_name, split, perturb in (("held-out", "test", False), ("fresh", "fresh", False),
                                     ("held-out+typos", "test", True)):
        for lang in ("en", "zh"):
            subset = [r for r in recs[lang] if split_of(r) == split]
            clfs = dict(classifiers)
            if cascade is not None and lang == "en":
                clfs["+minilm"] = cascade
            res = {name: score_set(c, subset, perturb) for name, c in clfs.items()}
            results["sets"][f"{set_name}/{lang}"] = res
            print(f"\n## {set_name}, {lang} ({len(subset)} lines): precision / recall / F1\n", flush=True)
            header = ["class", "support"] + list(res)
            rows = []
            for label in LABELS:
                sup = res["rules"]["per_class"][label]["support"]
                rows.append([label, sup] + [f"{r['per_class'][label]['precision']:.2f} / "
                                            f"{r['per_class'][label]['recall']:.2f} / "
                                            f"**{r['per_class'][label]['f1']:.2f}**" for r in res.values()])
            rows.append(["macro F1", len(subset)] + [f"**{r['macro_f1']:.3f}**" for r in res.values()])
            rows.append(["accuracy", len(subset)] + [f"{r['accuracy']:.3f}" for r in res.values()])
            print(table(header, rows))

    # ---- throughput ----------------------------------------------------------------------------------------
    base = [r["text"] for lang in ("en", "zh") for r in recs[lang]]
    lines = [f"{base[i % len(base)]} {i}" for i in range(N_THROUGHPUT)]
    quiet = MessageClassifier(model.model, explain=False)
    model.classify_many(lines[:500])  # warm the n-gram hash cache, as a running bot has
    tp = results["throughput"]
    tp["model_msgs_per_s"] = round(N_THROUGHPUT / timed(lambda: model.classify_many(lines)))
    tp["model_no_reasons_msgs_per_s"] = round(N_THROUGHPUT / timed(lambda: quiet.classify_many(lines)))
    tp["model_one_by_one_msgs_per_s"] = round(1000 / timed(lambda: [model.classify(t) for t in lines[:1000]]))
    tp["rules_msgs_per_s"] = round(N_THROUGHPUT / timed(lambda: rules.classify_many(lines)))
    if cascade is not None:
        en_lines = [f"{r['text']} {i}" for i, r in enumerate(recs["en"])]
        probs = model.probabilities(en_lines)
        tp["cascade_share_embedded_en"] = round(float((probs.max(axis=1) < cascade.dense_below).mean()), 3)
        tp["cascade_en_msgs_per_s"] = round(len(en_lines) / timed(lambda: cascade.classify_many(en_lines), runs=3))
    mood_lines = [(i * 60.0 / N_MOOD, f"{base[i % len(base)]} {i}") for i in range(N_MOOD)]
    texts = [t for _, t in mood_lines]

    def cold_polarity() -> None:
        analyzer = SentimentAnalyzer()
        for t in texts:
            analyzer.score(t)

    tp["sentiment_cold_msgs_per_s"] = round(N_MOOD / timed(cold_polarity, runs=3))
    tp["mood_series_40k_one_minute_s"] = round(timed(lambda: mood_series(mood_lines, analyzer=SentimentAnalyzer()),
                                                     runs=3), 3)
    shared = SentimentAnalyzer()
    shared_repeats = [(ts, base[i % len(base)]) for i, (ts, _) in enumerate(mood_lines)]
    tp["mood_series_40k_repeated_lines_s"] = round(timed(lambda: mood_series(shared_repeats, analyzer=shared),
                                                         runs=3), 3)
    print(f"\n## throughput (median of {RUNS} runs; {machine_line()})\n")
    print(table(["path", "value"], [[k, v] for k, v in tp.items()]))
    summary = {"bench": "classify", **{f"macro_f1/{k}/{n}": v["macro_f1"] for k, res in results["sets"].items()
                                       for n, v in res.items()}, **tp}
    print("\n" + json.dumps(summary))
    if "--json" in argv:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

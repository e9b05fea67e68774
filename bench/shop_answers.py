"""Benchmark: the sample shop's viewer questions through the bot's answer path, each marked right or wrong.

Copies the shipped ``knowledge/`` folder, loads a bot on it as configured
(``--config``; default: the built-in defaults, i.e. the packaged
all-MiniLM-L6-v2) and asks every question of ``tests/data/shop_questions.yaml``
alone, as ``/ask`` does (`bots.runtime.answer_eval.evaluate_shop`, the harness
``tests/bots/test_shop_answers.py`` asserts on).

A question is right (✓) when its answer carries one of its facts (NFKC, case
and whitespace folded) or, for a question the knowledge cannot answer
(``facts: []``), when the bot passed it to the host. Summary: share of
answerable questions carried (target >= 0.90), unanswerable questions answered
anyway (target: at most 1 in 15), counts, latency.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python bench/shop_answers.py [--config FILE] [--json] [--failures]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import REPO, SHIPPED_KNOWLEDGE, machine_line, table

QUESTIONS = REPO / "tests" / "data" / "shop_questions.yaml"
TARGET_CARRIED = 0.90
MAX_FALSE_ANSWERS = 1 / 15


def _cell(text: str | None, width: int = 90) -> str:
    """One Markdown table cell: one line, pipes escaped, clipped."""
    if text is None:
        return "(passed to the host)"
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None, help="a liveroom config file (default: the defaults)")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help=f"default {QUESTIONS.relative_to(REPO)}")
    parser.add_argument("--knowledge", type=Path, default=SHIPPED_KNOWLEDGE, help="default: the shipped knowledge/")
    parser.add_argument("--json", action="store_true", help="print one JSON object (figures and every question)")
    parser.add_argument("--failures", action="store_true", help="list only the questions that went wrong")
    args = parser.parse_args()

    from bots.runtime.answer_eval import evaluate_shop, is_right
    from bots.runtime.config import default_config, load_config

    config = load_config(args.config) if args.config else default_config()
    with tempfile.TemporaryDirectory(prefix="lr-bench-shop-") as tmp:
        result = evaluate_shop(args.questions, config, args.knowledge, Path(tmp))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    rows = [[r["id"], _cell(r["question"], 60), _cell(r["answer"]), "✓" if is_right(r) else "✗",
             "answerable" if r["gold"] else "pass", r["reason"]]
            for r in result["details"] if not (args.failures and is_right(r))]
    print(f"machine: {machine_line()}")
    print(f"embedder {config.retrieval.embedder}, min_confidence {config.answers.min_confidence}, "
          f"max_chars {config.answers.max_chars}, llm {'on' if config.llm.configured else 'off'}\n")
    print(table(["#", "question", "answer", "ok", "expected", "reason"], rows))
    figures = {k: v for k, v in result.items() if k != "details"}
    carried, false_rate = figures["answer_hit"] or 0.0, figures["false_answer_rate"] or 0.0
    print()
    print(f"carried {carried:.3f} of {figures['answerable']} answerable (target >= {TARGET_CARRIED:.2f}): "
          f"{'MET' if carried >= TARGET_CARRIED else 'MISSED'}")
    print(f"answered {false_rate:.3f} of {figures['unanswerable']} unanswerable (target <= 1 in 15): "
          f"{'MET' if false_rate <= MAX_FALSE_ANSWERS else 'MISSED'}")
    print(f"answer_f1 {figures['answer_f1']}, passed_answerable {figures['passed_answerable']}, "
          f"by_reason {figures['by_reason']}")
    print(f"latency p50 {figures['latency_p50_ms']:.1f} ms, p95 {figures['latency_p95_ms']:.1f} ms; "
          f"index {figures['index_seconds']:.1f} s, total {figures['seconds']:.1f} s")


if __name__ == "__main__":
    main()

"""The sample shop, end to end: viewers' questions about the shipped ``knowledge/`` answered by the real model.

Every question of ``tests/data/shop_questions.yaml`` is asked alone, as ``/ask``
does, of a bot loaded with the default config (the packaged all-MiniLM-L6-v2) on
a copy of ``knowledge/`` (`bots.runtime.answer_eval.evaluate_shop`). At most 1
in 15 of the questions the knowledge cannot answer may be answered anyway.

Issue 15 asks for 90 % of the answerable ones to carry their fact; this build
reaches about 62 % (bench/RESULTS.md, "Answers a viewer can use"), so the test
holds that line against regressions (``MIN_CARRIED``) and states the target
(``TARGET_CARRIED``) it does not meet yet. ``bench/shop_answers.py`` prints
the same run as a table, each question marked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.runtime.answer_eval import evaluate_shop, is_right
from bots.runtime.config import default_config

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ROOT / "tests" / "data" / "shop_questions.yaml"
#: What this build reaches, less a margin: a regression guard.
MIN_CARRIED = 0.58
#: What issue 15 asks for; not reached yet (see the module docstring).
TARGET_CARRIED = 0.90
#: At most one in this many unanswerable questions may be answered.
FALSE_ANSWER_ONE_IN = 15


@pytest.mark.integration
def test_shop_questions_are_answered_with_their_facts_or_passed_to_the_host(tmp_path) -> None:
    if not QUESTIONS.is_file():
        pytest.skip(f"{QUESTIONS.relative_to(ROOT)} is missing: the sample-shop questions are not written yet")
    result = evaluate_shop(QUESTIONS, default_config(), ROOT / "knowledge", tmp_path)
    rows = result["details"]
    wrong = [r for r in rows if not is_right(r)]
    carried = sum(r["hit"] for r in rows if r["gold"])
    falsely_answered = sum(r["answer"] is not None for r in rows if not r["gold"])
    report = "\n".join(
        f"  {'missed' if r['gold'] else 'answered'} [{r['reason']}] {r['question']!r} -> {r['answer']!r}"
        + (f" (wanted one of {r['gold']})" if r["gold"] else " (should be passed to the host)")
        for r in wrong)
    summary = (f"carried {carried}/{result['answerable']} answerable ({result['answer_hit']}; "
               f"issue 15's target: {TARGET_CARRIED}), "
               f"answered {falsely_answered}/{result['unanswerable']} unanswerable; wrong:\n{report}")
    assert carried >= MIN_CARRIED * result["answerable"], summary
    assert falsely_answered * FALSE_ANSWER_ONE_IN <= result["unanswerable"], summary

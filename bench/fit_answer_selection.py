"""Fit the answer selector (`brain.answers.selection`) on labelled questions, and score it held out.

Three things are fit, in order:

1. the weights of the candidates' features: a listwise logistic model, the
   softmax over one question's candidates (sentences, table rows, product
   fields of its passages) putting its mass on those that carry a gold answer;
2. the confidence model: a logistic regression of "what the bot would say
   carries the answer" on the chosen candidate's score, margin and features,
   fit on the viewers' questions (`CONFIDENCE_ON`);
3. the bar per language: the lowest confidence at which the bot's answers to
   questions the knowledge cannot answer stay under the language's target.

Every figure printed is computed by the selector's own `decide` on the real
candidates, so it is what a viewer would read (the neighbouring sentence, the
whole FAQ answer), not the best candidate alone. Each set counts the same in
every fit, whatever its size.

Data: the sample shop's questions on the shipped knowledge/ (the measured set,
tests/data/shop_questions.yaml, and bench/data/shop_fit_questions.yaml, written
only to fit on) and ../shared/data's ans-cmrc-trial-zh and ans-covidqa-en-dev,
each loaded through a real bot (`BrainWorker`, default config: packaged MiniLM
retrieval, multilingual USE reader). The fit uses `FIT_ON`; the measured shop
set is also scored by cross-validation (each fold by a fit that never saw it).

Usage: HF_HUB_OFFLINE=1 .venv/bin/python bench/fit_answer_selection.py [--work DIR] [--folds N]
Prints the constants to paste into brain/answers/selection.py and the figures.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from _common import REPO, SHIPPED_KNOWLEDGE, machine_line
from bots.runtime.answer_eval import GoldQuestion, read_answer_set, read_shop_questions, write_knowledge_folder
from bots.runtime.brain_worker import BrainWorker
from bots.runtime.config import Config
from brain.answers.answer_metrics import answer_f1, carries
from brain.answers.selection import (CONFIDENCE_FEATURES, FEATURES, AnswerSelector, Scored, SelectionWeights,
                                     confidence_features, rival_margin)
from brain.text.questions import language_of

SHARED = REPO.parent / "shared" / "data"
#: The sample shop's question files: the measured set, and more questions written only to fit on.
SHOP_QUESTIONS = {"shop": REPO / "tests" / "data" / "shop_questions.yaml",
                  "shop-fit": REPO / "bench" / "data" / "shop_fit_questions.yaml"}
SETS = ("shop", "shop-fit", "ans-cmrc-trial-zh", "ans-covidqa-en-dev")
#: What is fit on: chat-sized questions about a shop and about short passages. COVID-QA (questions
#: about long scientific papers, some withheld) is only scored; docs/answers.md says why.
FIT_ON = ("shop", "shop-fit", "ans-cmrc-trial-zh")
#: What the confidence model is fit on: viewers' questions about a shop, the kind of question the
#: bot's confidence must be right about (CMRC's questions are written from the passage they ask about).
CONFIDENCE_ON = ("shop", "shop-fit")
#: Highest share of unanswerable questions that may be answered, per set (the issue's targets).
FALSE_ANSWER_TARGET = {"shop": 1 / 15, "shop-fit": 1 / 15, "ans-cmrc-trial-zh": 0.05, "ans-covidqa-en-dev": 0.10}
#: The selector whose `decide` turns scored candidates into what the bot says (its length limit: the default).
SELECTOR = AnswerSelector()


@dataclass
class Item:
    """One question, its set, and its candidates as the bot scored them."""

    question: GoldQuestion
    origin: str
    lang: str
    scored: Scored

    @property
    def gold(self) -> np.ndarray:
        return np.array([self.question.answerable and carries(c.text, self.question.gold)
                         for _, c in self.scored.pool], dtype=bool)


def _collect(name: str, work: Path) -> list[Item]:
    """Ask every question of a set through a real bot and keep the scored candidates (cached in ``work``)."""
    cache = work / f"{name}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    root = work / name / "knowledge"
    if name in SHOP_QUESTIONS:
        if not root.exists():
            shutil.copytree(SHIPPED_KNOWLEDGE, root, ignore=shutil.ignore_patterns("samples"))
        questions = read_shop_questions(SHOP_QUESTIONS[name])
    else:
        corpus, questions = read_answer_set(SHARED / name)
        write_knowledge_folder(corpus, root / "corpus")
    config = Config().model_copy(update={"knowledge": Config().knowledge.model_copy(update={"path": str(root)})})
    worker = BrainWorker(config, work / name / "state", knowledge_root=root)
    items: list[Item] = []
    try:
        worker.load_now()
        answerer = worker.answerer
        assert answerer is not None
        for q in questions:
            lang = language_of(q.text)
            hits = answerer.retrieve(q.text, lang)
            items.append(Item(q, name, lang, answerer.selector.score(answerer.as_read(q.text),
                                                                     answerer.search_text(q.text, lang), hits, lang)))
    finally:
        worker.shutdown()
    cache.write_bytes(pickle.dumps(items))
    return items


def _set_weights(items: list[Item]) -> np.ndarray:
    """Each question's weight in a fit: every set counts the same, whatever its size."""
    sizes: dict[str, int] = {}
    for it in items:
        sizes[it.origin] = sizes.get(it.origin, 0) + 1
    return np.array([len(items) / (len(sizes) * sizes[it.origin]) for it in items])


def _fit_weights(items: list[Item], l2: float = 0.02) -> np.ndarray:
    """Listwise logistic weights: the softmax mass on each answerable question's gold candidates."""
    usable = [(it.scored.features, it.gold, wt) for it, wt in zip(items, _set_weights(items))
              if len(it.scored.pool) > 1 and it.gold.any()]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, gold, wt in usable:
            s = x @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            mass = p[gold].sum()
            total -= wt * np.log(mass + 1e-12)
            q = np.where(gold, p, 0.0) / (mass + 1e-12)
            grad += wt * ((p - q) @ x)
        n = max(len(usable), 1)
        return total / n + l2 * float(w @ w), grad / n + 2 * l2 * w

    return minimize(loss, np.zeros(len(FEATURES)), jac=True, method="L-BFGS-B").x


def _weights(w: np.ndarray, v: np.ndarray | None = None, bars: dict[str, float] | None = None) -> SelectionWeights:
    """SelectionWeights from fitted vectors (confidence vector with its intercept last)."""
    base = SelectionWeights(weights=dict(zip(FEATURES, w)))
    if v is None:
        return base
    return SelectionWeights(weights=base.weights, confidence=dict(zip(CONFIDENCE_FEATURES, v[:-1])),
                            confidence_bias=float(v[-1]), threshold=bars or {"en": 0.5, "zh": 0.5})


def _said(items: list[Item], weights: SelectionWeights) -> list[tuple[str, float, bool]]:
    """For each question: the text the bot would say, its confidence, and whether it carries the answer."""
    out = []
    for it in items:
        selection = SELECTOR.decide(it.scored, it.lang, weights)
        if selection is None:
            out.append(("", 0.0, False))
            continue
        out.append((selection.text, selection.confidence,
                    it.question.answerable and carries(selection.text, it.question.gold)))
    return out


def _fit_confidence(items: list[Item], w: np.ndarray, l2: float = 0.03) -> np.ndarray:
    """Logistic regression (intercept last) of "the bot's text carries the answer" on the chosen candidate."""
    weights = _weights(w)
    rows, labels = [], []
    for it, (_, _, right) in zip(items, _said(items, weights)):
        if not it.scored.pool:
            rows.append(np.append(confidence_features(0.0, 0.0, np.zeros(len(FEATURES))), 1.0))
            labels.append(0.0)
            continue
        scores = it.scored.features @ weights.vector()
        order = [int(i) for i in np.argsort(-scores, kind="stable")]
        selection = SELECTOR.decide(it.scored, it.lang, weights)
        assert selection is not None
        best = selection.lead
        margin = rival_margin(it.scored.pool, scores, order, best)
        feats = it.scored.features[best]
        rows.append(np.append(confidence_features(float(scores[best]), margin, feats), 1.0))
        labels.append(float(right))
    x, y, sw = np.array(rows), np.array(labels), _set_weights(items)

    def loss(v: np.ndarray) -> tuple[float, np.ndarray]:
        p = 1.0 / (1.0 + np.exp(-(x @ v)))
        total = -np.sum(sw * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))) / len(y)
        return total + l2 * float(v[:-1] @ v[:-1]), x.T @ (sw * (p - y)) / len(y) + 2 * l2 * np.append(v[:-1], 0)

    return minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x


def _bars(items: list[Item], w: np.ndarray, v: np.ndarray) -> dict[str, float]:
    """The bar per language that answers the most (each set counting the same) with every set's
    false-answer rate under its target (`FALSE_ANSWER_TARGET`: the shop 1 in 15, CMRC 5 %)."""
    said = _said(items, _weights(w, v))
    origins = sorted({it.origin for it in items})
    conf = np.array([c for _, c, _ in said])
    right = np.array([r for _, _, r in said])
    zh = np.array([it.lang == "zh" for it in items])
    answerable = np.array([it.question.answerable for it in items])
    member = {o: np.array([it.origin == o for it in items]) for o in origins}
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    best, chosen = -1.0, {"en": 0.95, "zh": 0.95}
    for en in grid:
        for zh_bar in grid:
            spoken = conf >= np.where(zh, zh_bar, en)
            if any(spoken[member[o] & ~answerable].mean() > FALSE_ANSWER_TARGET[o]
                   for o in origins if (member[o] & ~answerable).any()):
                continue
            gain = sum((spoken & right)[member[o] & answerable].mean() for o in origins)
            if gain > best + 1e-9:
                best, chosen = gain, {"en": float(en), "zh": float(zh_bar)}
    return chosen


def _figures(items: list[Item], weights: SelectionWeights) -> dict[str, float]:
    said = _said(items, weights)
    answerable = [(it, s) for it, s in zip(items, said) if it.question.answerable]
    unanswerable = [(it, s) for it, s in zip(items, said) if not it.question.answerable]
    spoken = lambda it, s: s[1] >= weights.bar(it.lang)  # noqa: E731
    return {
        "answer_hit": round(float(np.mean([spoken(it, s) and s[2] for it, s in answerable])), 3),
        "answer_f1": round(float(np.mean([answer_f1(s[0], it.question.gold) if spoken(it, s) else 0.0
                                           for it, s in answerable])), 3),
        "false_answer_rate": round(float(np.mean([spoken(it, s) for it, s in unanswerable])), 3)
        if unanswerable else 0.0,
        "hit_if_always_answering": round(float(np.mean([s[2] for _, s in answerable])), 3),
    }


def _fit(items: list[Item]) -> SelectionWeights:
    w = _fit_weights(items)
    chat = [it for it in items if it.origin in CONFIDENCE_ON]
    v = _fit_confidence(chat or items, w)
    return _weights(w, v, _bars(items, w, v))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/lr-fit-answers"),
                        help="where the sets' bots and scored candidates are cached (delete it after a change)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds over the shop questions")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = {name: _collect(name, args.work) for name in SETS}
    print(machine_line())
    fitted = _fit([it for name in FIT_ON for it in data[name]])
    print("FITTED_WEIGHTS = {" + ", ".join(f'"{k}": {x:.3f}' for k, x in fitted.weights.items()) + "}")
    print("FITTED_CONFIDENCE = {" + ", ".join(f'"{k}": {x:.3f}' for k, x in fitted.confidence.items()) + "}")
    print(f"FITTED_CONFIDENCE_BIAS = {fitted.confidence_bias:.3f}")
    print("FITTED_BARS = {" + ", ".join(f'"{k}": {x:.2f}' for k, x in fitted.threshold.items()) + "}")
    print(f"\nfit on {', '.join(FIT_ON)}; scored on every set:")
    for name, items in data.items():
        print(f"  {name:22} {_figures(items, fitted)}")
    others = [it for name in FIT_ON if name != "shop" for it in data[name]]
    shop = data["shop"]
    held = []
    for k in range(args.folds):
        train = [it for i, it in enumerate(shop) if i % args.folds != k] + others
        held.append(([it for i, it in enumerate(shop) if i % args.folds == k], _fit(train)))
    said = [(it, s[1] >= weights.bar(it.lang), s[2]) for part, weights in held
            for it, s in zip(part, _said(part, weights))]
    carried = np.mean([spoken and right for it, spoken, right in said if it.question.answerable])
    wrong = np.mean([spoken for it, spoken, _ in said if not it.question.answerable])
    print(f"\nshop, {args.folds}-fold cross-validation (each fold scored by a fit that never saw it): "
          f"carried {carried:.3f} of answerable, answered {wrong:.3f} of unanswerable")


if __name__ == "__main__":
    main()

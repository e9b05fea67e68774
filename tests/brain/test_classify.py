"""The chat-line classifier (brain/chat/classify.py) on the labelled set in tests/data.

Figures asserted here were measured on the shipped weights (docs/classify.md);
each floor is the measurement minus a small margin, so a regression fails and a
retrain that moves a number by one line does not.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from brain.chat.classify import (
    DEFAULT_DATA,
    FEATURE_VERSION,
    LABELS,
    MODEL_PATH,
    PRIORITY,
    Label,
    LinearModel,
    MessageClassifier,
    RuleClassifier,
    _select,
    default_classifier,
    evaluate,
    is_abuse,
    load_labelled,
    load_lexicon,
    split_of,
    train,
)

EN, ZH = DEFAULT_DATA


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return load_labelled([EN, ZH])


@pytest.fixture(scope="module")
def model() -> MessageClassifier:
    return default_classifier()


@pytest.fixture(scope="module")
def rules() -> RuleClassifier:
    return RuleClassifier()


# ---- the labelled set --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path,lang", [(EN, "en"), (ZH, "zh")])
def test_set_is_big_enough_and_consistent(path: Path, lang: str):
    recs = load_labelled(path)
    assert len(recs) >= 300
    assert {r["lang"] for r in recs} == {lang}
    counts = Counter(r["label"] for r in recs)
    assert set(counts) == set(LABELS) and min(counts.values()) >= 40
    texts = [r["text"].casefold() for r in recs]
    assert len(texts) == len(set(texts)), "duplicate texts"
    assert all(r.get("group") for r in recs)


def test_split_is_by_group_deterministic_and_about_30_percent(records):
    splits = Counter(split_of(r) for r in records)
    assert set(splits) == {"train", "test", "fresh"}
    share = splits["test"] / (splits["train"] + splits["test"])
    assert 0.25 <= share <= 0.35
    by_group: dict[str, set[str]] = {}
    for r in records:
        by_group.setdefault(r["group"], set()).add(split_of(r))
    assert all(len(s) == 1 for s in by_group.values()), "a template is split across train and test"
    assert [split_of(r) for r in records] == [split_of(dict(r)) for r in records]
    with pytest.raises(ValueError):
        _select(records, "dev")


# ---- accuracy: held-out, blind, per class -----------------------------------------------------------------

def test_model_matches_or_beats_the_rules_on_the_held_out_split(model, rules):
    # measured: rules 0.9505, model 0.9518 macro F1 (285 lines, en + zh)
    m = evaluate([EN, ZH], model, split="test")
    r = evaluate([EN, ZH], rules, split="test")
    assert m["macro_f1"] >= 0.94 and r["macro_f1"] >= 0.94
    assert m["macro_f1"] >= r["macro_f1"] - 0.005
    # per language: en 0.9271 (rules 0.9304), zh 0.9777 (rules 0.9708)
    assert evaluate(EN, model)["macro_f1"] >= 0.90
    assert evaluate(ZH, model)["macro_f1"] >= 0.95


def test_per_class_recall_floors_on_the_held_out_split(model):
    per = evaluate([EN, ZH], model, split="test")["per_class"]
    floors = {"question": 0.95, "purchase_intent": 0.9, "complaint": 0.85, "praise": 0.8, "greeting": 0.95,
              "spam": 0.95, "other": 0.9}
    for label, floor in floors.items():
        assert per[label]["recall"] >= floor, (label, per[label])
    assert per["spam"]["precision"] >= 0.95  # moderation flags must not hit ordinary viewers


def test_blind_set_is_much_harder_and_stays_above_its_floor(model):
    # The "fresh" lines were written after everything was frozen: macro F1 0.6476 (rules 0.6466).
    res = evaluate([EN, ZH], model, split="fresh")
    assert res["n"] >= 150
    assert res["macro_f1"] >= 0.62


@pytest.mark.integration
def test_minilm_cascade_generalises_on_english():
    from brain.retrieval.embedders import make_embedder

    cascade = MessageClassifier(embedder=make_embedder("minilm"))
    # measured: blind en 0.7816 vs rules 0.5946; held-out en 0.9261
    fresh = evaluate(EN, cascade, split="fresh")["macro_f1"]
    assert fresh >= 0.75
    assert fresh >= evaluate(EN, RuleClassifier(), split="fresh")["macro_f1"] + 0.1
    assert evaluate(EN, cascade, split="test")["macro_f1"] >= 0.90
    lab = cascade.classify("the sound keeps cutting out")
    assert lab.label in LABELS and 0 <= lab.score <= 1


def test_shipped_weights_are_reproducible_from_the_training_split(records, model):
    meta = model.model.meta or {}
    retrained = MessageClassifier(train(_select(records, "train"), l2=meta["l2"], dropout=meta["dropout"]))
    assert (retrained.model.meta or {})["data_sha1"] == meta["data_sha1"], "tests/data changed: retrain"
    texts = [r["text"] for r in records if split_of(r) != "train"]
    a = [l.label for l in model.classify_many(texts)]
    b = [l.label for l in retrained.classify_many(texts)]
    assert sum(x != y for x, y in zip(a, b)) <= 2


# ---- API behaviour -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,label", [
    ("just bought it!", "purchase_intent"),
    ("link pls I want one", "purchase_intent"),
    ("怎么下单", "purchase_intent"),
    ("已拍", "purchase_intent"),
    ("my order hasn't arrived", "complaint"),
    ("退款怎么还没到", "complaint"),
    ("this is so helpful", "praise"),
    ("主播讲得太好了", "praise"),
    ("hi from Brazil", "greeting"),
    ("晚上好", "greeting"),
    ("follow me for free followers", "spam"),
    ("加微信xm8861领福利", "spam"),
    ("does it come in red?", "question"),
    ("包邮吗", "question"),
    ("哈哈哈", "other"),
    ("666", "other"),
])
def test_typical_lines(model, text, label):
    assert model.classify(text).label == label


@pytest.mark.parametrize("text", ["", "   ", "😂😂😂", "👍", "🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥", "?", "。。。"])
def test_empty_and_emoji_only_lines_are_other(model, rules, text):
    for clf in (model, rules):
        lab = clf.classify(text)
        assert lab.label == "other" and lab.score == 1.0


def test_punctuation_and_character_floods_are_spam(model):
    assert model.classify("!!!!!!!!!!!!!!!!!!!!!!").label == "spam"
    assert model.classify("啊" * 30).label == "spam"


def test_mixed_language_lines(model):
    assert model.classify("refund还没到账").label == "complaint"
    assert model.classify("link在哪里").label == "purchase_intent"
    lab = model.classify("这个blender多少钱")
    assert lab.label == "question" and lab.lang == "zh"


def test_very_long_lines_take_bounded_time(model):
    for text in ("a" * 100_000, "great course " * 10_000, "好" * 100_000, "😂" * 100_000):
        t0 = time.perf_counter()
        lab = model.classify(text)
        assert time.perf_counter() - t0 < 1.0
        assert lab.label in LABELS


def test_label_fields_reasons_and_batches(model):
    lab = model.classify("link pls I want one")
    assert isinstance(lab, Label) and 0.5 < lab.score <= 1.0 and lab.lang == "en"
    assert lab.reasons[0].startswith("rule:purchase_intent")
    texts = ["link pls", "", "晚上好", "😂", "my order never came"]
    many = model.classify_many(texts)
    assert [l.label for l in many] == [model.classify(t).label for t in texts]
    assert model.classify_many([]) == []
    quiet = MessageClassifier(model.model, explain=False)
    assert quiet.classify("link pls").reasons == () and quiet.classify("link pls").label == "purchase_intent"
    proba = model.probabilities(["link pls", "晚上好"])
    assert proba.shape == (2, len(LABELS)) and np.allclose(proba.sum(axis=1), 1.0)


def test_is_abuse_flags_spam_only(model):
    assert is_abuse(model.classify("check out my shop at www.cheapdeals.com"))
    assert is_abuse(model.classify("主播傻X"))
    assert not is_abuse(model.classify("how much is the blender?"))
    assert not is_abuse(model.classify("my order hasn't arrived"))
    assert not is_abuse(Label("spam", 0.3))
    assert is_abuse(Label("spam", 0.3), threshold=0.2)


def test_rules_apply_the_label_priority(rules):
    assert PRIORITY[0] == "spam" and PRIORITY[-1] == "other"
    assert rules.classify("just bought it but the link doesn't work").label == "complaint"
    assert rules.classify("how do I order?").label == "purchase_intent"
    assert rules.classify("great stream! follow me for free followers").label == "spam"
    assert rules.classify("hi! does it ship to Canada?").label == "question"
    hits = rules.hits("hi主播")
    assert hits.get("greeting") == "hi"
    assert "greeting" not in rules.hits("this blender")  # no "hi" inside "this"


def test_throughput_sanity(model, records):
    texts = [r["text"] for r in records][:2000]
    t0 = time.perf_counter()
    model.classify_many(texts)
    assert time.perf_counter() - t0 < 10.0  # ~0.5 s on the 2-core dev host; this only catches blow-ups


def test_weights_of_other_features_are_refused(tmp_path, model):
    path = tmp_path / "old.npz"
    model.model.save(path)
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    meta = json.loads(str(data["meta"]))
    meta["feature_version"] = FEATURE_VERSION - 1
    data["meta"] = np.array(json.dumps(meta))
    np.savez(path, **data)
    with pytest.raises(ValueError, match="retrain"):
        LinearModel.load(path)
    assert LinearModel.load(MODEL_PATH).W.shape[1] == len(LABELS)


def test_lexicon_format_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("orphan entry\n", encoding="utf-8")
    with pytest.raises(ValueError, match="before any"):
        load_lexicon(bad)
    bad.write_text("[compliment]\nnice\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown class"):
        RuleClassifier([bad])

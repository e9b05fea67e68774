"""Retention (chunked, pending reviews kept), a viewer's export and erasure, and the retention config."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_interactions import T0, action_row, chat, feedback, flag_row, insert, question, record, review_row  # noqa: E402

from bots.runtime.config import ConfigError, RetentionSection, parse_config  # noqa: E402
from brain.store.event_store import Store  # noqa: E402
from brain.store.retention import DAY, RetentionPolicy, apply_retention, delete_viewer, export_viewer  # noqa: E402
from brain.store.schema import events, flagged_viewers, moderation_actions, pins, questions, reviews  # noqa: E402

NOW = T0 + 100 * DAY


@pytest.fixture
def store(database_url: str):
    s = Store(database_url, flush_interval=0.2)
    yield s
    s.close()


def rows(store: Store, table: sa.Table, column: str = "id") -> list:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(table.c[column]).order_by(table.c[column])).scalars())


def days_ago(days: float) -> float:
    return NOW - days * DAY


# ---- retention --------------------------------------------------------------------------------------

@pytest.fixture
def aged(store: Store) -> Store:
    """Rows 40, 30 (exactly), 29.9 and 1 days old in every table; reviews pending and decided."""
    ages = (40, 30, 29.9, 1)
    for i, age in enumerate(ages):
        chat(store, i, ts=days_ago(age))
    record(store, *(question(i, ts=days_ago(age)) for i, age in enumerate(ages)))
    insert(store, reviews,
           review_row("e0", "approved", created_at=days_ago(41), decided_at=days_ago(40)),
           review_row("e1", "pending", created_at=days_ago(40)),                        # never deleted
           review_row("e2", "rejected", created_at=days_ago(40), decided_at=days_ago(29.9)),  # decided recently
           review_row("e3", "expired", created_at=days_ago(31), decided_at=days_ago(30)))
    insert(store, moderation_actions, *(action_row("approve", "console:alice", ts=days_ago(age)) for age in ages))
    return store


def test_nothing_is_deleted_by_default(aged: Store):
    assert RetentionPolicy().keeps_everything
    assert apply_retention(aged.engine, RetentionPolicy(), now=NOW) == {}
    assert len(rows(aged, events)) == len(rows(aged, questions)) == len(rows(aged, reviews)) == 4


def test_rows_older_than_the_days_go_and_the_boundary_stays(aged: Store):
    policy = RetentionPolicy(events_days=30, questions_days=30, reviews_days=30, actions_days=30)
    assert apply_retention(aged.engine, policy, now=NOW, dry_run=True) == \
        {"events": 1, "questions": 1, "reviews": 1, "moderation_actions": 1}
    assert len(rows(aged, events)) == 4  # a dry run deletes nothing
    assert apply_retention(aged.engine, policy, now=NOW) == \
        {"events": 1, "questions": 1, "reviews": 1, "moderation_actions": 1}
    assert rows(aged, questions, "event_id") == ["e1", "e2", "e3"]  # exactly 30 days old is kept
    assert rows(aged, events, "event_id") == ["m1", "m2", "m3"]
    with aged.engine.connect() as conn:
        left = dict(conn.execute(sa.select(reviews.c.event_id, reviews.c.status)).all())
    assert left == {"e1": "pending", "e2": "rejected", "e3": "expired"}  # e0 decided 40 days ago went
    assert apply_retention(aged.engine, policy, now=NOW) == \
        {"events": 0, "questions": 0, "reviews": 0, "moderation_actions": 0}


def test_pending_reviews_are_kept_at_any_age(aged: Store):
    apply_retention(aged.engine, RetentionPolicy(reviews_days=1), now=NOW + 1000 * DAY)
    with aged.engine.connect() as conn:
        assert conn.execute(sa.select(reviews.c.event_id, reviews.c.status)).all() == [("e1", "pending")]


def test_only_the_tables_with_days_are_touched(aged: Store):
    assert apply_retention(aged.engine, RetentionPolicy(questions_days=2), now=NOW) == {"questions": 3}
    assert len(rows(aged, events)) == 4 and len(rows(aged, moderation_actions)) == 4


def test_a_large_purge_runs_in_many_short_transactions(store: Store):
    with store.engine.begin() as conn:
        conn.execute(questions.insert(), [question(i, ts=days_ago(50 if i % 4 else 1)) for i in range(1000)])
    commits: list[int] = []
    sa.event.listen(store.engine, "commit", lambda conn: commits.append(1))
    assert apply_retention(store.engine, RetentionPolicy(questions_days=10), now=NOW, chunk=100) == {"questions": 750}
    assert len(commits) >= 8  # 750 rows in chunks of 100
    assert rows(store, questions, "event_id") == sorted(f"e{i}" for i in range(0, 1000, 4))


def test_a_policy_refuses_zero_days():
    with pytest.raises(ValueError, match="events_days must be at least 1 day"):
        RetentionPolicy(events_days=0)


# ---- config ---------------------------------------------------------------------------------------

def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml", {})
    return [str(p) for p in info.value.problems]


def test_retention_config_defaults_keep_everything_daily():
    section = parse_config("", env={}).retention
    assert section == RetentionSection()
    assert (section.events_days, section.questions_days, section.reviews_days, section.actions_days,
            section.interval_hours) == (None, None, None, None, 24)
    assert RetentionPolicy.of(section).keeps_everything


def test_retention_config_is_read_into_a_policy():
    config = parse_config("retention:\n  events_days: 30\n  reviews_days: 365\n  interval_hours: 6\n", env={})
    assert RetentionPolicy.of(config.retention) == RetentionPolicy(events_days=30, reviews_days=365)
    assert config.retention.interval_hours == 6


def test_bad_retention_config_names_the_key_and_line():
    [p] = problems("retention:\n  events_days: 0\n")
    assert p.startswith("cfg.yaml:2: retention.events_days: Input should be greater than or equal to 1")
    [p] = problems("bot:\n  name: x\nretention:\n  questions_days: forever\n")
    assert p.startswith("cfg.yaml:4: retention.questions_days: Input should be a valid integer") and "forever" not in p
    [p] = problems("retention:\n  interval_hours: 0\n")
    assert p.startswith("cfg.yaml:2: retention.interval_hours: Input should be greater than 0")
    [p] = problems("retention:\n  event_days: 30\n")
    assert p == ("cfg.yaml:2: retention.event_days: unknown key (allowed: actions_days, events_days, "
                 "interval_hours, questions_days, reviews_days)")


# ---- one viewer -------------------------------------------------------------------------------------

@pytest.fixture
def people(store: Store) -> Store:
    """alice: chat, a question with feedback on its answer, a review, a flag, a pin, actions; bob: a question."""
    chat(store, 1, user="alice")
    chat(store, 2, user="bob")
    record(store, question(1, user="alice", reply_id="bot-1"), question(2, user="bob"))
    feedback(store, "bot-1", +1, n=1)  # voter1 voted on alice's answer: voter1's event, not alice's
    insert(store, reviews, review_row("e1", "approved", user="alice"), review_row("e2", "pending", user="bob"))
    insert(store, flagged_viewers, flag_row("alice"))
    insert(store, moderation_actions, action_row("flag", "console:alice", ts=T0 + 5, detail="spam"),
           action_row("approve", "console:bob", ts=T0 + 6, actor="console:alice"))
    insert(store, pins, {"room": "console:demo", "product_id": "P1", "product_name": "Blender",
                         "user_key": "console:alice", "event_id": "m1", "ts": T0 + 7})
    assert store.flush()
    return store


def test_export_viewer_has_everything_about_them_as_json(people: Store):
    data = export_viewer(people.engine, "console:alice", now=NOW)
    assert json.loads(json.dumps(data)) == data
    assert data["user_key"] == "console:alice" and data["exported_at"] == NOW
    assert [e["event_id"] for e in data["events"]] == ["m1"]
    assert [(q["event_id"], q["text"]) for q in data["questions"]] == [("e1", "question number 1?")]
    assert [(r["event_id"], r["status"]) for r in data["reviews"]] == [("e1", "approved")]
    assert [f["reason"] for f in data["flagged_viewers"]] == ["spam"]
    assert [p["product_id"] for p in data["pins"]] == ["P1"]
    assert [(a["action"], a["target_user"], a["actor_key"]) for a in data["moderation_actions"]] == \
        [("flag", "console:alice", "console:mod"), ("approve", "console:bob", "console:alice")]


def test_export_of_an_unknown_viewer_is_empty_and_leaves_no_trace(people: Store):
    before = rows(people, moderation_actions)
    data = export_viewer(people.engine, "console:nobody", actor_key="cli:op", actor_name="op", now=NOW)
    assert {k: v for k, v in data.items() if isinstance(v, list)} == \
        {"events": [], "questions": [], "reviews": [], "flagged_viewers": [], "pins": [], "moderation_actions": []}
    assert rows(people, moderation_actions) == before


def test_an_export_by_someone_is_recorded(people: Store):
    export_viewer(people.engine, "console:bob", actor_key="cli:op", actor_name="op", now=NOW)
    with people.engine.connect() as conn:
        last = conn.execute(sa.select(moderation_actions).order_by(moderation_actions.c.id.desc())).first()
    assert (last.action, last.target_user, last.actor_key, last.detail, last.ts) == \
        ("export", "console:bob", "cli:op", None, NOW)


def test_delete_viewer_removes_their_rows_and_records_one_action(people: Store):
    counts = delete_viewer(people.engine, "console:alice", actor_key="cli:op", actor_name="op", now=NOW)
    assert counts == {"events": 1, "questions": 1, "reviews": 1, "flagged_viewers": 1, "pins": 1}
    after = export_viewer(people.engine, "console:alice")
    assert (after["events"], after["questions"], after["reviews"], after["flagged_viewers"], after["pins"]) == \
        ([], [], [], [], [])
    [deletion] = [a for a in after["moderation_actions"] if a["action"] == "delete"]
    assert (deletion["target_user"], deletion["actor_key"], deletion["actor_name"], deletion["room"],
            deletion["review_id"], deletion["ts"]) == ("console:alice", "cli:op", "op", None, None, NOW)
    assert json.loads(deletion["detail"]) == counts  # counts only: no name, no text
    # Everyone else's rows are untouched, the feedback voter1 gave on alice's answer included.
    assert rows(people, events, "event_id") == ["fb-bot-1-1", "m2"]
    assert rows(people, questions, "event_id") == ["e2"]
    assert [r for r in rows(people, reviews, "user_key")] == ["console:bob"]


def test_deleting_an_unknown_viewer_deletes_and_records_nothing(people: Store):
    before = rows(people, moderation_actions)
    assert delete_viewer(people.engine, "console:nobody", actor_key="cli:op", actor_name="op") == \
        {"events": 0, "questions": 0, "reviews": 0, "flagged_viewers": 0, "pins": 0}
    assert rows(people, moderation_actions) == before

"""The audience graph through the real runtime: replayed rooms, the host and mod commands,
restarts, the offline export and picture.

Driven through the replay adapter (real store, router, listener, worker thread,
Leiden, cascades), on one process and on an ingress and a worker through Redis (the ``deployment``
fixture). The generated room has three planted groups that talk among
themselves, a helper with a space in her name who answers everyone, and
newcomers in the last session, so every part of the report has something to find.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import ROOT  # noqa: E402

from adapters.replay import ReplayAdapter  # noqa: E402
from bots.app import Runtime  # noqa: E402
from bots.cli.main import cli  # noqa: E402

pytestmark = pytest.mark.both_deployments

SAMPLE = ROOT / "knowledge" / "samples" / "room.jsonl"
T0 = datetime(2026, 11, 20, 20, 0, tzinfo=timezone(timedelta(hours=8)))
GROUPS = {"bakers": [f"baker{i}" for i in range(12)], "runners": [f"runner{i}" for i in range(12)],
          "gamers": [f"gamer{i}" for i in range(12)]}
TOPICS = {"bakers": "sourdough starter flour oven", "runners": "marathon pace shoes knees",
          "gamers": "controller console latency fps"}
HELPER = "Ana Lee"

QUIET = {"answers": {"enabled": False}, "products": {"enabled": False}, "schedule": {"enabled": False},
         "traffic": {"enabled": False}}


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def generated_room(seed: int = 3) -> list[dict[str, Any]]:
    """Two sessions a day apart; replies stay inside a group 95% of the time; the helper answers questions."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    recent: dict[str, list[tuple[str, bool]]] = {g: [] for g in GROUPS}
    t = 0.0
    for session in range(2):
        t = session * 86400.0
        people = {g: members if session else members[:9] for g, members in GROUPS.items()}
        for i in range(900):
            t += rng.uniform(1, 4)
            group = rng.choice(list(GROUPS))
            if rng.random() < 0.05:
                group = rng.choice(list(GROUPS))
            user = rng.choice(people[group])
            mid = f"s{session}-{i}"
            question = rng.random() < 0.2
            words = " ".join(rng.sample(TOPICS[group].split(), 2))
            row: dict[str, Any] = {"id": mid, "ts": stamp(t), "user": user, "room": "big",
                                   "text": f"how do you handle {words}?" if question else f"my {words} today"}
            pool = recent[group]
            if pool and rng.random() < 0.6:
                target, _ = rng.choice(pool[-10:])
                row["reply_to"] = target
            rows.append(row)
            pool.append((mid, question))
            if question and rng.random() < 0.5:
                t += 1
                rows.append({"id": f"{mid}-a", "ts": stamp(t), "user": HELPER, "room": "big",
                             "reply_to": mid, "text": f"try a slower {words.split()[0]}, it helps"})
            if rng.random() < 0.03:
                t += 1
                other = rng.choice(people[group])
                rows.append({"id": f"{mid}-m", "ts": stamp(t), "user": other, "room": "big",
                             "text": f"@{HELPER} thanks for the tip on {words}"})
    t += 5
    rows += [{"id": "c-aud", "ts": stamp(t), "user": "host", "role": "host", "room": "big", "text": "/audience"},
             {"id": "c-who", "ts": stamp(t + 1), "user": "host", "role": "host", "room": "big",
              "text": f"/who @{HELPER}"},
             {"id": "c-reach", "ts": stamp(t + 2), "user": "host", "role": "host", "room": "big", "text": "/reach 3"},
             {"id": "c-deny", "ts": stamp(t + 3), "user": "baker1", "room": "big", "text": "/audience"},
             {"id": "c-bad", "ts": stamp(t + 4), "user": "host", "role": "host", "room": "big", "text": "/reach 0"},
             {"id": "c-nobody", "ts": stamp(t + 5), "user": "host", "role": "host", "room": "big",
              "text": "/who @Nobody Here"}]
    return rows


def write_log(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


async def replay(deployment: Any, log: Path, data_dir: Path, **sections: Any) -> tuple[Runtime, ReplayAdapter]:
    runtime = deployment.build(data_dir, **{**QUIET, **sections})
    adapter = ReplayAdapter(log, fast=True)
    await deployment.serve(runtime, [adapter])
    return runtime, adapter


@pytest.fixture(scope="module")
def big_log(tmp_path_factory) -> Path:
    return write_log(tmp_path_factory.mktemp("audience") / "big.jsonl", generated_room())


@pytest.mark.one_process("the same graph code on a bigger room; the audience crosses Redis in the two tests below "
                         "(its commands, replies as ties, the graph built on the worker and rebuilt from PostgreSQL)")
async def test_the_generated_room_finds_its_groups_helper_and_seeds(deployment, big_log, data_dir):
    runtime, adapter = await replay(deployment, big_log, data_dir)
    try:
        replies = {r.reply_to: r.text for r in adapter.replies if r.reply_to}
        audience = replies["c-aud"]
        assert audience.startswith("Audience: 37 people")
        assert "9 new" in audience                    # the 3 × 3 who joined in the second session
        groups = [line for line in audience.splitlines() if line.lstrip()[:2] in ("1.", "2.", "3.")]
        assert len(groups) == 3
        for name, topic in TOPICS.items():            # each group, with its members and its topics
            line = next(g for g in groups if name[:-1] in g)
            assert any(word in line for word in topic.split()), line
        assert f"Helpers: {HELPER}" in audience
        who = replies["c-who"]
        assert who.startswith(f"{HELPER} (replay:{HELPER})") and "answers to others" in who
        assert "Influence: #1 of 37" in who
        reach = replies["c-reach"]
        assert reach.startswith("Seed a promotion with") and " people (" in reach and ") of 37." in reach
        seeds = reach.split("with ")[1].split(":")[0].split(", ")
        assert len(set(seeds)) == 3, reach      # a dense, chatty room: any 3 reach nearly everyone
        low, high = reach.rsplit("(", 1)[1].split(")")[0].split("–")
        assert 3 <= int(low) <= int(high) <= 37
        assert "for the host only" in replies["c-deny"]
        assert "k must be between 1 and 20" in replies["c-bad"]
        assert "have not seen '@Nobody Here'" in replies["c-nobody"]
        summary = runtime.audience_summary
        assert summary == {"graph_nodes": 37, "graph_edges": summary["graph_edges"], "communities": 3}
        assert summary["graph_edges"] > 100
    finally:
        runtime.close()


async def test_the_sample_room_and_a_restart_rebuild_the_same_graph(deployment, data_dir):
    runtime, _ = await replay(deployment, SAMPLE, data_dir)
    first = runtime.audience_summary
    runtime.close()
    assert first["graph_nodes"] == 7 and first["communities"] >= 1   # the host's transcript is not a tie

    again = deployment.build(data_dir, **QUIET)
    try:
        report = await again.audience.run_in_worker(again.audience.report, "replay:smoothie-lab")
        assert (report.nodes, report.edges) == (first["graph_nodes"], first["graph_edges"])
        profile = await again.audience.run_in_worker(
            lambda: again.audience._room("replay:smoothie-lab").graph.profile("replay:mia"))
        assert profile is not None and profile.answers == 2      # she answered tom's and ravi's questions
        assert again.audience.stats.rebuilt_rooms == 1
    finally:
        await again.audience.drain()
        again.close()


async def test_an_empty_room_and_a_lonely_viewer(deployment, data_dir, tmp_path):
    rows = [{"id": "1", "ts": stamp(0), "user": "host", "role": "host", "room": "e", "text": "/audience"},
            {"id": "2", "ts": stamp(1), "user": "host", "role": "host", "room": "e", "text": "/reach 2"},
            {"id": "3", "ts": stamp(2), "user": "solo", "room": "e", "text": "hello? @solo @ghost"},
            {"id": "4", "ts": stamp(3), "user": "solo", "room": "e", "text": "anyone?", "reply_to": "3"},
            {"id": "5", "ts": stamp(4), "user": "host", "role": "host", "room": "e", "text": "/audience"},
            {"id": "6", "ts": stamp(5), "user": "host", "role": "host", "room": "e", "text": "/reach 2"}]
    runtime, adapter = await replay(deployment, write_log(tmp_path / "e.jsonl", rows), data_dir)
    try:
        replies = {r.reply_to: r.text for r in adapter.replies if r.reply_to}
        assert replies["1"] == "Nobody has chatted in this room yet."
        assert replies["2"].startswith("Nobody has chatted")
        assert replies["5"].startswith("Audience: 1 person, 0 ties")    # self-mentions, self-replies: no tie
        assert "reach about 1 person (1–1) of 1." in replies["6"]
    finally:
        runtime.close()


def test_export_round_trips_and_the_pictures_open(big_log, tmp_path):
    from PIL import Image

    data = tmp_path / "data"
    runner = CliRunner()
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({**QUIET, "knowledge": {"path": str(ROOT / "knowledge")},
                                  "retrieval": {"embedder": "hashing"}}), encoding="utf-8")
    base = ["--config", str(config), "--data-dir", str(data)]
    done = runner.invoke(cli, [*base, "replay", str(big_log), "--fast", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output.strip().splitlines()[-1])["communities"] == 3

    graphml = tmp_path / "room.graphml"
    done = runner.invoke(cli, [*base, "audience", "export", "--out", str(graphml)])
    assert done.exit_code == 0, done.output
    g = nx.read_graphml(graphml)
    assert g.number_of_nodes() == 37 and len({d["community"] for _, d in g.nodes(data=True)}) == 3
    assert abs(sum(d["influence"] for _, d in g.nodes(data=True)) - 1.0) < 1e-6

    done = runner.invoke(cli, [*base, "audience", "export", "--format", "csv", "--out", str(tmp_path / "room.csv")])
    assert done.exit_code == 0 and (tmp_path / "room.nodes.csv").read_text().startswith("key,")

    png = tmp_path / "room.png"
    done = runner.invoke(cli, [*base, "audience", "plot", "--out", str(png)])
    assert done.exit_code == 0, done.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        assert image.size[0] > 200 and image.size[1] > 200
    html = tmp_path / "room.html"
    done = runner.invoke(cli, [*base, "audience", "plot", "--out", str(html)])
    assert done.exit_code == 0 and HELPER in html.read_text(encoding="utf-8")

    done = runner.invoke(cli, [*base, "audience", "plot", "--out", str(tmp_path / "room.gif")])
    assert done.exit_code != 0 and ".png or .html" in done.output
    done = runner.invoke(cli, [*base, "audience", "export", "--room", "replay:nowhere", "--out", str(graphml)])
    assert done.exit_code != 0 and "no events for room 'replay:nowhere'" in done.output


def test_eval_communities_prints_exactly_the_keys(tmp_path):
    karate = nx.karate_club_graph()
    (tmp_path / "edges.tsv").write_text("".join(f"{u}\t{v}\n" for u, v in karate.edges()))
    (tmp_path / "labels.tsv").write_text("".join(f"{n}\t{d['club']}\n" for n, d in karate.nodes(data=True)))
    done = CliRunner().invoke(cli, ["eval", "communities", str(tmp_path), "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert set(result) == {"nmi", "ari", "modularity", "communities", "resolution", "nodes", "edges", "seconds"}
    assert result["nmi"] >= 0.6 and (result["nodes"], result["edges"]) == (34, 78)
    assert 0 < result["resolution"] < 1  # the two factions, not γ = 1's four groups
    done = CliRunner().invoke(cli, ["eval", "communities", str(tmp_path)])
    assert done.exit_code == 0 and any(line.split() == ["resolution", str(result["resolution"])]
                                       for line in done.output.splitlines())
    (tmp_path / "edges.tsv").write_text("0\t1\nnot-an-edge\n")
    done = CliRunner().invoke(cli, ["eval", "communities", str(tmp_path)])
    assert done.exit_code == 2 and "edges.tsv:2:" in done.output
    done = CliRunner().invoke(cli, ["eval", "communities", str(tmp_path / "missing")])
    assert done.exit_code == 2 and "missing edges.tsv" in done.output

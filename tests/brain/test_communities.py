"""Communities (Leiden + MDL resolution), agreement metrics, evaluation files, the audience report."""

import math

import networkx as nx
import pytest

from brain.audience.communities import (
    analyse,
    ari,
    convert_graph,
    detect_communities,
    evaluate_communities,
    modularity,
    nmi,
    pagerank,
)
from brain.audience.graph import AudienceGraph

EVAL_KEYS = {"nmi", "ari", "modularity", "communities", "resolution", "nodes", "edges", "seconds"}


def two_cliques(size: int = 6, bridge: bool = True) -> nx.Graph:
    g = nx.Graph()
    for base in (0, 100):
        nodes = [f"n{base + i}" for i in range(size)]
        g.add_edges_from(((a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:]), weight=1.0)
    if bridge:
        g.add_edge("hub", "n0", weight=1.0)
        g.add_edge("hub", "n1", weight=1.0)
        g.add_edge("hub", "n100", weight=1.0)
        g.add_edge("hub", "n101", weight=1.0)
    return g


# ---- metrics -------------------------------------------------------------------------

def test_nmi_and_ari_match_scikit_learn_reference_values():
    assert ari([0, 0, 1, 2], [0, 0, 1, 1]) == pytest.approx(0.5714285714285715)
    assert ari([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert nmi([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(0.5158037429793889)
    assert nmi(["a", "a", "b", "b"], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert ari(["a", "a", "b", "b"], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert nmi([0, 0, 1, 1], [0, 0, 0, 0]) == pytest.approx(0.0)


def test_metric_special_cases():
    assert nmi([], []) == 1.0 and ari([], []) == 1.0
    assert nmi([1], [5]) == 1.0 and ari([1], [5]) == 1.0
    assert nmi([0, 0, 0], [1, 1, 1]) == 1.0 and ari([0, 0, 0], [1, 1, 1]) == 1.0
    assert ari([0, 1, 2], [3, 4, 5]) == 1.0
    with pytest.raises(ValueError, match="length"):
        nmi([0, 1], [0])


def test_modularity_matches_networkx():
    g = nx.karate_club_graph()
    parts = [{n for n in g if g.nodes[n]["club"] == "Mr. Hi"}, {n for n in g if g.nodes[n]["club"] != "Mr. Hi"}]
    assert modularity(g, parts) == pytest.approx(nx.community.modularity(g, parts, weight="weight"))
    labels = {n: g.nodes[n]["club"] for n in g}
    assert modularity(g, labels) == pytest.approx(nx.community.modularity(g, parts, weight="weight"))
    assert modularity(g, labels, resolution=0.5) == pytest.approx(
        nx.community.modularity(g, parts, weight="weight", resolution=0.5))
    assert modularity(nx.Graph(), []) == 0.0


# ---- detection -----------------------------------------------------------------------

def test_leiden_finds_the_karate_factions():
    g = nx.karate_club_graph()
    result = detect_communities(g, seed=0)
    truth = [g.nodes[n]["club"] for n in g]
    assert nmi(truth, result.labels(g)) >= 0.6
    assert result.modularity == pytest.approx(modularity(g, result.membership))
    assert sum(len(c) for c in result.communities) == 34 and not result.unassigned
    sizes = [len(c) for c in result.communities]
    assert sizes == sorted(sizes, reverse=True)


def test_a_fixed_resolution_is_plain_modularity_and_results_are_deterministic():
    g = nx.karate_club_graph()
    a = detect_communities(g, seed=3, resolution=1.0)
    b = detect_communities(g, seed=3, resolution=1.0)
    assert a.membership == b.membership and a.resolution == 1.0
    assert a.modularity > 0.4  # the known optimum is 0.4449 (weighted)
    with pytest.raises(ValueError, match="resolution"):
        detect_communities(g, resolution=-1)


def test_degenerate_graphs():
    empty = detect_communities(nx.Graph())
    assert empty.communities == [] and empty.membership == {} and empty.modularity == 0.0
    one = detect_communities(nx.empty_graph(1))
    assert one.communities == [] and one.unassigned == [0] and one.membership == {0: -1}
    loose = detect_communities(nx.empty_graph(3))
    assert loose.unassigned == [0, 1, 2] and loose.labels([0, 1, 2]) == [("unassigned", 0), ("unassigned", 1),
                                                                        ("unassigned", 2)]
    loop = nx.Graph()
    loop.add_edge("a", "a", weight=5.0)
    assert detect_communities(loop).unassigned == ["a"]


def test_isolated_nodes_and_self_loops_do_not_change_the_partition():
    g = two_cliques(bridge=False)
    plain = detect_communities(g)
    g.add_nodes_from(["lonely", "quiet"])
    g.add_edge("n0", "n0", weight=10.0)
    g.add_edge("n3", "n4", weight=0.0)  # not a tie
    noisy = detect_communities(g)
    assert {frozenset(c) for c in noisy.communities} == {frozenset(c) for c in plain.communities}
    assert len(plain.communities) == 2
    assert set(noisy.unassigned) == {"lonely", "quiet"}
    assert noisy.membership["lonely"] == -1


def test_directed_and_multi_graphs_are_collapsed_with_summed_weights():
    d = nx.DiGraph()
    d.add_edge("a", "b", weight=1.0)
    d.add_edge("b", "a", weight=2.0)
    conv = convert_graph(d)
    assert list(conv.weights) == [3.0]
    m = nx.MultiGraph()
    m.add_edge("a", "b", weight=1.0)
    m.add_edge("a", "b", weight=4.0)
    assert list(convert_graph(m).weights) == [5.0]


def test_pagerank_matches_networkx():
    g = nx.karate_club_graph()
    g.add_node("isolated")
    ours = pagerank(convert_graph(g))
    theirs = nx.pagerank(g, weight="weight", tol=1e-12)
    for i, node in enumerate(g):
        assert ours[i] == pytest.approx(theirs[node], abs=1e-8)
    assert pagerank(convert_graph(nx.empty_graph(2))).tolist() == [0.5, 0.5]


# ---- evaluation files ----------------------------------------------------------------

def _write_set(path, g, label_attr="club", weights=False):
    path.mkdir()
    lines = [f"{u}\t{v}" + (f"\t{d['weight']}" if weights else "") for u, v, d in g.edges(data=True)]
    (path / "edges.tsv").write_text("# a comment\n" + "\n".join(lines) + "\n\n", encoding="utf-8")
    (path / "labels.tsv").write_text("".join(f"{n}\t{g.nodes[n][label_attr]}\n" for n in g), encoding="utf-8")


def test_evaluate_communities_on_karate_files(tmp_path):
    g = nx.karate_club_graph()
    _write_set(tmp_path / "karate", g)
    out = evaluate_communities(tmp_path / "karate")
    assert set(out) == EVAL_KEYS
    assert out["nodes"] == 34 and out["edges"] == 78 and out["nmi"] >= 0.6 and out["communities"] >= 2
    assert -0.5 <= out["ari"] <= 1 and 0 < out["modularity"] < 1 and out["seconds"] >= 0
    assert out["resolution"] == pytest.approx(2 ** -1.5)  # the scan's choice: the two factions
    assert evaluate_communities(tmp_path / "karate", resolution=1.0)["resolution"] == 1.0
    _write_set(tmp_path / "weighted", g, weights=True)
    assert evaluate_communities(tmp_path / "weighted")["nmi"] >= 0.6


@pytest.mark.parametrize("edges, labels, message", [
    ("a\tb\nb c\n", "a\t1\nb\t1\nc\t2\n", r"edges\.tsv:2: expected"),
    ("a\tb\tx\n", "a\t1\nb\t1\n", r"edges\.tsv:1: weight 'x' is not a number"),
    ("a\tb\t-1\n", "a\t1\nb\t1\n", r"edges\.tsv:1: weight '-1' must be"),
    ("a\tb\n", "a\t1\nb\n", r"labels\.tsv:2: expected 'node<TAB>label'"),
    ("a\tb\n", "a\t1\na\t2\nb\t1\n", r"labels\.tsv:2: node 'a' is labelled twice"),
    ("a\tb\n", "a\t1\n", r"labels\.tsv: node 'b' of edges\.tsv has no label"),
])
def test_malformed_files_name_the_file_and_line(tmp_path, edges, labels, message):
    (tmp_path / "edges.tsv").write_text(edges, encoding="utf-8")
    (tmp_path / "labels.tsv").write_text(labels, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        evaluate_communities(tmp_path)


def test_missing_files_are_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="edges.tsv: cannot read"):
        evaluate_communities(tmp_path)


# ---- the report ----------------------------------------------------------------------

def _room() -> AudienceGraph:
    """Two friend groups who answer each other, and one person who talks to both."""
    g = AudienceGraph("tg:room", co_window_s=0, session_gap_s=1800)
    groups = {"blend": [f"tg:b{i}" for i in range(5)], "knit": [f"tg:k{i}" for i in range(5)]}
    texts = {"blend": "the blender smoothie is great", "knit": "knitting yarn wool pattern"}
    ts = 0.0
    for topic, people in groups.items():
        for i, asker in enumerate(people):
            for j, other in enumerate(people):
                if i != j:
                    ts += 1
                    g.observe_message(ts=ts, user_key=asker, user_name=asker[3:], text=f"{texts[topic]}?",
                                      message_id=f"q{ts}")
                    ts += 1
                    g.observe_message(ts=ts, user_key=other, user_name=other[3:], text=texts[topic],
                                      message_id=f"a{ts}", reply_to=f"q{ts - 1}")
    for other in ("tg:b0", "tg:k0", "tg:b1", "tg:k1"):
        ts += 1
        g.observe_message(ts=ts, user_key="tg:hub", user_name="Hub Person", text=f"@{other[3:]} hello",
                          message_id=f"h{ts}")
    g.observe_message(ts=ts + 10_000, user_key="tg:b0", user_name="b0", text="back again", message_id="late1")
    g.observe_message(ts=ts + 10_001, user_key="tg:new", user_name="Newbie", text="first time here",
                      message_id="late2")
    return g


def test_analyse_a_room():
    report = analyse(_room().snapshot())
    groups = [set(c.members) for c in report.communities]
    blend, knit = {f"tg:b{i}" for i in range(5)}, {f"tg:k{i}" for i in range(5)}
    assert any(blend <= g for g in groups) and any(knit <= g for g in groups)
    assert report.unassigned == ("tg:new",)
    assert sum(report.influence.values()) == pytest.approx(1.0)
    for c in report.communities:
        assert [m.influence for m in c.top] == sorted((m.influence for m in c.top), reverse=True)
        assert c.size == len(c.members)
    words = {c.members[0]: {w for w, _ in c.keywords} for c in report.communities}
    blend_words = next(w for m, w in words.items() if m in blend)
    assert "blender" in blend_words and "yarn" not in blend_words
    assert report.helpers and report.helpers[0].answers == 4 and report.helpers[0].helped == 4
    assert report.bridges[0].key == "tg:hub" and len(report.bridges[0].communities) == 2
    assert report.newcomers == ("tg:new",) and report.returning == ("tg:b0",)
    assert report.name("tg:hub") == "Hub Person" and report.top_influencers(1)[0].influence > 0
    summary = report.summary()
    assert summary["nodes"] == 12 and summary["communities"][0]["top"]


def test_analyse_takes_texts_from_a_mapping():
    g = two_cliques()
    texts = {f"n{i}": ["我们 喜欢 直播 包邮"] for i in range(6)} | {f"n{100 + i}": ["football match tonight"] for i in range(6)}
    report = analyse(g, texts=texts)
    topics = [{w for w, _ in c.keywords} for c in report.communities if c.size >= 6]
    assert any("包邮" in t for t in topics) and any("football" in t for t in topics)


@pytest.mark.parametrize("graph", [nx.Graph(), nx.empty_graph(1), nx.empty_graph(4)])
def test_analyse_degenerate_graphs(graph):
    report = analyse(graph)
    assert report.nodes == graph.number_of_nodes() and report.edges == 0
    assert report.communities == [] and report.helpers == [] and report.bridges == []
    assert len(report.unassigned) == graph.number_of_nodes()
    if graph.number_of_nodes():
        assert sum(report.influence.values()) == pytest.approx(1.0)
    assert math.isfinite(report.modularity)

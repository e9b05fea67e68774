"""Exports (GraphML, JSON, CSV) and pictures (PNG, HTML) of the audience graph."""

import csv
import json

import networkx as nx
import pytest

from brain.audience.communities import analyse
from brain.audience.export import (
    _draw,  # noqa: PLC2701 - the title is only visible on the figure
    annotated_graph,
    export_graph,
    plot_graph,
)
from brain.audience.graph import AudienceGraph


def room_report():
    g = AudienceGraph("tg:room", co_window_s=0)
    people = [("tg:1", "Alice Smith"), ("tg:2", "Bob <b>"), ("tg:3", "小明"), ("tg:4", "Dee")]
    for i, (key, name) in enumerate(people):
        g.observe_message(ts=float(i), user_key=key, user_name=name, text="what is the price?", message_id=f"q{i}")
    for i, (key, name) in enumerate(people):
        other = people[(i + 1) % len(people)][0]
        g.observe_message(ts=10.0 + i, user_key=other, user_name=dict(people)[other], text="it is 20",
                          message_id=f"a{i}", reply_to=f"q{i}")
    g.observe_join(20.0, "tg:5", "Lurker")
    return analyse(g.snapshot())


def test_graphml_round_trips(tmp_path):
    report = room_report()
    [path] = export_graph(report, tmp_path / "a.graphml")
    back = nx.read_graphml(path)
    assert set(back) == set(report.graph)
    for key in report.graph:
        data = back.nodes[key]
        assert data["name"] == report.name(key)
        assert data["community"] == report.membership[key]
        assert data["influence"] == pytest.approx(report.influence[key])
        assert "recent" not in data  # lists stay out of files
    for u, v, d in report.graph.edges(data=True):
        assert back[u][v]["weight"] == pytest.approx(d["weight"])
        assert back[u][v].get("answer_fwd", 0) == d.get("answer_fwd", 0)


def test_json_is_node_link_data(tmp_path):
    report = room_report()
    [path] = export_graph(report, tmp_path / "out" / "a.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    back = nx.node_link_graph(data, edges="edges")
    assert set(back) == set(report.graph) and back.number_of_edges() == report.edges
    assert back.nodes["tg:3"]["name"] == "小明" and data["graph"]["room"] == "tg:room"


def test_csv_writes_a_nodes_and_an_edges_file(tmp_path):
    report = room_report()
    nodes_path, edges_path = export_graph(report, tmp_path / "audience.csv")
    assert nodes_path.name == "audience.nodes.csv" and edges_path.name == "audience.edges.csv"
    with open(nodes_path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:4] == ["key", "name", "community", "influence"] and len(rows) == 5
    with open(edges_path, encoding="utf-8", newline="") as fh:
        edges = list(csv.DictReader(fh))
    assert list(edges[0])[:3] == ["source", "target", "weight"] and len(edges) == report.edges


def test_a_plain_graph_is_analysed_first_and_formats_are_checked(tmp_path):
    g = nx.karate_club_graph()
    annotated = annotated_graph(g)
    assert {"name", "community", "influence", "club"} <= set(annotated.nodes[0])
    [path] = export_graph(g, tmp_path / "k.data", format="graphml")
    assert nx.read_graphml(path).number_of_nodes() == 34
    with pytest.raises(ValueError, match="allowed: graphml, json, csv"):
        export_graph(g, tmp_path / "k.gexf")
    with pytest.raises(ValueError, match=r"allowed: \.png, \.html"):
        plot_graph(g, tmp_path / "k.svg")
    with pytest.raises(TypeError):
        export_graph("not a graph", tmp_path / "x.json")


def test_png_is_a_valid_image(tmp_path):
    from matplotlib import image

    path = plot_graph(room_report(), tmp_path / "a.png")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    pixels = image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100


def test_html_is_self_contained_and_escaped(tmp_path):
    text = plot_graph(room_report(), tmp_path / "a.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "sortTable" in text
    assert "Bob &lt;b&gt;" in text and "Bob <b>" not in text
    assert "src=\"http" not in text and "href=\"http" not in text and "cdn" not in text.lower()


def test_big_graphs_are_drawn_as_their_top_people_and_say_so():
    report = analyse(nx.barabasi_albert_graph(400, 2, seed=1))
    fig = _draw(report, top_n=50, labels=5, seed=0, title=None)
    assert "top 50 of 400 people" in fig.axes[0].get_title()


@pytest.mark.parametrize("graph", [nx.Graph(), nx.empty_graph(1)])
def test_empty_and_one_node_graphs(tmp_path, graph):
    for name in ("g.graphml", "g.json", "g.csv"):
        for path in export_graph(graph, tmp_path / name):
            assert path.exists()
    assert nx.read_graphml(tmp_path / "g.graphml").number_of_nodes() == graph.number_of_nodes()
    assert plot_graph(graph, tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")
    assert "<svg" in plot_graph(graph, tmp_path / "g.html").read_text(encoding="utf-8")

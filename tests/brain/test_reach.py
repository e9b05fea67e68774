"""Independent-cascade reach and seed selection (greedy / CELF on shared live-edge samples)."""

import networkx as nx
import numpy as np
import pytest

from brain.audience.reach import best_seeds, edge_probability, estimate_reach


def room(n: int = 120, seed: int = 1) -> nx.Graph:
    g = nx.powerlaw_cluster_graph(n, 2, 0.3, seed=seed)
    rng = np.random.default_rng(seed)
    for u, v in g.edges:
        g[u][v]["weight"] = float(rng.choice([0.1, 0.7, 1.0, 1.5, 4.0]))
    g.add_nodes_from(["quiet-1", "quiet-2"])  # people nobody talked to
    return g


def test_edge_probability_saturates():
    p = edge_probability(np.array([0.0, 0.1, 1.0, 1.5, 100.0]))
    assert p[0] == 0 and p[1] == pytest.approx(1 - np.exp(-0.1 / 10)) and p[2] == pytest.approx(0.0952, abs=1e-4)
    assert p[-1] == 0.3 and np.all(np.diff(p) >= 0)
    with pytest.raises(ValueError):
        edge_probability(np.ones(1), scale=0)


def test_reach_with_certain_and_impossible_ties():
    g = nx.path_graph(5)
    g.add_edge(10, 11)
    assert estimate_reach(g, [0], probability=1.0).mean == 5
    assert estimate_reach(g, [0, 10], probability=1.0).mean == 7
    zero = estimate_reach(g, [0, 10], probability=0.0)
    assert (zero.mean, zero.low, zero.high) == (2, 2, 2)
    half = estimate_reach(nx.path_graph(2), [0], probability=0.5, runs=4000)
    assert half.mean == pytest.approx(1.5, abs=0.05) and half.low == 1 and half.high == 2


def test_reach_is_deterministic_and_validates_seeds():
    g = room()
    assert estimate_reach(g, [0, 5], seed=7) == estimate_reach(g, [0, 5], seed=7)
    assert estimate_reach(g, [0, 0]).mean == estimate_reach(g, [0]).mean
    with pytest.raises(ValueError, match="not a node"):
        estimate_reach(g, ["nobody"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        estimate_reach(g, [0], probability=2.0)
    with pytest.raises(ValueError, match="runs"):
        estimate_reach(g, [0], runs=0)


def test_celf_equals_plain_greedy():
    g = room(80)
    lazy = best_seeds(g, 6, runs=100, seed=3, method="celf")
    plain = best_seeds(g, 6, runs=100, seed=3, method="greedy")
    assert lazy.seeds == plain.seeds and lazy.reach == plain.reach
    gains = [gain for _, gain in lazy.seeds]
    assert gains == sorted(gains, reverse=True)  # submodular: marginal gains never grow


def test_reach_grows_with_k_and_stays_within_k_and_n():
    g = room()
    n = g.number_of_nodes()
    previous = 0.0
    for k in range(1, 7):
        chosen = best_seeds(g, k, runs=100)
        assert len(chosen.seeds) == k and len({s for s, _ in chosen.seeds}) == k
        assert k <= chosen.reach.mean <= n
        assert chosen.reach.mean >= previous
        previous = chosen.reach.mean
    # the greedy pick beats a random handful
    assert previous > estimate_reach(g, ["quiet-1", "quiet-2", 119, 118, 117, 116], runs=100).mean


def test_small_and_degenerate_graphs():
    one = nx.empty_graph(1)
    assert estimate_reach(one, [0]).mean == 1
    chosen = best_seeds(one, 3)
    assert chosen.seeds == [(0, 1.0)] and chosen.reach.mean == 1
    assert best_seeds(nx.Graph(), 2).seeds == [] and estimate_reach(nx.Graph(), []).mean == 0
    assert estimate_reach(room(), []).mean == 0
    everyone = best_seeds(nx.path_graph(3), 10)
    assert {s for s, _ in everyone.seeds} == {0, 1, 2} and everyone.reach.mean == 3
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            best_seeds(one, bad)
    with pytest.raises(ValueError, match="unknown method"):
        best_seeds(one, 1, method="magic")

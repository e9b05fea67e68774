"""The resolution choice (brain.audience.resolution): tiers, the description length, and what it picks.

The graphs are generated here (planted groups of uneven sizes, partners drawn
uniformly inside the group or, with probability ``mix``, anywhere) and scored
against networkx Louvain at resolution 1, seed 0: the baseline issue 18 measured.
"""

import networkx as nx
import numpy as np
import pytest

from brain.audience.communities import detect_communities, nmi
from brain.audience.resolution import (
    RESOLUTION_GRID,
    SCAN_MAX_SIZE,
    THOROUGH_MAX_EDGES,
    Plan,
    description_length,
    plan,
    scan_size,
)


def planted_groups(sizes: list[int], degree: int, mix: float, seed: int) -> tuple[nx.Graph, list[int]]:
    """A graph of len(sizes) groups, about ``degree`` ties per person, and each node's group."""
    rng = np.random.default_rng(seed)
    size = np.asarray(sizes)
    group = np.repeat(np.arange(len(size)), size)
    n, m = len(group), len(group) * degree // 2
    start = np.cumsum(size) - size
    src = rng.integers(0, n, m)
    own = start[group[src]] + (rng.random(m) * size[group[src]]).astype(np.int64)
    dst = np.where(rng.random(m) < mix, rng.integers(0, n, m), own)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from((u, v) for u, v in zip(src.tolist(), dst.tolist()) if u != v)
    return g, group.tolist()


def louvain_nmi(g: nx.Graph, truth: list[int]) -> float:
    found = {v: i for i, c in enumerate(nx.community.louvain_communities(g, seed=0)) for v in c}
    return nmi(truth, [found[v] for v in g])


def test_plan_tiers():
    assert plan("auto", people=100, ties=THOROUGH_MAX_EDGES, runs=2, iterations=-1) == Plan(RESOLUTION_GRID, 2, -1)
    assert plan("auto", people=1_000, ties=16_000, runs=2, iterations=-1) == Plan(RESOLUTION_GRID, 1, 2, finish=-1)
    people = (SCAN_MAX_SIZE - 10_000) // 8
    assert scan_size(people, 10_000) == SCAN_MAX_SIZE
    assert plan("auto", people=people, ties=10_000, runs=2, iterations=-1).grid == RESOLUTION_GRID
    assert plan("auto", people=people + 1, ties=10_000, runs=2, iterations=-1) == Plan((1.0,), 1, 2)
    assert plan(1.5, people=10, ties=10**9, runs=3, iterations=-1) == Plan((1.5,), 3, -1)
    for bad in (-1, 0, float("nan"), float("inf"), "fast", True):
        with pytest.raises(ValueError, match="resolution"):
            plan(bad, people=10, ties=10, runs=2, iterations=-1)
    with pytest.raises(ValueError, match="runs"):
        plan("auto", people=10, ties=10, runs=0, iterations=-1)
    with pytest.raises(ValueError, match="grid"):
        plan("auto", people=10, ties=10, runs=1, iterations=-1, grid=())


def test_the_description_length_does_not_split_a_random_graph():
    g = nx.gnm_random_graph(200, 1_000, seed=1)
    src, dst = (np.asarray(x) for x in zip(*g.edges()))
    w = np.ones(len(src))
    strength = np.bincount(src, minlength=200) + np.bincount(dst, minlength=200).astype(float)
    active = strength > 0
    whole = description_length(src, dst, w, strength, np.zeros(200, dtype=np.int64), active)
    halves = description_length(src, dst, w, strength, np.arange(200) % 2, active)
    assert whole < halves


def test_weak_structure_still_shows_groups_but_a_single_clique_stays_whole():
    # A random graph: the smallest DL is one community, which tells a host nothing, and γ = 1
    # finds several; the best of the partitions with several is shown. A clique stays one.
    g = nx.gnm_random_graph(300, 1_500, seed=1)
    src, dst = (np.asarray(x) for x in zip(*g.edges()))
    strength = (np.bincount(src, minlength=300) + np.bincount(dst, minlength=300)).astype(float)
    random = detect_communities(g)
    assert len(random.communities) > 1
    assert random.description_length > description_length(src, dst, np.ones(len(src)), strength,
                                                           np.zeros(300, dtype=np.int64), strength > 0)
    clique = detect_communities(nx.complete_graph(12))
    assert len(clique.communities) == 1


def test_a_graph_over_5000_ties_gets_a_scanned_resolution_that_beats_louvain():
    # 724 people in 40 groups of 60 down to 3, 6,010 ties, 40 % of them random (issue 18:
    # graphs over 5,000 ties were not scanned and lost to Louvain on such graphs).
    g, truth = planted_groups([max(3, round(60 * 0.92 ** i)) for i in range(40)], degree=20, mix=0.4, seed=0)
    assert g.number_of_edges() > THOROUGH_MAX_EDGES
    result = detect_communities(g)
    assert result.resolution > 1 and result.description_length is not None
    unscanned = detect_communities(g, scan_max_size=0)
    assert unscanned.resolution == 1.0 and unscanned.description_length is None
    found = nmi(truth, result.labels(g))
    assert found >= louvain_nmi(g, truth)
    assert found > nmi(truth, unscanned.labels(g))
    assert detect_communities(g).membership == result.membership


def test_a_crowd_beside_small_tight_groups_is_not_cut_up():
    # One 150-person crowd (sparse inside) and twelve groups of 8: the planted-partition score
    # (one density for every group) cut the crowd into pieces (NMI 0.64 against Louvain's 0.74).
    g, truth = planted_groups([150] + [8] * 12, degree=10, mix=0.2, seed=0)
    result = detect_communities(g)
    crowd = np.bincount([result.membership[v] for v in range(150)])
    assert crowd.max() >= 0.9 * 150
    assert nmi(truth, result.labels(g)) >= louvain_nmi(g, truth)

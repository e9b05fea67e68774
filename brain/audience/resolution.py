"""The modularity resolution γ of a graph, chosen by minimum description length.

Why a module of its own: the choice is a model-selection step with its own
criterion, grid and cost budget, measured on its own (bench/audience.py,
docs/audience.md), and `brain.audience.communities` only needs its answer.

The criterion. For each γ of a geometric grid (0.25 … 8, steps of √2) Leiden
finds a partition, scored by

    DL = −log L(graph | assortative degree-corrected SBM, ML fit) + n·H(sizes)

and the partition with the smallest DL wins; no ground truth enters the
choice. The model has one density ω_r inside each community and one ω_out
between them; n·H(sizes) = −Σ_r n_r ln(n_r / n) writes down every node's
label with a code fitted to the community sizes. The first version (Newman
2016's planted-partition model, one ω_in for every community, labels at
n·ln K) lost to networkx Louvain on held-out graphs with one large sparse
crowd beside small tight groups: a single ω_in assumes every group is equally
dense inside, and a uniform label code charges splitting the crowd only
n·ln((K+1)/K), so the crowd was cut up (NMI 0.48-0.68 where Louvain scores
0.57-0.95). Per-community densities and the size-fitted code charge each
split by the people it relabels; on the shared labelled sets both versions
pick the same partitions (docs/audience.md has the tables).

The cost, in three tiers (``plan``):

* up to ``THOROUGH_MAX_EDGES`` (5,000) ties: each γ gets the best of ``runs``
  Leiden runs, each until stable: 20 ms on the labelled sets (≤ 613 ties),
  which keep exactly the partitions they had before the tiers existed, and
  up to about 0.4 s for a few thousand weakly separated ties.
* up to ``SCAN_MAX_SIZE`` (250,000, ``size = 8 × people with a tie + ties``):
  each γ gets one run of two Leiden iterations, and only the winner is then
  iterated until stable from where it stopped. One run costs about 10 µs per
  person and 1-2 µs per tie on the 2-core bench machine (hence the 8), so the
  scan of a 1,000-person, 16,000-tie graph takes 0.1-0.2 s and one near the bound
  1-3 s. Two iterations choose as well as full runs on held-out LFR and
  planted graphs (docs/audience.md), in a quarter of the time.
  Until this tier existed graphs over 5,000 ties got γ = 1 unscanned, and on
  ~1,000-person graphs of ~40 uneven groups that lost to networkx Louvain.
* above: one run at γ = 1 (two iterations), as a 100,000-person room must be
  analysed in a few seconds and a scan would multiply that by twelve.

Weak structure. Where the groups are too weakly separated to pay for their
labels, the smallest DL is everyone in one community (LFR graphs at mixing
0.6, where networkx Louvain still scores NMI 0.29-0.37). One community answers
nothing a host asks, so when plain modularity (γ = 1) does find several, the
partition with several communities and the smallest DL is taken instead; when
γ = 1 too finds one community (a single tight group), that stands.

A number instead of "auto" fixes γ: ``runs`` runs at that γ, no DL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import igraph as ig
import numpy as np

__all__ = ["RESOLUTION_GRID", "THOROUGH_MAX_EDGES", "SCAN_MAX_SIZE", "PERSON_COST", "Plan", "Choice",
           "scan_size", "plan", "description_length", "leiden", "choose"]

#: Resolutions the automatic choice tries: 0.25 … 8 in steps of √2 (γ = 1 included).
RESOLUTION_GRID: tuple[float, ...] = tuple(2.0 ** (i / 2) for i in range(-4, 7))
#: Up to this many ties every γ gets ``runs`` full Leiden runs.
THOROUGH_MAX_EDGES = 5_000
#: Up to this `scan_size` the grid is scanned with one short run per γ; above it γ = 1.
SCAN_MAX_SIZE = 250_000
#: What one person costs a Leiden run, in ties (about 10 µs against 1-2 µs measured).
PERSON_COST = 8


@dataclass(frozen=True)
class Plan:
    """How a graph's γ is found: the γ values, the runs and iterations per γ, the iterations after."""

    grid: tuple[float, ...]
    runs: int
    iterations: int
    finish: int | None = None   # iterations for the winner from where its scan stopped; None: none


@dataclass(frozen=True)
class Choice:
    """The winning partition (Leiden's labels per igraph id), its γ, its DL (None without a scan)."""

    membership: np.ndarray
    resolution: float
    description_length: float | None


def scan_size(people: int, ties: int) -> int:
    """A Leiden run's cost in tie-equivalents: ``PERSON_COST × people + ties``."""
    return PERSON_COST * people + ties


def plan(resolution: float | Literal["auto"], *, people: int, ties: int, runs: int, iterations: int,
         grid: Sequence[float] = RESOLUTION_GRID, thorough_max_edges: int = THOROUGH_MAX_EDGES,
         scan_max_size: int = SCAN_MAX_SIZE) -> Plan:
    """The tier for a graph of ``people`` (with at least one tie) and ``ties`` (see the module docstring)."""
    if runs < 1:
        raise ValueError("runs must be >= 1")
    if resolution != "auto":
        if isinstance(resolution, bool) or not isinstance(resolution, (int, float)) \
                or not (resolution > 0 and math.isfinite(resolution)):
            raise ValueError(f"resolution must be 'auto' or a positive number, not {resolution!r}")
        return Plan((float(resolution),), runs, iterations)
    if not grid:
        raise ValueError("the resolution grid is empty")
    if ties <= thorough_max_edges:
        return Plan(tuple(grid), runs, iterations)
    if scan_size(people, ties) <= scan_max_size:
        return Plan(tuple(grid), 1, 2, finish=iterations)
    return Plan((1.0,), 1, 2)


def description_length(src: np.ndarray, dst: np.ndarray, weights: np.ndarray, strength: np.ndarray,
                       membership: np.ndarray, active: np.ndarray) -> float:
    """−log L of the ML assortative DC-SBM (constant terms dropped) + n·H(sizes) over active nodes.

    The model: the expected weight between i and j is k_i k_j ω / 2m, with one
    ω_r for each community r inside it and one ω_out between communities; at
    the maximum ω_r = 4m·m_r / κ_r² (m_r: weight inside r, κ_r: its strength).
    ``weights`` per edge (``src[i]``–``dst[i]``) should have mean 1, so that
    decayed (small) weights do not let the label cost dominate; ``strength``
    is each node's weighted degree under the same weights. The labels cost
    −Σ_r n_r ln(n_r / n) = n·H(community sizes), the shortest code for them
    given the sizes.
    """
    m = float(weights.sum())
    inside = membership[src] == membership[dst]
    k = int(membership[active].max()) + 1
    m_r = np.bincount(membership[src[inside]], weights=weights[inside], minlength=k)
    kappa = np.bincount(membership[active], weights=strength[active], minlength=k)
    dense = m_r > 0   # a community without an inner tie has ω_r = 0 and adds nothing
    loglik = float((m_r[dense] * (np.log(4 * m * m_r[dense] / kappa[dense] ** 2) - 1)).sum())
    m_out = m - float(m_r.sum())
    across = 4 * m * m - float((kappa ** 2).sum())
    if m_out > 0 and across > 0:
        w_out = 4 * m * m_out / across
        loglik += m_out * math.log(w_out) - w_out * across / (4 * m)
    sizes = np.bincount(membership[active])
    sizes = sizes[sizes > 0]
    labels = -float((sizes * np.log(sizes / sizes.sum())).sum())
    return -loglik + labels


def leiden(graph: ig.Graph, weights: list[float], resolution: float, runs: int, iterations: int,
           initial: np.ndarray | None = None) -> np.ndarray:
    """The highest-quality of ``runs`` Leiden partitions (modularity at ``resolution``), from ``initial`` if given.

    Draws from igraph's generator: callers seed it (`brain.audience.communities`).
    """
    best: tuple[float, list[int]] | None = None
    start = None if initial is None else initial.tolist()
    for _ in range(runs):
        clustering = graph.community_leiden(objective_function="modularity", weights=weights,
                                            resolution=resolution, n_iterations=iterations,
                                            initial_membership=start)
        quality = clustering.quality if math.isfinite(clustering.quality) else -math.inf
        if best is None or quality > best[0]:
            best = (quality, clustering.membership)
    assert best is not None
    return np.asarray(best[1], dtype=np.int64)


def choose(graph: ig.Graph, src: np.ndarray, dst: np.ndarray, weights: np.ndarray, how: Plan) -> Choice:
    """Run ``how`` on ``graph`` (its edges are ``src``–``dst`` with ``weights``, any positive scale).

    The smallest DL wins (the first γ on ties); a one-γ plan is not scored. If
    the winner puts everyone in one community while γ = 1 finds several, the
    smallest DL among the partitions with several wins ("Weak structure" in the
    module docstring).
    """
    n = graph.vcount()
    weights = weights / weights.mean()
    strength = np.bincount(src, weights=weights, minlength=n) + np.bincount(dst, weights=weights, minlength=n)
    active = strength > 0
    wlist = weights.tolist()
    scored: list[tuple[float, np.ndarray, float, int]] = []   # (DL, membership, γ, communities)
    for gamma in how.grid:
        found = leiden(graph, wlist, gamma, how.runs, how.iterations)
        dl = description_length(src, dst, weights, strength, found, active) if len(how.grid) > 1 else math.nan
        scored.append((dl, found, gamma, _communities(found, active)))
    best = min(scored, key=lambda s: s[0]) if len(scored) > 1 else scored[0]   # min keeps the first of ties
    if best[3] == 1 and any(s[2] == 1.0 and s[3] > 1 for s in scored):
        best = min((s for s in scored if s[3] > 1), key=lambda s: s[0])
    dl, found, gamma, _k = best
    if how.finish is not None and how.finish != 0:
        found = leiden(graph, wlist, gamma, 1, how.finish, initial=found)
        dl = description_length(src, dst, weights, strength, found, active)
    return Choice(found, gamma, None if len(how.grid) == 1 else dl)


def _communities(membership: np.ndarray, active: np.ndarray) -> int:
    return int(np.unique(membership[active]).size)

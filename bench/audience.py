"""Benchmark: the audience graph (issue 6): live update cost, analytics at 100,000 viewers, memory, reach.

Usage: HF_HUB_OFFLINE=1 python bench/audience.py [DATA_DIR] [--quick] [--json]

1. **Live updates.** A synthetic 2,000-viewer room (100,000 chat lines, one a
   second): Zipf-like activity, friend groups of 10-60 people, display names
   with spaces and in Chinese, 25 % replies (mostly to the own group, some to
   questions), 8 % @mentions, the rest ambient chat (co-activity). We time
   ``AudienceGraph.observe_message`` over the whole stream, µs per line, median
   of 5 runs: with ``is_question`` given (the runtime's answerer has already
   run the detector on every line) and without (the graph runs
   ``detect_question`` itself).
2. **The room's analytics**: ``snapshot``, ``analyse`` (γ scanned up to a size bound),
   ``best_seeds(k=5, runs=200)`` and networkx Louvain on the same snapshot for scale.
3. **100,000 viewers / 500,000 ties.** A planted-partition graph with power-law
   community sizes (5-3,000) and power-law activity (Pareto 1.5, capped),
   20 % of ties across communities, interactions spread over 30 days (so
   weights are decayed), loaded into a live ``AudienceGraph`` through
   ``observe_interaction``. Timed: ``snapshot`` (the time the lock is held),
   ``analyse`` of the snapshot (conversion included, target ≤ 10 s), reach of
   the 10 most influential people and ``best_seeds(k=5)`` with 50 runs.
   Memory: RSS growth of the live graph and the process's peak RSS.
4. **Community quality** on the shared ground-truth sets (when DATA_DIR has
   them): our default vs Leiden at γ = 1 vs networkx Louvain, NMI/ARI/modularity,
   medians over seeds 0-9.
5. **The resolution choice above 5,000 ties** (issue 18), on generated graphs
   of about 1,000 people and 13,000-17,000 ties that nothing was tuned on:
   LFR benchmark graphs (networkx, mixing 0.3-0.6), planted groups with
   e-mail-like department sizes (42 groups, 121 down to 1) and planted groups
   with Pareto sizes (one crowd of 540-713 people beside small groups). NMI
   of networkx Louvain (γ = 1, seed 0), of the detection before the scan
   reached these sizes (one Leiden run at γ = 1: ``scan_max_size=0``) and
   of the default, the chosen γ, and the default's seconds (median of 3);
   then Louvain's and the default's median NMI over seeds 0-4.

``--communities`` runs parts 4 and 5 only. Prints Markdown tables and one JSON line.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402

from bench._common import machine_line, table  # noqa: E402
from brain.audience.communities import (  # noqa: E402
    analyse,
    ari,
    detect_communities,
    evaluate_communities,
    modularity,
    nmi,
    read_edges,
    read_labels,
)
from brain.audience.graph import AudienceGraph  # noqa: E402
from brain.audience.reach import best_seeds, estimate_reach  # noqa: E402
from brain.text.questions import detect_question  # noqa: E402

SETS = ("comm-karate", "comm-football", "comm-dolphins")
FIRST = ("Alice", "Bob", "Mary", "John", "Li", "Wei", "Ana", "Sam", "Kim", "Raj", "Yuki", "Omar")
LAST = ("Smith", "Jones", "Chen", "Wang", "Garcia", "Tanaka", "Khan", "Brown")
ZH = ("小明", "阿伟", "大熊", "小红", "老王", "甜甜", "胖虎", "星星")
LINES = ("love this stream", "hello everyone", "lol", "that looks great", "nice one", "so cool",
         "the blue one is better", "I bought it last week", "shipping was fast", "哈哈哈", "主播好",
         "这个颜色好看", "gg", "first time here", "can't wait for the next drop")
QUESTIONS = ("how much is it?", "does it ship to canada?", "what size is that?", "这个多少钱", "is there a discount code?",
             "when is the next stream?", "有没有优惠券")


def rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # pragma: no cover - psutil is a dev dependency
        return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---- 1. the live room ----------------------------------------------------------------

def chat_events(n_events: int = 100_000, people: int = 2_000, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    names = []
    for i in range(people):
        r = rng.random()
        names.append(f"{rng.choice(FIRST)} {rng.choice(LAST)} {i}" if r < 0.3 else
                     f"{rng.choice(ZH)}{i}" if r < 0.5 else f"{rng.choice(FIRST).lower()}_{i}")
    group_of = []
    while len(group_of) < people:
        group_of.extend([len(set(group_of))] * rng.randint(10, 60))
    group_of = group_of[:people]
    members: dict[int, list[int]] = {}
    for p, g in enumerate(group_of):
        members.setdefault(g, []).append(p)
    activity = [1.0 / (rank + 1) ** 0.8 for rank in range(people)]
    rng.shuffle(activity)
    speakers = rng.choices(range(people), weights=activity, k=n_events)
    events: list[dict] = []
    recent: list[tuple[int, int, bool]] = []  # (message index, speaker, question)
    for i, who in enumerate(speakers):
        r = rng.random()
        reply_to = None
        question = rng.random() < 0.15
        text = rng.choice(QUESTIONS) if question else rng.choice(LINES)
        if r < 0.25 and recent:
            window = recent[-200:]
            own = [m for m in window if group_of[m[1]] == group_of[who] and m[1] != who]
            pool = [m for m in own if m[2]] or own or window
            reply_to = f"m{rng.choice(pool)[0]}"
        elif r < 0.33:
            friend = rng.choice(members[group_of[who]])
            text = f"@{names[friend]} {text}"
        events.append({"ts": float(i), "user_key": f"telegram:{who}", "user_name": names[who], "text": text,
                       "message_id": f"m{i}", "reply_to": reply_to,
                       "is_question": detect_question(text) is not None})
        recent.append((i, who, question))
        if len(recent) > 400:
            del recent[:200]
    return events


def time_updates(events: list[dict], runs: int, detect: bool) -> tuple[float, AudienceGraph]:
    per_event = []
    graph = AudienceGraph("telegram:bench")
    calls = events if not detect else [{**e, "is_question": None} for e in events]
    for _ in range(runs):
        graph = AudienceGraph("telegram:bench")
        gc.collect()
        start = time.perf_counter()
        for kw in calls:
            graph.observe_message(**kw)
        per_event.append((time.perf_counter() - start) / len(calls) * 1e6)
    return statistics.median(per_event), graph


# ---- 3. the big graph ----------------------------------------------------------------

def planted(n: int = 100_000, m: int = 500_000, mix: float = 0.2, seed: int = 0, sizes: np.ndarray | None = None):
    """Edges (m × 2), the planted community of every node, and the generator.

    Community sizes are Pareto draws (5-3,000) unless ``sizes`` gives them (summing to n).
    """
    rng = np.random.default_rng(seed)
    if sizes is None:
        sizes = np.clip((rng.pareto(1.5, n) + 1) * 15, 5, 3000).astype(np.int64)
        sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    comm = np.repeat(np.arange(len(sizes)), sizes)[:n]
    rng.shuffle(comm)
    propensity = np.minimum(rng.pareto(1.5, n) + 1, 200.0)
    p = propensity / propensity.sum()
    draw = int(m * 1.25)
    src = rng.choice(n, size=draw, p=p)
    dst = rng.choice(n, size=draw, p=p)
    order = np.argsort(comm, kind="stable")
    k = int(comm.max()) + 1
    starts = np.searchsorted(comm[order], np.arange(k))
    ends = np.searchsorted(comm[order], np.arange(k), side="right")
    inside = rng.random(draw) >= mix
    c = comm[src[inside]]
    dst[inside] = order[starts[c] + (rng.random(int(inside.sum())) * (ends[c] - starts[c])).astype(np.int64)]
    edges = np.stack([np.minimum(src, dst), np.maximum(src, dst)], axis=1)
    edges = np.unique(edges[edges[:, 0] != edges[:, 1]], axis=0)
    edges = edges[rng.permutation(len(edges))[:m]]
    return edges, comm, rng


def load_live(edges: np.ndarray, n: int, rng: np.random.Generator) -> AudienceGraph:
    graph = AudienceGraph("telegram:big")
    span = 30 * 86400.0
    for i in range(n):
        graph.observe_join(float(rng.uniform(0, span / 2)), f"telegram:{i}", f"viewer {i}")
    kinds = rng.choice(["reply", "answer", "mention", "co"], size=len(edges), p=[0.55, 0.05, 0.2, 0.2])
    times = np.sort(rng.uniform(0, span, size=len(edges)))
    flip = rng.random(len(edges)) < 0.5
    for (u, v), kind, ts, f in zip(edges.tolist(), kinds.tolist(), times.tolist(), flip.tolist()):
        a, b = (v, u) if f else (u, v)
        graph.observe_interaction(f"telegram:{a}", f"telegram:{b}", kind, ts)
    return graph


def snapshot_under_load(live: AudienceGraph, n: int) -> tuple[object, float, float, int, float]:
    """Snapshot in a worker thread while this thread keeps updating.

    Returns (graph, seconds, longest update ms, updates, longest GC pause ms).
    The longest single update is what the event loop feels: the lock wait for
    one chunk of the copy, GIL hand-overs, and any full garbage collection the
    copy's allocations trigger (the collector is process-wide).
    """
    import threading

    result: dict = {}
    pauses: list[float] = []
    started: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses.append(time.perf_counter() - started.pop())

    def work() -> None:
        t = time.perf_counter()
        result["graph"] = live.snapshot()
        result["seconds"] = time.perf_counter() - t

    worker = threading.Thread(target=work)
    longest, calls, ts = 0.0, 0, 31 * 86400.0
    gc.callbacks.append(on_gc)
    worker.start()
    while worker.is_alive():
        a, b = calls % n, (calls * 7 + 1) % n
        t = time.perf_counter()
        live.observe_interaction(f"telegram:{a}", f"telegram:{b}", "reply", ts)
        longest = max(longest, time.perf_counter() - t)
        calls += 1
        ts += 0.01
    worker.join()
    gc.callbacks.remove(on_gc)
    return result["graph"], result["seconds"], longest * 1e3, calls, max(pauses, default=0.0) * 1e3


# ---- 4. community quality ------------------------------------------------------------

def quality(data: Path, seeds: range = range(10)) -> list[dict]:
    rows = []
    for name in SETS:
        folder = data / name
        if not (folder / "edges.tsv").exists():
            continue
        graph = read_edges(folder / "edges.tsv")
        labels = read_labels(folder / "labels.tsv")
        truth = [labels[n] for n in graph]
        row: dict = {"set": name, "nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()}
        for method in ("default", "leiden γ=1", "louvain"):
            scores = []
            for seed in seeds:
                if method == "louvain":
                    parts = nx.community.louvain_communities(graph, seed=seed)
                    found = {n: i for i, c in enumerate(parts) for n in c}
                    pred = [found[n] for n in graph]
                    scores.append((nmi(truth, pred), ari(truth, pred), modularity(graph, found), len(parts)))
                else:
                    res = detect_communities(graph, seed=seed, resolution="auto" if method == "default" else 1.0)
                    pred = res.labels(graph)
                    scores.append((nmi(truth, pred), ari(truth, pred), res.modularity, len(res.communities)))
            row[method] = tuple(statistics.median(s[i] for s in scores) for i in range(4))
        row["evaluate_communities"] = evaluate_communities(folder)
        rows.append(row)
    return rows


# ---- 5. the resolution choice above 5,000 ties ---------------------------------------

#: E-mail-like department sizes: 42 groups, 121 people down to 1 (1,005 in all).
DEPARTMENTS = np.array([121, 98, 87, 78, 69, 61, 55, 49, 43, 39, 34, 31, 27, 24, 22, 19, 17, 15, 14, 12, 11,
                        10, 8, 8, 7, 6, 5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1])


def lfr(mu: float, first_seed: int) -> tuple[str, nx.Graph, list]:
    """An LFR graph (1,000 nodes, degree 25, communities 12-120) from the first seed networkx can build."""
    for seed in range(first_seed, first_seed + 50):
        try:
            g = nx.LFR_benchmark_graph(1000, 2.5, 1.3, mu, average_degree=25, max_degree=100, min_community=12,
                                       max_community=120, seed=seed, max_iters=200)
        except nx.ExceededMaxIterations:
            continue
        g.remove_edges_from(nx.selfloop_edges(g))
        return f"LFR μ={mu} (seed {seed})", g, [min(g.nodes[v]["community"]) for v in g]
    raise RuntimeError(f"no LFR graph for mu={mu} from seed {first_seed}")


def planted_set(name: str, mix: float, seed: int, sizes: np.ndarray | None) -> tuple[str, nx.Graph, list]:
    edges, comm, _ = planted(1005, 16_000, mix=mix, seed=seed, sizes=sizes)
    g = nx.Graph()
    g.add_nodes_from(range(1005))
    g.add_edges_from(edges.tolist())
    return f"{name} mix={mix} (seed {seed})", g, comm.tolist()


def held_out(quick: bool, seeds: range = range(5)) -> list[dict]:
    sets = [lfr(mu, s) for mu in (0.3, 0.4, 0.5, 0.6) for s in ((0,) if quick else (0, 40))]
    sets += [planted_set("departments", mix, 0, DEPARTMENTS) for mix in (0.3, 0.5, 0.7)]
    sets += [planted_set("crowd", mix, seed, None) for mix in (0.3, 0.5) for seed in ((0,) if quick else (0, 1))]
    rows = []
    for name, g, truth in sets:
        parts = nx.community.louvain_communities(g, seed=0)
        found = {v: i for i, c in enumerate(parts) for v in c}
        before = detect_communities(g, scan_max_size=0)
        times, after = [], None
        for _ in range(1 if quick else 3):
            after = detect_communities(g)
            times.append(after.seconds)
        louvains, afters = [], []   # one graph is one draw: the seeds show the spread
        for seed in seeds:
            parts = nx.community.louvain_communities(g, seed=seed)
            other = {v: i for i, c in enumerate(parts) for v in c}
            louvains.append(nmi(truth, [other[v] for v in g]))
            afters.append(nmi(truth, detect_communities(g, seed=seed).labels(g)))
        rows.append({"set": name, "nodes": g.number_of_nodes(), "ties": g.number_of_edges(),
                     "louvain": nmi(truth, [found[v] for v in g]), "before": nmi(truth, before.labels(g)),
                     "after": nmi(truth, after.labels(g)), "resolution": after.resolution,
                     "communities": len(after.communities), "truth": len(set(truth)),
                     "seconds": statistics.median(times), "louvain_median": statistics.median(louvains),
                     "after_median": statistics.median(afters)})
        print(f"# held-out {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def print_communities(out: dict) -> None:
    if out.get("quality"):
        print("\n## Communities vs ground truth (median over seeds; NMI / ARI / modularity / communities)\n")
        rows = []
        for q in out["quality"]:
            for method in ("default", "leiden γ=1", "louvain"):
                nmi_, ari_, mod, k = q[method]
                rows.append([q["set"], method, f"{nmi_:.3f}", f"{ari_:.3f}", f"{mod:.3f}", f"{k:g}"])
        print(table(["set", "method", "NMI", "ARI", "modularity", "communities"], rows))
    if out.get("held_out"):
        print("\n## The resolution choice above 5,000 ties (NMI against the planted groups, seed 0)\n")
        print(table(["set", "nodes", "ties", "Louvain", "before", "after", "γ", "communities (planted)", "s",
                     "Louvain / after, median of seeds"],
                    [[r["set"], r["nodes"], f"{r['ties']:,}", f"{r['louvain']:.3f}", f"{r['before']:.3f}",
                      f"{r['after']:.3f}", f"{r['resolution']:.3g}", f"{r['communities']} ({r['truth']})",
                      f"{r['seconds']:.2f}", f"{r['louvain_median']:.3f} / {r['after_median']:.3f}"]
                     for r in out["held_out"]]))
        for key in ("", "_median"):
            gains = [r["after" + key] - r["louvain" + key] for r in out["held_out"]]
            print(f"\nafter − Louvain{', medians of seeds' if key else ', seed 0'}: median "
                  f"{statistics.median(gains):+.3f}, worst {min(gains):+.3f}, "
                  f"not below Louvain on {sum(g >= 0 for g in gains)} of {len(gains)}")


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    quick = "--quick" in argv
    data = Path(args[0] if args else os.environ.get("LIVEROOM_DATA", "/work/shared/data"))
    out: dict = {"machine": machine_line()}
    print(f"# {out['machine']}", file=sys.stderr)
    if "--communities" in argv:
        out["quality"] = quality(data, range(3) if quick else range(10))
        out["held_out"] = held_out(quick, range(2) if quick else range(5))
        print_communities(out)
        print()
        print(json.dumps(out, ensure_ascii=False, default=str))
        return 0

    # 1. live updates
    events = chat_events(20_000 if quick else 100_000)
    runs = 2 if quick else 5
    given, room = time_updates(events, runs, detect=False)
    detected, _ = time_updates(events, max(1, runs - 2), detect=True)
    stats = room.stats()
    out["update"] = {"events": len(events), "people": stats["nodes"], "edges": stats["edges"],
                     "us_per_event_given": round(given, 2), "us_per_event_detect": round(detected, 2)}
    print(f"# update {out['update']}", file=sys.stderr, flush=True)

    # 2. the room's analytics
    from brain.text.tokens import tokenize

    tokenize("warm up jieba 主播好")  # its dictionary loads once per process; not the analysis' cost
    t = time.perf_counter()
    snap = room.snapshot()
    room_snapshot = time.perf_counter() - t
    t = time.perf_counter()
    report = analyse(snap)
    room_analyse = time.perf_counter() - t
    t = time.perf_counter()
    seeds = best_seeds(snap, 5, runs=200)
    room_seeds = time.perf_counter() - t
    t = time.perf_counter()
    louvain = nx.community.louvain_communities(snap, seed=0)
    room_louvain = time.perf_counter() - t
    out["room"] = {"nodes": snap.number_of_nodes(), "edges": snap.number_of_edges(),
                   "snapshot_s": round(room_snapshot, 3), "analyse_s": round(room_analyse, 3),
                   "communities": len(report.communities), "resolution": round(report.resolution, 3),
                   "modularity": round(report.modularity, 3),
                   "best_seeds_k5_s": round(room_seeds, 3), "reach_k5": round(seeds.reach.mean, 1),
                   "louvain_s": round(room_louvain, 3),
                   "louvain_modularity": round(modularity(snap, {n: i for i, c in enumerate(louvain) for n in c}), 3)}
    print(f"# room {out['room']}", file=sys.stderr, flush=True)

    # 3. 100,000 viewers / 500,000 ties
    n, m = (20_000, 100_000) if quick else (100_000, 500_000)
    edges, comm, rng = planted(n, m)
    gc.collect()
    before = rss_mb()
    t = time.perf_counter()
    live = load_live(edges, n, rng)
    load_s = time.perf_counter() - t
    live_mb = rss_mb() - before
    del edges
    gc.collect()
    t = time.perf_counter()
    live.snapshot()
    quiet_snapshot_s = time.perf_counter() - t
    gc.collect()
    big, snapshot_s, stall_ms, calls, gc_ms = snapshot_under_load(live, n)
    timings = []
    for _ in range(1 if quick else 2):
        gc.collect()
        t = time.perf_counter()
        big_report = analyse(big)
        timings.append((time.perf_counter() - t, big_report.seconds))
    analyse_s = min(x[0] for x in timings)
    parts = min(timings, key=lambda x: x[0])[1]
    planted_nmi = nmi(comm.tolist(), [big_report.membership[f"telegram:{i}"] for i in range(n)])
    top = [mm.key for mm in big_report.top_influencers(10)]
    t = time.perf_counter()
    reach = estimate_reach(big, top, runs=50)
    reach_s = time.perf_counter() - t
    t = time.perf_counter()
    best_seeds(big, 5, runs=50)
    big_seeds_s = time.perf_counter() - t
    out["big"] = {"nodes": big.number_of_nodes(), "edges": big.number_of_edges(), "load_s": round(load_s, 1),
                  "live_graph_mb": round(live_mb, 1), "bytes_per_edge": int(live_mb * 2**20 / max(m, 1)),
                  "snapshot_s": round(quiet_snapshot_s, 2), "snapshot_under_updates_s": round(snapshot_s, 2),
                  "max_update_stall_ms": round(stall_ms, 1), "max_gc_pause_ms": round(gc_ms, 1),
                  "updates_during_snapshot": calls, "analyse_s": round(analyse_s, 2),
                  "analyse_parts_s": {k: round(v, 2) for k, v in parts.items()},
                  "communities": len(big_report.communities), "modularity": round(big_report.modularity, 3),
                  "nmi_vs_planted": round(planted_nmi, 3), "reach_top10_runs50_s": round(reach_s, 2),
                  "reach_top10": round(reach.mean, 1), "best_seeds_k5_runs50_s": round(big_seeds_s, 2),
                  "peak_rss_mb": round(peak_rss_mb(), 0)}
    print(f"# big {out['big']}", file=sys.stderr, flush=True)

    # 4. community quality; 5. the resolution choice above 5,000 ties
    out["quality"] = quality(data, range(3) if quick else range(10))
    out["held_out"] = held_out(quick, range(2) if quick else range(5))

    u, r, b = out["update"], out["room"], out["big"]
    print("\n## Audience graph: live updates and analytics\n")
    print(table(["measure", "value"], [
        [f"observe_message, µs/line ({u['events']:,} lines, {u['people']:,} people), is_question given",
         u["us_per_event_given"]],
        ["observe_message, µs/line, detecting questions itself", u["us_per_event_detect"]],
        [f"room of {r['nodes']:,} people / {r['edges']:,} ties: snapshot, s", r["snapshot_s"]],
        [f"  analyse (γ = {r['resolution']:g}, {r['communities']} communities), s", r["analyse_s"]],
        ["  best_seeds k=5, 200 runs, s", r["best_seeds_k5_s"]],
        ["  networkx Louvain, s (for scale)", r["louvain_s"]],
        [f"{b['nodes']:,} viewers / {b['edges']:,} ties: live graph memory, MB", b["live_graph_mb"]],
        ["  snapshot, s", b["snapshot_s"]],
        ["  snapshot in a worker thread while updates keep coming, s", b["snapshot_under_updates_s"]],
        [f"  longest observe_* call meanwhile ({b['updates_during_snapshot']:,} calls), ms", b["max_update_stall_ms"]],
        ["  longest garbage-collector pause meanwhile, ms", b["max_gc_pause_ms"]],
        ["  analyse incl. conversion, s (best of 2)", b["analyse_s"]],
        ["  " + ", ".join(f"{k} {v}" for k, v in b["analyse_parts_s"].items() if k != "total"), ""],
        ["  NMI vs planted communities", b["nmi_vs_planted"]],
        ["  estimate_reach of top 10, 50 runs, s", b["reach_top10_runs50_s"]],
        ["  best_seeds k=5, 50 runs, s", b["best_seeds_k5_runs50_s"]],
        ["peak RSS of the benchmark process, MB", b["peak_rss_mb"]],
    ]))
    print_communities(out)
    print()
    print(json.dumps(out, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

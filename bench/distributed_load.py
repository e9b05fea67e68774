"""Benchmark: 200 rooms of generated chat through real Redis, PostgreSQL and a Chroma server, with 1 and
then 2 workers (``liveroom run --role worker`` processes) on this machine.

Everything runs on loopback: the servers are started here (Debian's PostgreSQL and Redis, the Chroma
server of the chromadb package) and thrown away at the end. The generated chat (bench/gen_chat.py:
English and Chinese chat, questions and their bursts, host lines, joins) is spread over the rooms and
appended to the streams as the ingress does. Two phases per worker count:

- **throughput**: every message appended at once; the time until the workers have stored them all
  and settled every question gives the aggregate messages/s;
- **latency**: a steady trickle (``--rate`` messages/s over all rooms); answer latency is the time
  from a question's append to its reply's append on the outbound stream (p50/p95).

Also sampled: the CPU of each process kind, to say what saturates first. Prints one JSON line per run
and a summary; figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gen_chat import generate  # noqa: E402

from adapters.model import MemberEvent, MessageEvent, Role, Room, TranscriptEvent, User  # noqa: E402
from bots.distributed.streams import StreamLayout  # noqa: E402
from bots.distributed.wire import encode_event  # noqa: E402
from brain.store.schema import events, questions  # noqa: E402
from brain.text.questions import detect_question  # noqa: E402


def _servers() -> Any:
    """The loopback servers the tests use (tests/servers/loopback.py), loaded by path."""
    path = ROOT / "tests" / "servers" / "loopback.py"
    spec = importlib.util.spec_from_file_location("bench_loopback_servers", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def to_events(records: list[dict], rooms: int) -> list[Any]:
    out = []
    for i, rec in enumerate(records):
        room = Room("bench", f"room{i % rooms}", name=f"room{i % rooms}")
        who = rec["user"]
        author = User("bench", who, who, Role.HOST if who == "host" else Role.VIEWER)
        common = dict(event_id=f"m{i}", room=room, author=author, ts=datetime.now(timezone.utc), source="bench")
        kind = rec.get("kind")
        if kind in ("join", "leave"):
            out.append(MemberEvent(joined=kind == "join", **common))
        elif kind == "transcript":
            out.append(TranscriptEvent(text=rec["text"], **common))
        else:
            out.append(MessageEvent(text=rec["text"], **common))
    return out


def asks(event: Any) -> bool:
    return (type(event) is MessageEvent and event.author.role is Role.VIEWER
            and detect_question(event.text, bot_names=("liveroom",)) is not None)


class Deployment:
    """The servers, and the worker processes of one run."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        servers = _servers()
        self.pg = servers.PostgresCluster()
        self.redis = servers.RedisServer()
        self.chroma = servers.ChromaServer()
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self.pg.start()
        self.redis.start()
        self.chroma.start()

    def config(self, database: str, prefix: str) -> Path:
        path = self.tmp / f"{prefix}.yaml"
        path.write_text(json.dumps({
            "adapters": {"console": {"enabled": False}},
            "database": {"url": database},
            "knowledge": {"path": str(ROOT / "knowledge")},
            "retrieval": {"chroma_url": self.chroma.url},
            "schedule": {"enabled": False},
            "distributed": {"redis_url": self.redis.url, "prefix": prefix, "partitions": 32, "lease_seconds": 5},
            "logging": {"level": "WARNING"},
        }))
        return path

    def start_workers(self, config: Path, n: int) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        for i in range(n):
            data = self.tmp / f"{config.stem}-w{i}"
            self.workers.append(subprocess.Popen(
                [sys.executable, "-m", "bots.cli", "--config", str(config), "--data-dir", str(data), "run",
                 "--role", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                stderr=open(self.tmp / f"{config.stem}-w{i}.log", "wb")))

    def stop_workers(self) -> None:
        for proc in self.workers:
            proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.workers.clear()

    def close(self) -> None:
        self.stop_workers()
        self.chroma.stop()
        self.redis.close()
        self.pg.stop()


class CpuSampler:
    """CPU seconds used by each kind of process during a phase."""

    KINDS = ("worker", "postgres", "redis", "chroma", "bench")

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.start = self._read()

    def _procs(self) -> dict[str, list[psutil.Process]]:
        kinds: dict[str, list[psutil.Process]] = {k: [] for k in self.KINDS}
        kinds["worker"] = [psutil.Process(p.pid) for p in self.deployment.workers if p.poll() is None]
        kinds["bench"] = [psutil.Process()]
        for proc in psutil.process_iter(["name", "cmdline"]):
            name = (proc.info["name"] or "").lower()
            cmd = " ".join(proc.info["cmdline"] or [])
            if name.startswith("postgres"):  # the bench's cluster is the only one running
                kinds["postgres"].append(proc)
            elif name.startswith("redis-server") and str(self.deployment.redis.port) in cmd:
                kinds["redis"].append(proc)
            elif "chroma" in cmd and str(self.deployment.chroma.port) in cmd:
                kinds["chroma"].append(proc)
        return kinds

    def _read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind, procs in self._procs().items():
            total = 0.0
            for proc in procs:
                times = _safe(proc.cpu_times)
                if times is not None:
                    total += times.user + times.system
            out[kind] = total
        return out

    def used(self) -> dict[str, float]:
        end = self._read()
        return {k: round(end[k] - self.start.get(k, 0.0), 1) for k in end}


def _safe(call: Any) -> Any:
    try:
        return call()
    except (psutil.Error, OSError):
        return None


async def append(redis: Any, layout: StreamLayout, batch: list[Any], sent_at: dict[str, float]) -> None:
    pipe = redis.pipeline(transaction=False)
    for event in batch:
        pipe.xadd(layout.inbound_of(event.room.key), {"e": encode_event(event)})
    now = time.monotonic()
    for event in batch:
        sent_at[event.event_id] = now
    await pipe.execute()


async def wait_for_workers(redis: Any, layout: StreamLayout, n: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    live = held = 0
    while time.monotonic() < deadline:
        live = await redis.zcard(layout.workers)
        holders = [await redis.get(layout.lease(p)) for p in range(layout.partitions)]
        held = sum(h is not None for h in holders)
        shares = [holders.count(h) for h in set(holders) if h is not None]
        if live == n and held == layout.partitions and len(shares) == n and min(shares) >= layout.partitions // n:
            return  # every worker holds its share: the measurement starts balanced
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{n} worker(s) did not take the partitions within {timeout:.0f} s "
                       f"(live {live}, leases held {held})")


def settled(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(events).where(events.c.direction == "in")
                              ).scalar_one()
        asked = conn.execute(sa.select(sa.func.count()).select_from(questions)).scalar_one()
    return stored, asked


def _missing(engine: sa.Engine, asked: list[Any]) -> list[list[str]]:
    """The questions without an outcome row: (room, id, text)."""
    with engine.connect() as conn:
        have = {(r[0], r[1]) for r in conn.execute(sa.select(questions.c.room, questions.c.event_id))}
    return [[e.room.key, e.event_id, e.text] for e in asked if (e.room.key, e.event_id) not in have]


async def reply_latencies(redis: Any, layout: StreamLayout, sent_at: dict[str, float],
                          origin: tuple[float, float]) -> list[float]:
    """Seconds from each question's append to its reply's append (from the reply entries' ids)."""
    mono0, wall0 = origin
    out = []
    for entry_id, fields in await redis.xrange(layout.outbound("bench")):
        body = json.loads(fields[b"e"])
        event_id = body.get("reply_to")
        if event_id in sent_at:
            replied_wall = int(entry_id.decode().split("-")[0]) / 1000
            out.append(replied_wall - (wall0 + (sent_at[event_id] - mono0)))
    return out


async def run_once(deployment: Deployment, workers: int, messages: int, rooms: int, rate: float,
                   latency_seconds: float) -> dict[str, Any]:
    import redis.asyncio as aioredis

    prefix = f"bench{workers}-{int(time.time())}"
    database = deployment.pg.new_database()
    config = deployment.config(database, prefix)
    layout = StreamLayout(prefix=prefix, partitions=32)
    redis = aioredis.from_url(deployment.redis.url)
    engine = sa.create_engine(database)
    deployment.start_workers(config, workers)
    try:
        await wait_for_workers(redis, layout, workers)
        records = generate(messages, seed=workers)
        batch = to_events(records, rooms)
        expected_questions = sum(asks(e) for e in batch)
        sent_at: dict[str, float] = {}
        cpu = CpuSampler(deployment)
        started = time.monotonic()
        for i in range(0, len(batch), 1000):
            await append(redis, layout, batch[i:i + 1000], sent_at)
        appended = time.monotonic() - started
        stored = asked = 0
        last, still_since = (-1, -1), time.monotonic()
        while time.monotonic() - started < 1200:
            stored, asked = await asyncio.to_thread(settled, engine)
            if stored >= len(batch) and asked >= expected_questions:
                break
            if (stored, asked) != last:
                last, still_since = (stored, asked), time.monotonic()
            elif time.monotonic() - still_since > 20:  # nothing moves: report what is missing
                break
            await asyncio.sleep(0.5)
        seconds = time.monotonic() - started
        used = cpu.used()
        missing = await asyncio.to_thread(_missing, engine, [e for e in batch if asks(e)])

        # Latency at a steady trickle, in rooms whose chat was already heard.
        trickle = to_events(generate(int(rate * latency_seconds), seed=100 + workers), rooms)
        trickle = [e.__class__(**{**{f: getattr(e, f) for f in e.__dataclass_fields__ if f != "raw"},
                                  "event_id": f"t{i}"}) for i, e in enumerate(trickle)]
        await redis.delete(layout.outbound("bench"))
        sent_trickle: dict[str, float] = {}
        origin = (time.monotonic(), time.time())
        t0 = time.monotonic()
        for i, event in enumerate(trickle):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await append(redis, layout, [event], sent_trickle)
        await asyncio.sleep(5.0)
        latencies = sorted(await reply_latencies(redis, layout, sent_trickle, origin))
        return {
            "workers": workers, "rooms": rooms, "messages": len(batch), "questions": expected_questions,
            "stored": stored, "settled_questions": asked, "lost_questions": expected_questions - asked,
            "lost_examples": missing[:5],
            "append_seconds": round(appended, 2),
            "seconds": round(seconds, 2), "messages_per_s": round(len(batch) / seconds, 1),
            "cpu_seconds": used,
            "latency_rate": rate, "answers_timed": len(latencies),
            "answer_p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
            "answer_p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
        }
    finally:
        deployment.stop_workers()
        engine.dispose()
        await redis.aclose()


async def main_async(args: argparse.Namespace) -> None:
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores")
    keep = tempfile.mkdtemp(prefix="liveroom-dist-") if args.keep else None
    with (nullcontext(keep) if keep else tempfile.TemporaryDirectory(prefix="liveroom-dist-")) as tmp:
        if keep:
            print(f"keeping {keep}")
        deployment = Deployment(Path(tmp))
        deployment.start()
        try:
            # The knowledge is embedded once into the Chroma server, as a deployment's first start does.
            config = deployment.config(deployment.pg.new_database(), "ingest")
            subprocess.run([sys.executable, "-m", "bots.cli", "--config", str(config), "--data-dir",
                            str(Path(tmp) / "ingest"), "ingest"], cwd=ROOT, check=True, capture_output=True,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
            results: dict[int, list[dict[str, Any]]] = {}
            for _ in range(args.runs):
                for n in args.workers:
                    result = await run_once(deployment, n, args.messages, args.rooms, args.rate, args.latency_seconds)
                    print(json.dumps(result), flush=True)
                    results.setdefault(n, []).append(result)
        finally:
            deployment.close()
    print("\nsummary (median of runs):")
    for n, runs in results.items():
        rate = statistics.median(r["messages_per_s"] for r in runs)
        p50 = statistics.median(r["answer_p50_ms"] for r in runs if r["answer_p50_ms"] is not None)
        p95 = statistics.median(r["answer_p95_ms"] for r in runs if r["answer_p95_ms"] is not None)
        print(f"  {n} worker(s): {rate:.0f} messages/s, answers p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    if 1 in results and 2 in results:
        ratios = [b["messages_per_s"] / a["messages_per_s"] for a, b in zip(results[1], results[2])]
        print(f"  2 workers / 1 worker, per run: {', '.join(f'{r:.2f}' for r in ratios)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--rate", type=float, default=40.0, help="messages/s of the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (workers' logs)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()

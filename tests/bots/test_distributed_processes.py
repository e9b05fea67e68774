"""A distributed deployment as an operator runs it: ``liveroom run --role ingress`` holding a Telegram bot
(against the loopback Bot API server), two ``--role worker`` processes, real Redis and PostgreSQL.
One worker is killed with SIGKILL mid-stream: its rooms are served again within 10 s, every message is
stored once, every question answered once, nothing posted twice. Then SIGTERM stops the rest."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes.telegram_server import FakeTelegram, group, message_update, user  # noqa: E402

from brain.store.schema import events, questions  # noqa: E402

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ROOMS = 10


def write_config(path: Path, *, fake: FakeTelegram, redis_url: str, database: str) -> Path:
    path.write_text(json.dumps({  # JSON is YAML
        "adapters": {"console": {"enabled": False},
                     "telegram": {"enabled": True, "token": fake.token, "base_url": fake.base_url}},
        "database": {"url": database},
        "knowledge": {"path": str(ROOT / "knowledge")},
        "retrieval": {"embedder": "hashing"},
        "answers": {"hold": 0.0, "bars": {"en": 0.45, "zh": 0.45}},
        "schedule": {"enabled": False},
        "distributed": {"redis_url": redis_url, "partitions": 8, "lease_seconds": 2},
        "logging": {"level": "INFO"},
    }))
    return path


def start(config: Path, role: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "bots.cli", "--config", str(config), "--data-dir", str(data_dir),
                             "run", "--role", role], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(data_dir.with_suffix(".log"), "wb"))


async def until(condition, timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def answered(fake: FakeTelegram) -> Counter[tuple[int, int]]:
    """How many replies each (chat, message) got."""
    out: Counter[tuple[int, int]] = Counter()
    for call in fake.calls("sendMessage"):
        reply = call.params.get("reply_parameters")
        if isinstance(reply, str):
            reply = json.loads(reply)
        if reply:
            out[(int(call.params["chat_id"]), int(reply["message_id"]))] += 1
    return out


async def test_a_worker_killed_mid_stream_loses_nothing_and_posts_nothing_twice(tmp_path, redis_server,
                                                                               postgres_cluster):
    url = postgres_cluster.new_database()
    procs: list[subprocess.Popen[bytes]] = []
    async with FakeTelegram() as fake:
        config = write_config(tmp_path / "config.yaml", fake=fake, redis_url=redis_server.url, database=url)
        ingress = start(config, "ingress", tmp_path / "ingress")
        workers = [start(config, "worker", tmp_path / f"worker{i}") for i in range(2)]
        procs = [ingress, *workers]
        try:
            await until(lambda: fake.calls("getUpdates"), 60)
            host = user(1, "Lin")
            for room in range(ROOMS):
                fake.push_update(message_update(group(-1000 - room), user(100 + room, f"Viewer{room}"),
                                                "how much is the course?", message_id=1))
            await until(lambda: len(answered(fake)) == ROOMS, 90)  # both workers loaded and answering

            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(10)
            for room in range(ROOMS):
                fake.push_update(message_update(group(-1000 - room), user(100 + room, f"Viewer{room}"),
                                                "do you ship to canada?", message_id=2))
                fake.push_update(message_update(group(-1000 - room), host, "welcome everyone", message_id=3))
            took = await until(lambda: len(answered(fake)) == 2 * ROOMS, 60)
            assert took < 10 + 2, f"the dead worker's rooms waited {took:.1f} s"
            await asyncio.sleep(1.0)  # anything that would be posted twice has had its chance

            assert set(answered(fake).values()) == {1}, answered(fake)  # nothing posted twice
            survivor_log = (tmp_path / "worker1" / "liveroom.log").read_text()
            assert "owns partitions [0, 1, 2, 3, 4, 5, 6, 7]" in survivor_log  # it took the dead one's rooms
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                stored = conn.execute(sa.select(events.c.room, events.c.event_id).where(
                    events.c.direction == "in")).all()
                asked = conn.execute(sa.select(questions.c.room, questions.c.event_id)).all()
            engine.dispose()
            assert len(stored) == len(set(stored)) == 3 * ROOMS  # every message stored once
            assert len(asked) == len(set(asked)) == 2 * ROOMS    # every question answered once

            for proc in (ingress, workers[1]):
                proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            for proc in (ingress, workers[1]):
                proc.wait(15)
            assert time.monotonic() - started < 10
            assert ingress.returncode == 0 and workers[1].returncode == 0
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            failed = sys.exc_info()[0] is not None
            for log in sorted([*tmp_path.glob("*.log"), *tmp_path.glob("*/liveroom.log")]):
                text = log.read_text(errors="replace")
                if failed or "Traceback" in text:
                    print(f"--- {log.relative_to(tmp_path)}\n{text[-6000:]}")

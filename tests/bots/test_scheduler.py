"""The scheduler through the real runtime, on a controllable clock.

Real APScheduler with its SQLAlchemy job store in the bot's database (SQLite, PostgreSQL, and on a
worker of the distributed deployment its room's partition table), real router and console room. The clock is ours: APScheduler reads "now" from
its scheduler module, which the ``clock`` fixture points at the same fake time
the service uses, so hours pass in microseconds and restarts are new runtimes
on the same data directory.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import ConsoleRoom, _load_helper, distributed_deployment, make_config  # noqa: E402

from bots.distributed.streams import partition_of  # noqa: E402

START = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)  # a Tuesday


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def at(self, when: datetime) -> None:
        self.now = when


@pytest.fixture
def clock(monkeypatch) -> Clock:
    import apscheduler.schedulers.base as base

    fake = Clock(START)

    class FakeDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return fake.now.astimezone(tz) if tz is not None else fake.now.replace(tzinfo=None)

    monkeypatch.setattr(base, "datetime", FakeDatetime)
    return fake


@dataclass(frozen=True)
class Place:
    """Where every life of the bot in one test keeps its state, and how the bot runs (a deployment)."""

    data_dir: Path
    deployment: Any
    #: the config sections of the place: the database of a one-process bot
    sections: dict[str, Any]

    @property
    def url(self) -> str:
        return self.runtime_config().database.url

    def runtime_config(self) -> Any:
        if self.deployment.name == "embedded":
            return make_config(**self.sections)
        return self.deployment.build_config(self.data_dir)

    @property
    def job_table(self) -> str:
        """Where the jobs of the test's room are stored: one table, or its partition's on the workers."""
        if self.deployment.name == "embedded":
            return "scheduled_jobs"
        return f"scheduled_jobs_p{partition_of('console:test', self.deployment.partitions)}"


@pytest.fixture(params=["sqlite", "postgresql", "distributed"])
async def place(request, data_dir: Path, tmp_path: Path):
    """The scheduler's job store on SQLite and a real PostgreSQL in one process, and on a worker fed
    through Redis (its partition's table on PostgreSQL): the same assertions."""
    deployments = _load_helper("deployments.py")
    if request.param == "sqlite":
        yield Place(data_dir, deployments.Embedded(make_config), {"database": {"url": f"sqlite:///{tmp_path}/s.db"}})
    elif request.param == "postgresql":
        url = request.getfixturevalue("postgres_cluster").new_database()
        yield Place(data_dir, deployments.Embedded(make_config), {"database": {"url": url}})
    else:
        deployment = distributed_deployment(request)
        try:
            yield Place(data_dir, deployment, {})
        finally:
            await deployment.close()


class Bot:
    """One life of the bot: a runtime, its console room and its scheduler on the shared clock."""

    def __init__(self, place: Place, clock: Clock, **sections) -> None:
        self.runtime = place.deployment.build(place.data_dir, answers={"enabled": False},
                                              products={"enabled": False}, audience={"enabled": False},
                                              **place.sections, **sections)
        assert self.runtime.schedule is not None
        self.schedule = self.runtime.schedule
        self.schedule.clock = clock
        self.room = ConsoleRoom(self.runtime, deployment=place.deployment)
        self._seen = 0

    async def __aenter__(self) -> "Bot":
        if self.room.cluster is not None:
            await self.room.cluster.start()  # the worker starts the scheduler with the partitions it takes
        else:
            await self.schedule.start()
        await self.room.as_user("lin", "host")
        return self

    async def __aexit__(self, *exc) -> None:
        if self.room.cluster is not None:
            await self.room.end()  # the worker stops: its scheduler with it
            return
        await self.schedule.shutdown()
        if self.runtime.audience is not None:
            await self.runtime.audience.drain()
        self.runtime.close()

    async def say(self, line: str) -> str:
        """A line typed in the room; its response does not count as scheduled output."""
        printed = await self.room.say(line)
        self._seen = len(self.room.out.getvalue())
        return printed

    async def tick(self) -> str:
        """Let the scheduler look for due jobs and run them; returns what the room printed
        since the last tick (start-up included: a restart processes due jobs at once)."""
        self.schedule.wakeup()
        await self.schedule.idle()
        await self.room.delivered()
        text = self.room.out.getvalue()
        printed, self._seen = text[self._seen:], len(text)
        return "\n".join(line for line in printed.splitlines() if not line.startswith("you are"))


async def test_reminders_fire_once_each_across_restarts(place, clock):
    everything = []
    async with Bot(place, clock) as bot:
        said = await bot.say("/schedule live tomorrow 8pm Cooking basics")
        assert "Scheduled live-" in said and "Cooking basics" in said and "t-24h, t-1h, t-5m" in said
        group = said.split("Scheduled ")[1].split(":")[0]
        assert len(await bot.schedule.jobs("console:test")) == 4
        assert await bot.tick() == ""                       # nothing is due yet
        clock.at(datetime(2026, 12, 1, 20, 0, 1, tzinfo=timezone.utc))
        everything.append(await bot.tick())
        assert "Coming up in 1 day: Cooking basics" in everything[-1]
        everything.append(await bot.tick())                # ticking again posts nothing new
        assert everything[-1] == ""

    async with Bot(place, clock) as bot:                 # restart 1: the jobs are still there
        listing = await bot.say("/schedule list")
        assert "(t-1h)" in listing and "t-24h" not in listing and f"{group}.t-1h only that reminder" in listing
        clock.at(datetime(2026, 12, 2, 19, 0, 30, tzinfo=timezone.utc))
        everything.append(await bot.tick())
        assert "Coming up in 1 hour" in everything[-1]

    # Down from 19:01 to 19:58: the T-5m reminder (19:55) is 3 minutes late, within the grace.
    clock.at(datetime(2026, 12, 2, 19, 58, tzinfo=timezone.utc))
    async with Bot(place, clock) as bot:
        everything.append(await bot.tick())
        assert "Coming up in 5 minutes" in everything[-1]
        clock.at(datetime(2026, 12, 2, 20, 0, 2, tzinfo=timezone.utc))
        everything.append(await bot.tick())
        assert "We are live now: Cooking basics" in everything[-1]
        assert await bot.schedule.jobs("console:test") == []

    joined = "\n".join(everything)
    for text in ("Coming up in 1 day", "Coming up in 1 hour", "Coming up in 5 minutes", "We are live now"):
        assert joined.count(text) == 1, text


async def test_a_message_due_long_before_a_restart_is_reported_not_posted(place, clock):
    async with Bot(place, clock) as bot:
        await bot.say("/schedule live in 2 hours Q&A")
    clock.advance(hours=3)                                  # the bot was down through the stream
    async with Bot(place, clock) as bot:
        printed = await bot.tick()
    notices = [line for line in printed.splitlines() if "While I was offline" in line]
    posts = [line for line in printed.splitlines() if line not in notices]
    assert not any("We are live now" in line or "Coming up" in line for line in posts)
    assert len(notices) == 3 and all("(only you see this)" in n and "did not post it late" in n for n in notices)
    assert bot.schedule.stats.missed == 3


async def test_chinese_times_and_templates(place, clock):
    async with Bot(place, clock, schedule={"timezone": "Asia/Shanghai"}) as bot:
        # 12:00 UTC is 20:00 in Shanghai on Tuesday 1 Dec; 周五晚上8点 is Fri 4 Dec 20:00 +08:00
        said = await bot.say("/schedule live 周五晚上8点 新品发布")
        assert "新品发布" in said
        jobs = await bot.schedule.jobs("console:test")
        start = [j for j in jobs if j.id.endswith(".start")][0]
        assert start.next_run_time == datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
        clock.at(datetime(2026, 12, 4, 12, 0, 1, tzinfo=timezone.utc))
        assert "直播开始了：新品发布" in await bot.tick()


async def test_bad_times_get_clear_messages(place, clock):
    async with Bot(place, clock) as bot:
        assert "could not read a time" in (await bot.say("/schedule live whenever you like")).lower()
        assert "passed" in (await bot.say("/schedule live 2026-11-30 20:00 old"))
        assert "Europe/Berlin" in (await bot.say("/schedule live 8pm Europa/Berlin launch"))
        assert "ambiguous" in (await bot.say("/schedule live 8pm EST launch"))
        assert "Usage" in await bot.say("/schedule live")
        assert "No scheduled message" in await bot.say("/schedule cancel live-nope")
        assert await bot.schedule.jobs() == []
        await bot.room.as_user("vic")
        assert "for the host only" in await bot.say("/schedule list")


async def test_promos_wait_for_chat_and_respect_the_limits(place, clock):
    async with Bot(place, clock, schedule={"max_promos": 3}) as bot:
        said = await bot.say("/schedule promo 10m Use code LIVE10 at checkout --min-lines 3")
        assert "every 10 minutes" in said and "3 chat lines" in said
        clock.advance(minutes=10, seconds=1)
        assert "LIVE10" not in await bot.tick()             # an empty room: held
        assert bot.schedule.stats.held == 1
        await bot.room.as_user("vic")
        for i in range(3):
            await bot.say(f"hello {i}")
        await bot.room.as_user("lin", "host")
        clock.advance(minutes=10)
        assert "Use code LIVE10 at checkout" in await bot.tick()
        for _ in range(2):
            assert "Scheduled promo-" in await bot.say("/schedule promo 1h Follow for more")
        assert "limit 3" in await bot.say("/schedule promo 1h one too many")
        assert "5 minutes" in await bot.say("/schedule promo 1m too often")     # the shortest interval
        promo = [j.id for j in await bot.schedule.jobs("console:test")][0]
        assert "Cancelled" in await bot.say(f"/schedule cancel {promo}")
        assert len(await bot.schedule.jobs("console:test")) == 2


async def test_a_corrupt_job_row_is_dropped_and_the_rest_still_fire(place, clock):
    async with Bot(place, clock) as bot:
        await bot.say("/schedule live in 1 hour Good stream")
    engine = sa.create_engine(place.url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {place.job_table} (id, next_run_time, job_state) "
                             "VALUES (:id, :at, :state)"),
                     {"id": "broken", "at": START.timestamp() + 60, "state": b"not a pickle"})
    engine.dispose()
    clock.advance(hours=1, seconds=1)
    async with Bot(place, clock) as bot:
        printed = await bot.tick()
        assert "We are live now: Good stream" in printed
        assert all(j.id != "broken" for j in await bot.schedule.jobs())


@pytest.mark.integration
async def test_a_rooms_schedule_moves_with_its_partition_to_the_next_worker(request, data_dir, tmp_path, clock):
    """Two workers: the room's messages fire from whichever holds its partition, once; when that worker
    leaves, the other opens the partition's job table and posts the next reminder through the ingress."""
    from bots.app import Runtime
    from bots.distributed.worker import Worker

    deployment = distributed_deployment(request)
    place = Place(data_dir, deployment, {})
    try:
        async with Bot(place, clock) as bot:
            said = await bot.say("/schedule live in 1 hour Good stream")
            assert "Scheduled live-" in said
            cluster = bot.room.cluster
            other = Runtime.build(place.runtime_config(), tmp_path / "second")  # the same database, elsewhere
            other.schedule.clock = clock
            second = Worker(other, cluster.redis, cluster.layout, lease_seconds=2.0)
            running = asyncio.create_task(second.run())
            try:
                await cluster.stop_worker()              # the first worker leaves; the second takes every room
                for _ in range(200):
                    if len(second.leases.owned) == deployment.partitions and len(second._scheduling) == 4:  # noqa: SLF001
                        break
                    await asyncio.sleep(0.05)
                assert partition_of("console:test", deployment.partitions) in second._scheduling  # noqa: SLF001
                assert [j.id.split(".")[1] for j in await other.schedule.jobs("console:test")] == ["t-5m", "start"]
                clock.advance(minutes=55, seconds=1)
                other.schedule.wakeup()
                await other.schedule.idle()
                await bot.room.delivered()
                assert bot.room.out.getvalue().count("Coming up in 5 minutes: Good stream") == 1
                assert [j.id.split(".")[1] for j in await other.schedule.jobs("console:test")] == ["start"]
            finally:
                await second.stop()
                await running
                other.close()
    finally:
        await deployment.close()



def listed(listing: str, needle: str) -> str:
    """The entry of a /schedule list whose id starts with ``needle``, without its id column."""
    [line] = [line for line in listing.splitlines() if line.strip().startswith(needle)]
    return line.strip().split("  ", 1)[1]


@pytest.mark.parametrize("place", ["sqlite"], indirect=True)     # wording: one job store is enough
async def test_the_list_says_each_time_once_relative_to_now(place, clock):
    """A stream tomorrow 20:00 with a reminder tomorrow 19:00 once read "tomorrow 19:00: … (today 20:00)":
    the reminder's stored text counts days from when it fires. Every day word now counts from now, in the
    room's zone, and a day is said once per line."""
    async with Bot(place, clock) as bot:                  # Tue 1 Dec 12:00 UTC
        group = (await bot.say("/schedule live tomorrow 20:00 Mango night")).split("Scheduled ")[1].split(":")[0]
        await bot.say("/schedule promo 30m Use code LIVE10")
        listing = await bot.say("/schedule list")
        assert "Scheduled in this room (times in UTC):" in listing and listing.count("UTC") == 1
        assert listed(listing, group) == ("Mango night, tomorrow 20:00 — reminders today 20:00 (t-24h), "
                                          "tomorrow 19:00 (t-1h), 19:55 (t-5m)")
        assert listed(listing, "promo-") == "promo every 30 minutes, next today 12:30: Use code LIVE10"
        assert f"{group}.t-24h only that reminder" in listing
        clock.at(datetime(2026, 12, 2, 18, 0, tzinfo=timezone.utc))
        assert "Coming up in 1 day: Mango night, tomorrow 20:00 (UTC)" in await bot.tick()
        assert listed(await bot.say("/schedule list"), group) == \
            "Mango night, today 20:00 — reminders 19:00 (t-1h), 19:55 (t-5m)"
        await bot.say(f"/schedule cancel {group}")

    # Shanghai: Wed 01:00 there while it is still Tuesday in UTC; the room's day counts.
    clock.at(datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc))
    async with Bot(place, clock, schedule={"timezone": "Asia/Shanghai"}) as bot:
        group = (await bot.say("/schedule live 今天晚上8点 新品发布")).split("Scheduled ")[1].split(":")[0]
        listing = await bot.say("/schedule list")
        assert "(times in Asia/Shanghai)" in listing
        assert listed(listing, group) == "新品发布, today 20:00 — reminders 19:00 (t-1h), 19:55 (t-5m)"

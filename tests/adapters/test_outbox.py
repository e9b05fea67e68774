"""The outbound queue: budgets per room and overall, merging, dropping stale low-value replies."""

import asyncio
import time

from adapters.model import Reply, Room
from adapters.outbox import Budget, Outbox


class Recorder:
    def __init__(self):
        self.sent = []  # (time, room key, text)

    async def deliver(self, reply: Reply) -> str:
        self.sent.append((time.monotonic(), reply.room.key, reply.text))
        return f"m{len(self.sent)}"


def max_in_window(times, seconds):
    return max(sum(1 for t in times if start <= t < start + seconds) for start in times)


async def test_a_room_never_exceeds_its_budget():
    rec = Recorder()
    box = Outbox(rec.deliver, per_room=[Budget(2, 0.2)], max_chars=5)  # 5 chars: nothing merges
    room = Room("t", "1")
    ids = await asyncio.gather(*(box.send(Reply(room, f"m{i:03d}")) for i in range(8)))
    times = [t for t, _, _ in rec.sent]
    assert len(rec.sent) == 8 and max_in_window(times, 0.2) <= 2
    assert [text for _, _, text in rec.sent] == [f"m{i:03d}" for i in range(8)]  # order kept
    assert len(set(ids)) == 8


async def test_rooms_have_separate_budgets_but_share_the_overall_one():
    rec = Recorder()
    box = Outbox(rec.deliver, per_room=[Budget(1, 0.3)], overall=[Budget(3, 0.3)], max_chars=3)
    rooms = [Room("t", str(i)) for i in range(6)]
    started = time.monotonic()
    await asyncio.gather(*(box.send(Reply(r, "hey")) for r in rooms))
    times = [t for t, _, _ in rec.sent]
    assert max_in_window(times, 0.3) <= 3
    assert time.monotonic() - started < 1.0  # two windows, not six


async def test_backed_up_replies_to_a_room_are_merged():
    rec = Recorder()
    box = Outbox(rec.deliver, per_room=[Budget(1, 0.3)], max_chars=100)
    room = Room("t", "1")
    ids = await asyncio.gather(*(box.send(Reply(room, f"answer {i}")) for i in range(5)))
    assert [text for _, _, text in rec.sent] == ["answer 0\nanswer 1\nanswer 2\nanswer 3\nanswer 4"]
    assert len(set(ids)) == 1 and box.stats.merged == 4


async def test_ephemeral_replies_are_never_merged():
    rec = Recorder()
    box = Outbox(rec.deliver, per_room=[Budget(10, 1.0)], max_chars=100)
    room = Room("t", "1")
    await asyncio.gather(box.send(Reply(room, "a", ephemeral=True)), box.send(Reply(room, "b", ephemeral=True)))
    assert [text for _, _, text in rec.sent] == ["a", "b"]


async def test_stale_low_priority_replies_are_dropped_others_are_kept():
    rec = Recorder()
    box = Outbox(rec.deliver, per_room=[Budget(1, 0.25)], max_chars=4, max_age=0.1)
    room = Room("t", "1")
    results = await asyncio.gather(box.send(Reply(room, "1st")), box.send(Reply(room, "low", priority=0)),
                                   box.send(Reply(room, "2nd")))
    assert results[1] is None and box.stats.dropped == 1
    assert [text for _, _, text in rec.sent] == ["1st", "2nd"]


async def test_a_failed_delivery_reaches_its_sender_and_the_queue_goes_on():
    calls = []

    async def flaky(reply):
        calls.append(reply.text)
        if reply.text == "bad":
            raise RuntimeError("platform said no")
        return "ok"

    box = Outbox(flaky, per_room=[Budget(10, 1.0)], max_chars=3)
    room = Room("t", "1")
    results = await asyncio.gather(box.send(Reply(room, "bad")), box.send(Reply(room, "fine")),
                                   return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and results[1] == "ok"

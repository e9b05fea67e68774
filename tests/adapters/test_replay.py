import io
import json
from pathlib import Path

import pytest

from adapters.base import AdapterError
from adapters.model import CommandEvent, MemberEvent, MessageEvent, Role, TranscriptEvent
from adapters.replay import BadLine, ReplayAdapter, read_log


def line(**fields) -> bytes:
    base = {"id": "1", "ts": "2026-11-20T20:00:00+08:00", "user": "ann", "text": "hi", "room": "r1"}
    base.update(fields)
    return (json.dumps({k: v for k, v in base.items() if v is not ...}, ensure_ascii=False) + "\n").encode()


def parse(data: bytes, **kw):
    return list(read_log(io.BytesIO(data), **kw))


def test_every_kind_becomes_its_event_type():
    data = b"".join([
        line(id="1", text="这个能用冷冻水果吗?"),
        line(id="2", kind="transcript", user="host", text="today: smoothies"),
        line(id="3", kind="join", text=""),
        line(id="4", kind="leave", text=""),
        line(id="5", text="/ask price?", role="mod"),
        line(id="6", text="@ann yes", reply_to="1", mentions=["ann"]),
    ])
    events = parse(data)
    assert [type(e) for e in events] == [MessageEvent, TranscriptEvent, MemberEvent, MemberEvent,
                                        CommandEvent, MessageEvent]
    assert events[0].text == "这个能用冷冻水果吗?" and events[0].room.key == "replay:r1"
    assert events[0].ts.utcoffset().total_seconds() == 8 * 3600
    assert events[1].author.role is Role.HOST  # transcript lines are the host's speech
    assert events[2].joined and not events[3].joined
    assert events[4].command == "ask" and events[4].args == "price?" and events[4].author.role is Role.MOD
    assert events[5].reply_to == "1" and events[5].mentions == ("ann",)


def test_broken_lines_are_counted_with_numbers_and_the_rest_is_kept():
    data = b"".join([
        line(id="ok1"),                                    # 1
        b"{not json\n",                                    # 2
        line(user=...),                                    # 3 missing user
        line(ts="yesterday"),                              # 4 not ISO
        line(ts="2026-11-20T20:00:00"),                    # 5 no offset
        b'{"id": "x", "ts": "2026-11-20T20:00:00Z", "user": "a", "room": "r", "text": "\xff\xfe"}\n',  # 6
        line(text="x" * (1 << 20)),                        # 7 a 1 MB line
        b"[1, 2, 3]\n",                                    # 8 not an object
        line(kind="shout"),                                # 9 unknown kind
        line(role="admin"),                                # 10 unknown role
        b"\n",                                             # 11 blank: ignored, not bad
        line(text=5),                                      # 12 text not a string
        line(id="ok2"),                                    # 13
    ])
    items = parse(data, max_line_bytes=65536)
    good = [i for i in items if not isinstance(i, BadLine)]
    bad = {i.lineno: i.reason for i in items if isinstance(i, BadLine)}
    assert [e.event_id for e in good] == ["ok1", "ok2"]
    assert sorted(bad) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert "invalid JSON" in bad[2]
    assert "missing field(s): user" in bad[3]
    assert "not ISO 8601" in bad[4]
    assert "no UTC offset" in bad[5]
    assert "invalid UTF-8" in bad[6]
    assert "over the 65536-byte limit" in bad[7]
    assert "not a JSON object" in bad[8]
    assert "kind" in bad[9] and "role" in bad[10] and "text" in bad[12]


def test_oversized_line_without_newline_at_end_of_file():
    items = parse(line(id="a") + b"x" * 300_000, max_line_bytes=1024)
    assert isinstance(items[0], MessageEvent) and isinstance(items[1], BadLine)
    assert "300000 bytes" in items[1].reason


async def test_replay_adapter_delivers_events_and_collects_replies(tmp_path: Path):
    log = tmp_path / "chat.jsonl"
    log.write_bytes(line(id="1") + b"garbage\n" + line(id="2", ts="2026-11-20T20:00:00.050+08:00"))
    got = []
    adapter = ReplayAdapter(log, speed=1.0)

    async def sink(event):
        got.append(event)

    adapter.bind(sink)
    await adapter.run()
    assert [e.event_id for e in got] == ["1", "2"]
    assert adapter.stats.messages == 2 and adapter.stats.bad_lines == 1
    assert adapter.stats.bad_line_samples[0].lineno == 2
    assert adapter.stats.seconds >= 0.04  # kept the log's 50 ms pacing


async def test_replay_pacing_scales_with_speed(tmp_path: Path):
    log = tmp_path / "chat.jsonl"
    log.write_bytes(line(id="1") + line(id="2", ts="2026-11-20T20:00:02+08:00"))
    adapter = ReplayAdapter(log, speed=20.0)

    async def sink(event):
        pass

    adapter.bind(sink)
    await adapter.run()
    assert 0.09 <= adapter.stats.seconds < 1.0  # 2 s of log at 20x


async def test_missing_file_is_a_clear_error(tmp_path: Path):
    adapter = ReplayAdapter(tmp_path / "nope.jsonl")
    adapter.bind(lambda e: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(AdapterError, match="cannot read replay file"):
        await adapter.run()
    with pytest.raises(AdapterError, match="speed must be > 0"):
        ReplayAdapter(tmp_path / "x", speed=0)


# ---- refused at the edge: far-off times, empty names, a JSON array -----------------------------

def test_timestamps_outside_the_window_are_bad_lines_with_their_numbers():
    from adapters.model import TimeWindow

    data = b"".join([line(id="1"), line(id="2", ts="0001-01-01T00:00:00+00:00"),
                     line(id="3", ts="9999-12-31T23:59:59+14:00"), line(id="4", ts="2126-11-20T20:00:00+08:00"),
                     line(id="5")])
    items = parse(data, window=TimeWindow())
    assert [e.event_id for e in items if not isinstance(e, BadLine)] == ["1", "5"]
    bad = [b for b in items if isinstance(b, BadLine)]
    assert [b.lineno for b in bad] == [2, 3, 4]
    assert "more than 3650 days in the past" in bad[0].reason and "in the future" in bad[1].reason
    assert len(parse(data)) == 5  # no window: every time parses (the reader alone is not the policy)


def test_an_empty_user_or_room_is_a_bad_line():
    items = parse(line(id="1", user="") + line(id="2", room="  ") + line(id="3"))
    assert [(b.lineno, b.reason) for b in items if isinstance(b, BadLine)] == [
        (1, "field 'user' is empty"), (2, "field 'room' is empty")]


def test_a_json_array_file_says_replay_wants_json_lines_once():
    records = [json.loads(line(id=str(i))) for i in range(3)]
    pretty = json.dumps(records, indent=2).encode()
    items = parse(pretty)
    assert "JSON array" in items[0].reason and "jq -c '.[]'" in items[0].reason and items[0].lineno == 1
    assert sum("JSON array" in b.reason for b in items) == 1
    [one_line] = parse(json.dumps(records).encode() + b"\n")
    assert "JSON Lines" in one_line.reason

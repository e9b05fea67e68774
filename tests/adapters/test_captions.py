"""Caption files (SRT, WebVTT) → cues → TranscriptEvents, paced or fast."""

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest

from adapters.base import AdapterError
from adapters.captions import (
    BadCue,
    CaptionAdapter,
    CaptionError,
    decode_captions,
    parse_captions,
    parse_room,
    read_captions,
)
from adapters.model import Reply, Role, Room, TranscriptEvent

SRT = """1
00:00:01,000 --> 00:00:03,500
Today we make a <i>mango</i> smoothie

2
00:00:04,250 --> 00:00:06,000
with the BlendGo Pro:
it crushes <b>frozen</b> fruit

00:00:07,000 --> 00:00:08,000
{\\an8}no cue number &amp; a tag
"""

VTT = """WEBVTT - Smoothie Lab
Kind: captions
Language: en

NOTE the host's intro,
two lines of note

STYLE
::cue { color: yellow }

REGION
id:fred width:40%

intro
00:01.000 --> 00:02.500 align:start position:10% line:0
<v Chef Lin>Hello &lt;everyone&gt;</v>

00:00:03.000 --> 00:00:05.000
<c.loud>Welcome</c> <00:00:04.000>back&nbsp;to
<v.host Chef Lin>the <u>lab</u>

1:00:00.000 --> 1:00:01.000
an hour in
"""


def test_srt_cues_times_and_text():
    captions = parse_captions(SRT)
    assert captions.format == "srt" and captions.bad == []
    assert [(c.start, c.end) for c in captions.cues] == [(1.0, 3.5), (4.25, 6.0), (7.0, 8.0)]
    assert [c.text for c in captions.cues] == [
        "Today we make a mango smoothie",
        "with the BlendGo Pro: it crushes frozen fruit",  # multi-line cue → one line of speech
        "no cue number & a tag",
    ]
    assert [c.ident for c in captions.cues] == ["1", "2", None]
    assert [c.lineno for c in captions.cues] == [2, 6, 10]  # the timing lines


def test_vtt_skips_header_note_style_region_and_strips_tags():
    captions = parse_captions(VTT)
    assert captions.format == "vtt" and captions.bad == []
    assert [c.text for c in captions.cues] == ["Hello <everyone>", "Welcome back to the lab", "an hour in"]
    assert [(c.start, c.end) for c in captions.cues] == [(1.0, 2.5), (3.0, 5.0), (3600.0, 3601.0)]
    assert captions.cues[0].voice == "Chef Lin" and captions.cues[0].ident == "intro"
    assert captions.cues[1].voice == "Chef Lin"  # <v.class Name> too


def test_crlf_and_dot_milliseconds_in_srt_and_chinese_lines_join_without_space():
    text = "1\r\n00:00:01.000 --> 00:00:02.000\r\n今天我们做\r\n芒果奶昔\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nBlendGo\r\n很好用\r\n"
    captions = parse_captions(text)
    assert [c.text for c in captions.cues] == ["今天我们做芒果奶昔", "BlendGo 很好用"]


def test_broken_cues_are_reported_with_line_numbers_and_the_rest_is_used():
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\ngood one\n\n"          # lines 1-3
        "2\n00:00:0x,000 --> 00:00:03,000\nletters in the time\n\n"  # 5-7: timing on line 6
        "3\n00:00:05,000 --> 00:00:04,000\nbackwards\n\n"          # 9-11: line 10
        "4\n00:00:06,000 --> 00:00:07,000\n<i></i>\n\n"             # 13-15: no text, line 14
        "5\n00:00:08,000 - 00:00:09,000\nno arrow\n\n"              # 17-19: no timing, block at 17
        "6\n00:75:00,000 --> 00:76:00,000\nminutes over 59\n\n"     # 21-23: line 22
        "7\n00:00:10,000 -->\nno end\n\n"                           # 25-27: line 26
        "8\n00:00:11,000 --> 00:00:12,000\nlast good\n"             # 29-31
    )
    captions = parse_captions(text)
    assert [c.text for c in captions.cues] == ["good one", "last good"]
    bad = {b.lineno: b.reason for b in captions.bad}
    assert sorted(bad) == [6, 10, 14, 17, 22, 26]
    assert "bad timestamp '00:00:0x,000'" in bad[6]
    assert bad[10] == "ends before it starts (00:00:05.000 --> 00:00:04.000)"
    assert bad[14] == "no text"
    assert "no timing line" in bad[17]
    assert "bad timestamp '00:75:00,000'" in bad[22]
    assert "bad timing line" in bad[26]


def test_cues_out_of_order_are_played_in_time_order():
    text = "00:00:05,000 --> 00:00:06,000\nsecond\n\n00:00:01,000 --> 00:00:02,000\nfirst\n"
    assert [c.text for c in parse_captions(text).cues] == ["first", "second"]


@pytest.mark.parametrize("encoding, expected", [
    ("utf-8", "utf-8"),
    ("utf-8-sig", "utf-8 (BOM)"),
    ("utf-16", "utf-16 (BOM)"),  # Python writes a BOM for "utf-16"
    ("utf-16-be-bom", "utf-16 (BOM)"),
    ("gb18030", "gb18030"),
])
def test_encodings(tmp_path, encoding, expected):
    text = "WEBVTT\n\n00:01.000 --> 00:02.000\n今天做芒果奶昔，用 BlendGo Pro\n"
    if encoding == "utf-16-be-bom":
        data = b"\xfe\xff" + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    path = tmp_path / "c.vtt"
    path.write_bytes(data)
    captions = read_captions(path)
    assert captions.encoding == expected and captions.format == "vtt"
    assert [c.text for c in captions.cues] == ["今天做芒果奶昔，用 BlendGo Pro"]


def test_gb18030_is_only_tried_when_the_bytes_are_not_utf8():
    text = "1\n00:00:01,000 --> 00:00:02,000\n芒果\n"
    assert decode_captions(text.encode("utf-8")) == (text, "utf-8")
    assert decode_captions(text.encode("gb18030")) == (text, "gb18030")
    assert text.encode("gb18030") != text.encode("utf-8")


def test_an_undecodable_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.srt"
    path.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe\xff\x80 caf\xe9\n")
    # (starts with "1\n", so no BOM; 0xff/0x80 are neither UTF-8 nor GB18030)
    with pytest.raises(CaptionError, match=r"bad\.srt: the file is not text in a supported encoding: "
                                           r"not UTF-8 \(invalid byte at offset \d+\), not GB18030"):
        read_captions(path)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CaptionError, match="cannot read caption file .*nope.srt"):
        read_captions(tmp_path / "nope.srt")


def test_parse_room():
    assert parse_room("console:demo") == Room("console", "demo", name="demo")
    assert parse_room("telegram:-100123/7").key == "telegram:-100123/7"
    assert parse_room("smoothie-lab").key == "captions:smoothie-lab"
    with pytest.raises(AdapterError, match="platform:room_id"):
        parse_room("console:")


# ---- the adapter -------------------------------------------------------------------------

def caption_file(tmp_path, starts: list[float]) -> str:
    def ts(s: float) -> str:
        return f"00:00:{int(s):02d},{int(round(s % 1 * 1000)):03d}"
    body = "".join(f"{i}\n{ts(s)} --> {ts(s + 0.5)}\nline {i}\n\n" for i, s in enumerate(starts, 1))
    path = tmp_path / "talk.srt"
    path.write_text(body + "99\n00:00:09,000 --> 00:00:08,000\nbroken\n", encoding="utf-8")
    return str(path)


async def play(adapter: CaptionAdapter) -> list[tuple[float, TranscriptEvent]]:
    got: list[tuple[float, TranscriptEvent]] = []

    async def sink(event):
        got.append((time.perf_counter(), event))

    adapter.bind(sink)
    await adapter.run()
    return got


async def test_adapter_emits_host_transcripts_in_the_room_at_base_time_plus_start(tmp_path):
    base = datetime(2026, 11, 20, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    adapter = CaptionAdapter(caption_file(tmp_path, [1.0, 2.5, 4.0]), room="replay:smoothie-lab",
                             host_name="chef_lin", base_time=base, fast=True)
    events = [e for _, e in await play(adapter)]
    assert all(isinstance(e, TranscriptEvent) for e in events)
    assert [e.text for e in events] == ["line 1", "line 2", "line 3"]
    assert {e.room.key for e in events} == {"replay:smoothie-lab"}
    assert {(e.author.name, e.author.role, e.author.key) for e in events} == {
        ("chef_lin", Role.HOST, "replay:chef_lin")}
    assert [e.ts for e in events] == [base + timedelta(seconds=s) for s in (1.0, 2.5, 4.0)]
    assert {e.source for e in events} == {adapter.name} and len({e.event_id for e in events}) == 3
    assert adapter.stats.cues == 3 and adapter.stats.bad_cues == 1
    assert [b.lineno for b in adapter.stats.bad_cue_samples] == [14]
    assert adapter.stats.bad_cue_samples == [BadCue(14, "ends before it starts (00:00:09.000 --> 00:00:08.000)")]


async def test_paced_by_cue_starts_divided_by_speed(tmp_path):
    # Cues 0.0, 2.0, 4.0 s apart at 20x: 0.1 s and 0.2 s after the first.
    adapter = CaptionAdapter(caption_file(tmp_path, [3.0, 5.0, 7.0]), room="r", speed=20)
    got = await play(adapter)
    t0 = got[0][0]
    offsets = [t - t0 for t, _ in got]
    assert offsets[1] == pytest.approx(0.1, abs=0.06) and offsets[2] == pytest.approx(0.2, abs=0.08)
    assert offsets[1] >= 0.095 and offsets[2] >= 0.195  # never early


async def test_fast_ignores_the_cue_times(tmp_path):
    adapter = CaptionAdapter(caption_file(tmp_path, [1.0, 5.0, 9.0]), room="r", fast=True)
    started = time.perf_counter()
    got = await play(adapter)
    assert len(got) == 3 and time.perf_counter() - started < 0.5  # paced at 1x it would take 8 s


async def test_stop_ends_a_paced_run_at_once(tmp_path):
    adapter = CaptionAdapter(caption_file(tmp_path, [0.0, 9.0]), room="r")
    got: list = []

    async def sink(event):
        got.append(event)

    adapter.bind(sink)
    task = asyncio.create_task(adapter.run())
    await asyncio.sleep(0.05)  # the first cue is out; the next is 9 s away
    await adapter.stop()
    await asyncio.wait_for(task, timeout=1.0)  # stop wakes the wait for the next cue
    assert [e.text for e in got] == ["line 1"] and adapter.stats.cues == 1


async def test_send_collects_and_echoes_replies_like_a_replay(tmp_path):
    import io
    out = io.StringIO()
    adapter = CaptionAdapter(caption_file(tmp_path, [1.0]), room="console:demo", echo=out)
    room = Room("console", "demo")
    message_id = await adapter.send(Reply(room=room, text="noted"))
    assert adapter.replies == [Reply(room=room, text="noted")] and adapter.stats.replies == 1
    assert out.getvalue() == "[demo] bot: noted\n" and message_id.startswith(adapter.name)


def test_bad_arguments():
    with pytest.raises(AdapterError, match="speed must be > 0"):
        CaptionAdapter("x.srt", room="r", speed=0)
    with pytest.raises(AdapterError, match="timezone-aware"):
        CaptionAdapter("x.srt", room="r", base_time=datetime(2026, 1, 1))


async def test_run_on_an_unreadable_file_raises_an_adapter_error(tmp_path):
    adapter = CaptionAdapter(tmp_path / "missing.vtt", room="r")
    adapter.bind(lambda e: asyncio.sleep(0))
    with pytest.raises(AdapterError, match="cannot read caption file"):
        await adapter.run()

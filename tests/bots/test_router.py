"""Routing, role checks and replies, through the real router, registry and store."""

import io
import itertools
import time

from adapters.commands import CommandSpec, Param
from adapters.console import ConsoleAdapter
from adapters.model import CommandEvent, MessageEvent, Role, Room, User
from bots.app import Runtime
from bots.runtime.config import Config, LimitsSection, RolesSection

ROOM = Room("console", "r")
_IDS = itertools.count(1)


def command(text: str, role: Role = Role.VIEWER, user: str = "u", source: str = "console") -> CommandEvent:
    name, _, args = text[1:].partition(" ")
    return CommandEvent(event_id=f"e{next(_IDS)}", room=ROOM, author=User("console", user, user, role),
                        text=text, command=name, args=args, source=source)


class Collector(ConsoleAdapter):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, stdin=io.StringIO(), stdout=io.StringIO(), prompt=False)
        self.sent = []

    async def send(self, reply):
        self.sent.append(reply)
        return await super().send(reply)


def build(data_dir, **config) -> tuple[Runtime, Collector]:
    rt = Runtime.build(Config(answers={"enabled": False}, **config), data_dir)
    adapter = Collector("console")
    rt.router.attach(adapter)
    return rt, adapter


async def test_role_checks_follow_the_role_order(data_dir):
    rt, out = build(data_dir)
    try:
        await rt.router.dispatch(command("/status", Role.VIEWER))
        await rt.router.dispatch(command("/status", Role.MOD))
        await rt.router.dispatch(command("/status", Role.HOST))
        await rt.router.dispatch(command("/announce hi", Role.MOD))
        texts = [r.text for r in out.sent]
        assert texts[0] == "/status is for the mods only."
        assert texts[1].startswith("Room console:r") and texts[2].startswith("Room console:r")
        assert texts[3] == "/announce is for the host only."
        assert rt.router.stats.denied == 2
        assert out.sent[1].ephemeral  # mod command answers privately
    finally:
        rt.close()


async def test_config_roles_raise_a_platform_role(data_dir):
    rt, out = build(data_dir, roles=RolesSection(hosts=("console:teacher",)))
    try:
        await rt.router.dispatch(command("/announce class starts", Role.VIEWER, user="teacher"))
        assert out.sent[-1].text == "class starts"
        rt.store.flush()
        assert next(rt.store.iter_events(kinds=["command"])).role == "host"
    finally:
        rt.close()


async def test_unknown_command_suggests_the_closest(data_dir):
    rt, out = build(data_dir)
    try:
        await rt.router.dispatch(command("/hlep"))
        assert out.sent[-1].text == "Unknown command /hlep. Did you mean /help? Type /help for the list."
        await rt.router.dispatch(command("/zzz"))
        assert out.sent[-1].text == "Unknown command /zzz. Type /help for the list."
        assert rt.router.stats.unknown_commands == 2
    finally:
        rt.close()


async def test_argument_errors_and_failing_handlers_answer_without_crashing(data_dir):
    rt, out = build(data_dir)
    spec = CommandSpec("boom", "fails", params=(Param("n", type="int"),))

    async def boom(ctx, n):
        raise RuntimeError("bug")

    rt.registry.add(spec, boom)
    try:
        await rt.router.dispatch(command("/boom x"))
        assert out.sent[-1].text == "/boom: n must be a whole number, got 'x'"
        await rt.router.dispatch(command("/boom 1"))
        assert out.sent[-1].text == "Sorry, /boom failed on our side; it has been logged."
        assert rt.router.stats.handler_errors == 1
        await rt.router.dispatch(command("/help"))  # still serving
        assert "Commands for you" in out.sent[-1].text
    finally:
        rt.close()


async def test_oversized_message_is_truncated_flagged_and_stored(data_dir):
    rt, out = build(data_dir, limits=LimitsSection(max_message_chars=100))
    seen = []

    async def listener(event, router):
        seen.append(event)
        return None

    rt.router.add_listener(listener)
    try:
        big = MessageEvent(event_id="big", room=ROOM, author=User("console", "u", "u"),
                           text="x" * 1_000_000, source="console")
        await rt.router.dispatch(big)
        assert len(seen[0].text) == 100 and "truncated" in seen[0].flags
        rt.store.flush()
        row = next(rt.store.iter_events())
        assert len(row.text) == 100 and row.flags == {"truncated"}
        assert rt.router.stats.truncated == 1
    finally:
        rt.close()


async def test_a_failing_listener_does_not_stop_the_others(data_dir):
    rt, out = build(data_dir)
    calls = []

    async def broken(event, router):
        raise ValueError("listener bug")

    async def answering(event, router):
        calls.append(event.event_id)
        return "an answer"

    rt.router.add_listener(broken)
    rt.router.add_listener(answering)
    try:
        await rt.router.dispatch(MessageEvent(event_id="q", room=ROOM, author=User("console", "u", "u"),
                                              text="how much?", source="console"))
        assert calls == ["q"] and out.sent[-1].text == "an answer"
        assert out.sent[-1].reply_to == "q"
        assert rt.router.stats.handler_errors == 1
    finally:
        rt.close()


async def test_replies_go_back_through_the_adapter_the_event_came_from(data_dir):
    rt, first = build(data_dir)
    second = Collector("console-2")
    rt.router.attach(second)
    try:
        asked = [command("/help", source="console-2"), command("/help", source="console")]
        for event in asked:
            await rt.router.dispatch(event)
        assert len(second.sent) == 1 and len(first.sent) == 1
        rt.store.flush()
        replies = list(rt.store.iter_events(kinds=["reply"]))
        assert [r.direction for r in replies] == ["out", "out"]
        # generated ids read adapter-run-outN: the adapter's name, then this run's mark
        assert {r.event_id.rsplit("-", 2)[0] for r in replies} == {"console", "console-2"}
        assert [r.reply_to for r in replies] == [e.event_id for e in asked]
    finally:
        rt.close()


async def test_an_unknown_route_is_counted_not_raised(data_dir):
    rt, _ = build(data_dir)
    try:
        await rt.router.dispatch(command("/help", source="gone"))
        assert rt.router.stats.send_errors == 1
    finally:
        rt.close()


async def test_when_the_store_stops_chat_is_refused_and_status_says_why(data_dir):
    import pytest

    from adapters.base import SinkUnavailable

    rt, out = build(data_dir)
    try:
        rt.store._queue.put(object())  # what a bug in the writer would meet: it stops
        rt.store._writer.join(5)
        chat = MessageEvent(event_id="chat-1", room=ROOM, author=User("console", "u", "u"), text="hello",
                            source="console")
        with pytest.raises(SinkUnavailable, match="writer has stopped"):
            await rt.router.dispatch(chat)
        started = time.monotonic()
        await rt.router.dispatch(command("/status", Role.MOD))
        assert time.monotonic() - started < 2  # no wait on a store that will never answer
        assert out.sent[-1].text.startswith("NOT RECORDING: the store's writer has stopped")
        assert rt.router.stats.refused == 1
    finally:
        rt.close()


async def test_a_redelivered_event_is_dropped_and_status_counts_it(data_dir):
    rt, out = build(data_dir)
    try:
        chat = MessageEvent(event_id="again-1", room=ROOM, author=User("console", "u", "u"), text="hello",
                            source="console")
        await rt.router.dispatch(chat)
        await rt.router.dispatch(chat)  # a platform's redelivery after a reconnect
        assert rt.router.stats.duplicates == 1 and rt.router.stats.events == 1
        await rt.router.dispatch(command("/status", Role.MOD))
        assert out.sent[-1].text.splitlines()[-1] == \
            "Events since start: 1 already stored (skipped, not answered again)."
        rt.store.flush()
        assert rt.store.count(room=ROOM.key, kind="chat") == 1
    finally:
        rt.close()


async def test_listeners_get_only_the_events_they_want(data_dir):
    from adapters.model import FeedbackEvent, MemberEvent, TranscriptEvent
    from bots.runtime.listeners import CHAT_AND_SPEECH, VIEWER_CHAT, VIEWER_LINES, Wants

    rt, out = build(data_dir)
    heard: dict[str, list[str]] = {"viewer_chat": [], "viewer_lines": [], "speech": [], "other_room": [], "joins": []}

    def recorder(name):
        async def listener(event, router):
            heard[name].append(event.event_id)
        return listener

    rt.router.add_listener(recorder("viewer_chat"), VIEWER_CHAT)
    rt.router.add_listener(recorder("viewer_lines"), VIEWER_LINES)
    rt.router.add_listener(recorder("speech"), CHAT_AND_SPEECH)
    rt.router.add_listener(recorder("other_room"), Wants.of(kinds=("chat",), rooms=("console:elsewhere",)))
    rt.router.add_listener(recorder("joins"), Wants.of(kinds=("join",)))
    viewer, mod, host = (User("console", n, n, r) for n, r in (("v", Role.VIEWER), ("m", Role.MOD), ("h", Role.HOST)))
    try:
        for event in (MessageEvent(event_id="v1", room=ROOM, author=viewer, text="hi", source="console"),
                      MessageEvent(event_id="m1", room=ROOM, author=mod, text="welcome", source="console"),
                      MessageEvent(event_id="h1", room=ROOM, author=host, text="today: blenders", source="console"),
                      TranscriptEvent(event_id="t1", room=ROOM, author=host, text="the jar", source="console"),
                      MemberEvent(event_id="j1", room=ROOM, author=viewer, joined=True, source="console"),
                      MemberEvent(event_id="l1", room=ROOM, author=viewer, joined=False, source="console"),
                      FeedbackEvent(event_id="f1", room=ROOM, author=viewer, target="x", value=1, source="console"),
                      command("/status", Role.MOD)):
            await rt.router.dispatch(event)
        assert heard == {"viewer_chat": ["v1", "m1"], "viewer_lines": ["v1"], "speech": ["v1", "m1", "h1", "t1"],
                         "other_room": [], "joins": ["j1"]}
    finally:
        rt.close()


async def test_room_contacts_know_the_host_and_staff_and_whisper_to_them(data_dir):
    from adapters.model import TranscriptEvent

    rt, out = build(data_dir)
    elsewhere = Collector("other")
    rt.router.attach(elsewhere)
    contacts = rt.router.contacts
    try:
        await rt.router.dispatch(MessageEvent(event_id="v1", room=ROOM, author=User("console", "v", "v"),
                                              text="hi", source="console"))
        assert contacts.host(ROOM.key) is None and contacts.staff(ROOM.key) is None
        assert contacts.place(ROOM.key) == (ROOM, "console")
        await rt.router.dispatch(command("/status", Role.MOD, user="mo"))  # commands count too
        assert contacts.staff(ROOM.key).user.id == "mo" and contacts.host(ROOM.key) is None
        await rt.router.dispatch(TranscriptEvent(event_id="t1", room=ROOM, author=User("other", "chef", "Chef"),
                                                 text="the jar", source="other"))
        host = contacts.host(ROOM.key)
        assert host.user.id == "chef" and host.source == "other"  # whoever's speech is transcribed hosts
        assert contacts.staff(ROOM.key).user.id == "mo"  # a transcript does not make a moderator
        assert await rt.router.whisper(host, "Chat spike") is not None
        reply = elsewhere.sent[-1]
        assert reply.text == "Chat spike" and reply.ephemeral and reply.to_user == host.user
        assert reply.room == ROOM
    finally:
        rt.close()

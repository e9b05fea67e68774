"""The console room, driven in-process through the real runtime."""

import asyncio
import io

from adapters.console import ConsoleAdapter


async def test_viewer_gets_help_and_is_refused_host_commands(room):
    out = await room.say("/help")
    assert "Commands for you (viewer)" in out and "/help [command]" in out
    assert "/announce" not in out  # host commands are not offered to viewers
    out = await room.say("/announce buy now")
    assert "/announce is for the host only" in out and "(only you see this)" in out


async def test_as_host_switches_role_and_host_commands_work(room, runtime):
    assert "you are now li (host)" in await room.say("/as host li")
    out = await room.say("/announce Class starts in 5 minutes")
    assert "[liveroom] Class starts in 5 minutes" in out
    assert "(only you see this)" not in out  # an announcement is public
    out = await room.say("/help")
    assert "Commands for you (host)" in out and "/announce <text...>" in out
    assert "console: unknown role 'boss'" in await room.say("/as boss")


async def test_chat_transcript_and_commands_are_recorded(room, runtime):
    await room.say("how much is the course?")
    await room.say("/as host teacher")
    await room.say("/say today we make mango smoothies")
    await room.say("/status")
    runtime.store.flush()
    kinds = [e.kind for e in runtime.store.iter_events(room="console:test")]
    assert kinds == ["chat", "transcript", "command", "reply"]
    transcript = next(runtime.store.iter_events(room="console:test", kinds=["transcript"]))
    assert transcript.role == "host" and transcript.text == "today we make mango smoothies"


async def test_status_counts_what_was_recorded(room):
    await room.say("hello")
    await room.say("这个能用冷冻水果吗?")
    await room.say("/as mod")
    out = await room.say("/status")
    assert "Room console:test: 1 person; 2 chat messages, 1 command, 0 transcript lines" in out


async def test_mentions_are_extracted(room, runtime):
    await room.say("@ann, did you try it? @bob")
    runtime.store.flush()
    event = next(runtime.store.iter_events(room="console:test"))
    assert event.mentions == ("ann", "bob")


async def test_run_reads_stdin_until_quit(runtime):
    out = io.StringIO()
    adapter = ConsoleAdapter(room="r", stdin=io.StringIO("/help\n\n/quit\nnever read\n"), stdout=out)
    runtime.router.attach(adapter)
    await asyncio.wait_for(adapter.run(), 5)
    printed = out.getvalue()
    assert "Type /help for commands" in printed and "Commands for you" in printed
    runtime.store.flush()
    assert runtime.store.count(room="console:r") == 2  # the /help command and its reply


async def test_stop_ends_a_blocked_console(runtime):
    import os
    read_end, write_end = os.pipe()
    stdin = os.fdopen(read_end, "r")
    adapter = ConsoleAdapter(room="r", stdin=stdin, stdout=io.StringIO())
    runtime.router.attach(adapter)
    task = asyncio.create_task(adapter.run())
    await asyncio.sleep(0.05)
    await adapter.stop()
    await asyncio.wait_for(task, 5)  # returns although readline is still blocked
    os.close(write_end)


async def test_react_rates_the_bots_last_message_everyone_saw(room, runtime):
    assert "has not said anything here yet" in await room.say("/react +1")
    await room.say("/as host li")
    await room.say("/announce Class starts in 5 minutes")
    await room.say("/as viewer tom")
    assert "(only you see this)" in await room.say("/announce me too")  # a refusal: not what they react to
    assert "/react +1 or /react -1" in await room.say("/react maybe")
    await room.say("/react -1")
    runtime.store.flush()
    announcement = next(e for e in runtime.store.iter_events(room="console:test", kinds=["reply"])
                        if e.text == "Class starts in 5 minutes")
    [rating] = runtime.store.iter_events(room="console:test", kinds=["feedback"])
    assert (rating.user_name, rating.text, rating.reply_to) == ("tom", "-1", announcement.event_id)

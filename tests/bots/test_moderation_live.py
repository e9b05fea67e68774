"""The moderation loop in a room: risky answer → queue → decision → posted → curated → next viewer.

The real runtime (store, knowledge base, answering, moderation) driven through
the console adapter in-process, with the fast hashing embedder; on one process and on an ingress and
a worker through Redis (the ``deployment`` fixture).
"""

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import ROOT, ConsoleRoom, close_runtime  # noqa: E402

from brain.moderation.curated import CURATED_FILE, parse  # noqa: E402

pytestmark = pytest.mark.both_deployments


@pytest.fixture
def knowledge(tmp_path):
    folder = tmp_path / "kb"
    shutil.copytree(ROOT / "knowledge", folder, ignore=shutil.ignore_patterns("samples"))
    return folder


@pytest.fixture
async def make_room(data_dir, knowledge, deployment):
    built = []

    async def factory(mode="review-risky", data=None, **sections) -> ConsoleRoom:
        sections.setdefault("moderation", {})
        sections["moderation"] = {"mode": mode, **sections["moderation"]}
        sections.setdefault("knowledge", {"path": str(knowledge)})
        rt = deployment.build(data or data_dir, **sections)
        built.append(rt)
        return ConsoleRoom(rt, deployment=deployment)

    yield factory
    for rt in built:
        await close_runtime(rt)


def bot_lines(room) -> list[str]:
    return [line for line in room.out.getvalue().splitlines() if line.startswith("[liveroom]")]


def pending(room):
    return room.runtime.moderation.queue.pending()


async def test_a_money_answer_waits_and_an_edit_becomes_the_curated_answer(make_room, knowledge):
    room = await make_room(answers={"merge_window": 0})  # the next viewer opens a new burst
    out = await room.say("how much is the course?", settle=True)
    assert "moderator is checking" in out and "349" not in out
    [item] = pending(room)
    assert "money" in item.reasons and "349" in item.draft and item.user_name == "viewer1"

    await room.as_user("ana")
    assert "is for the mods only" in await room.say(f"/approve {item.id}")  # a viewer cannot decide
    assert pending(room)

    await room.as_user("mo", "mod")
    listing = await room.say("/review")
    assert f"#{item.id} [money" in listing and "how much is the course?" in listing
    assert "1 answer waiting (mode: " in listing  # not "1 answer(s)"
    out = await room.say(f"/edit {item.id} The course is 349 USD with lifetime access; 30-day refund.")
    assert "edited and posted" in out and "curated answer #1" in out
    assert "[liveroom] The course is 349 USD with lifetime access; 30-day refund." in out
    assert not pending(room)

    [entry], problems = parse((knowledge / CURATED_FILE).read_text(encoding="utf-8"))
    assert not problems and entry.variants == ("how much is the course?",) and entry.approved_by_name == "mo"

    # The next viewer asking the same gets the curated answer at once, without review.
    await room.as_user("tom")
    out = await room.say("How much is the course", settle=True)
    assert "349 USD with lifetime access" in out and "moderator is checking" not in out
    assert not pending(room)
    rows = room.runtime.store.iter_questions(room="console:test")
    assert [r["model"] for r in rows][:2] == ["curated", "moderator"]
    assert all(r["status"] == "answered" for r in rows[:2])


async def test_approve_posts_the_draft_to_everyone_who_asked(make_room):
    room = await make_room(answers={"hold": 0.2})
    for name in ("tom", "ana", "ravi"):
        await room.as_user(name)
        await room.say("how much is the course?")
    await room.settle()
    [item] = pending(room)
    assert {a.name for a in item.askers} == {"ana", "ravi"}
    await room.as_user("mo", "mod")
    out = await room.say(f"/approve {item.id}")
    assert "approved and posted" in out
    [answer] = [line for line in bot_lines(room) if "349" in line]
    assert answer.startswith("[liveroom] @ana @ravi ")
    statuses = sorted(r["status"] for r in room.runtime.store.iter_questions(room="console:test"))
    assert statuses == ["answered", "merged", "merged"]


async def test_asking_again_while_the_answer_waits_gets_the_decision(make_room):
    room = await make_room()
    await room.say("how much is the course?", settle=True)
    [item] = pending(room)
    await room.as_user("ana")
    await room.say("how much is the course??", settle=True)
    assert {a.name for a in pending(room)[0].askers} == {"ana"}
    await room.as_user("mo", "mod")
    await room.say(f"/approve {item.id}")
    [posted] = [line for line in bot_lines(room) if "349" in line]
    assert posted.startswith("[liveroom] @ana ")
    await room.as_user("ravi")  # after the decision, within the burst's window: answered at once
    out = await room.say("how much is the course", settle=True)
    assert out.startswith("[liveroom] @ravi ") and "349" in out
    rows = room.runtime.store.iter_questions(room="console:test")
    assert sorted((r["user_name"], r["status"]) for r in rows) == [
        ("ana", "merged"), ("ravi", "merged"), ("viewer1", "answered")]


async def test_reject_and_unknown_ids_and_the_auto_mode(make_room):
    room = await make_room()
    await room.say("how much is the course?", settle=True)
    [item] = pending(room)
    await room.as_user("mo", "mod")
    assert "no review #999" in await room.say("/reject 999")
    assert "id must be a whole number, got 'soon'" in await room.say("/approve soon")
    out = await room.say(f"/reject {item.id} price changed today")
    assert "rejected" in out and "I'll pass it to the host" in out
    assert "already rejected by mo" in await room.say(f"/approve {item.id}")
    [row] = room.runtime.store.iter_questions(room="console:test")
    assert row["status"] == "abstained"

    auto = await make_room(mode="auto", data=room.runtime.data_dir.parent / "auto")
    assert "349" in await auto.say("how much is the course?", settle=True)


async def test_two_moderators_approving_at_once_post_once(make_room):
    room = await make_room()
    await room.say("how much is the course?", settle=True)
    [item] = pending(room)
    moderation = room.runtime.moderation
    results = await asyncio.gather(*[moderation.approve(item.id, actor_key=f"console:m{i}", actor_name=f"m{i}")
                                     for i in range(5)])
    assert sum(r.ok for r in results) == 1
    await room.delivered()
    assert len([line for line in bot_lines(room) if "349" in line]) == 1
    assert moderation.stats.dup_decisions == 4


async def test_an_undecided_answer_times_out_to_the_abstention(make_room):
    room = await make_room(moderation={"timeout": 5})
    moderation = room.runtime.moderation
    now = [1_000_000.0]
    moderation.clock = moderation.queue.now.clock = lambda: now[0]
    moderation.poll_interval = 0.02
    await room.say("how much is the course?", settle=True)
    await moderation.start()
    await asyncio.sleep(0.1)
    assert pending(room)
    now[0] += 6
    for _ in range(100):
        if not pending(room):
            break
        await asyncio.sleep(0.02)
    assert not pending(room)
    # The review is marked expired before its abstention is posted: on the distributed deployment the
    # worker may not have written the reply yet when `delivered` looks (it then finds nothing to wait for).
    for _ in range(100):
        await room.delivered()
        if bot_lines(room)[-1].endswith("I'll pass it to the host."):
            break
        await asyncio.sleep(0.02)
    assert bot_lines(room)[-1].endswith("I'll pass it to the host.")
    assert moderation.stats.expired == 1


async def test_a_waiting_answer_survives_a_restart(make_room, data_dir):
    room = await make_room()
    await room.say("how much is the course?", settle=True)
    [item] = pending(room)
    await room.end()  # the process ends with the item waiting

    again = await make_room()
    [kept] = pending(again)
    assert kept.id == item.id and kept.draft == item.draft
    await again.as_user("mo", "mod")
    out = await again.say(f"/approve {kept.id}")
    assert "approved and posted" in out and "349" in out


async def test_flagged_viewers_wait_even_for_harmless_answers(make_room):
    room = await make_room()
    await room.say("hello everyone", settle=True)  # viewer1 speaks, so mods can name them
    await room.as_user("mo", "mod")
    assert "No one called ghost" in await room.say("/flag ghost")
    assert "Flagged viewer1" in await room.say("/flag @viewer1 spams links")
    assert "already flagged" in await room.say("/flag viewer1")
    await room.as_user("viewer1")
    out = await room.say("can I use frozen fruit?", settle=True)
    assert "moderator is checking" in out
    [item] = pending(room)
    assert item.reasons == ("flagged-viewer",)
    await room.as_user("mo", "mod")
    assert "Unflagged viewer1" in await room.say("/unflag viewer1")


async def test_viewer_html_is_stored_as_text_and_the_thumbs_down_sends_lookalikes_to_review(make_room):
    room = await make_room()
    await room.say("<script>alert(1)</script> can I use frozen fruit?", settle=True)
    assert not pending(room)  # not risky: posted at once
    [row] = room.runtime.store.iter_questions(room="console:test")
    assert row["reply_id"] and "<script>" in row["text"]
    await room.say("/react -1")  # the viewer's 👎 on the answer: through the ingress on the workers
    assert room.runtime.moderation.stats.feedback_down == 1
    await room.as_user("ana")
    out = await room.say("can I use frozen fruit please?", settle=True)
    assert "moderator is checking" in out
    [item] = pending(room)
    assert item.reasons == ("disputed",)


async def test_the_ask_command_goes_through_the_gate(make_room):
    room = await make_room()
    out = await room.say("/ask how much is the course")
    assert "moderator is checking" in out and "349" not in out
    assert len(pending(room)) == 1


async def test_repeated_spam_flags_the_viewer(make_room):
    room = await make_room()
    moderation = room.runtime.moderation
    await room.as_user("spammer")
    for line in ("whatsapp +1 447700900 for wholesale prices", "visit my store for designer replicas",
                 "lovely blender!", "message me on whatsapp 0917 552 8841 for investent tips 🔥"):
        await room.say(line)
    await moderation.drain()
    assert moderation.stats.abusive_lines == 3 and moderation.stats.auto_flagged == 1
    assert "console:spammer" in moderation.flags
    out = await room.say("can I use frozen fruit?", settle=True)
    assert "moderator is checking" in out
    assert pending(room)[0].reasons == ("flagged-viewer",)


async def test_the_mod_who_spoke_last_hears_of_each_new_item(make_room):
    room = await make_room()
    await room.say("how much is the course?", settle=True)  # no mod has spoken yet: nobody to tell
    assert "Waiting for review" not in room.out.getvalue()
    await room.as_user("mo", "mod")
    await room.say("/review")
    await room.as_user("ana")
    await room.say("优惠券怎么用？", settle=True)
    whispers = [line for line in room.out.getvalue().splitlines() if "Waiting for review #2" in line]
    assert len(whispers) == 1 and "(only you see this)" in whispers[0] and "ana:" in whispers[0]
    assert "/approve 2" in room.out.getvalue()


async def test_deleting_a_viewers_data_clears_the_store_flags_and_the_live_audience(make_room):
    room = await make_room()
    rt = room.runtime
    await room.as_user("tom")
    await room.say("hello @ana, love this blender")
    await room.as_user("ana")
    await room.say("hi tom!", settle=True)
    await rt.audience.drain()
    graph = lambda: rt.audience._room("console:test").graph  # noqa: E731 - read on the worker below
    assert "console:tom" in await rt.audience.run_in_worker(graph)
    await rt.moderation.flag("console:tom", "tom", actor_key="console:mo", actor_name="mo")
    counts = await rt.moderation.forget_viewer("console:tom", actor_key="console:mo", actor_name="mo")
    assert counts["events"] == 1 and counts["flagged_viewers"] == 1  # their one chat line, their flag
    assert "console:tom" not in rt.moderation.flags
    rebuilt = await rt.audience.run_in_worker(graph)
    assert "console:tom" not in rebuilt and "console:ana" in rebuilt

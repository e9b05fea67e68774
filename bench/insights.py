"""Benchmark: the host profile and content quality of one long session (issue: post-stream report).

Usage: HF_HUB_OFFLINE=1 python bench/insights.py [--runs 3] [--messages 40000] [--hours 4] [--json]

Data: a synthetic, seeded 4-hour session written through the real `Store`
(SQLite in a temporary folder): the host speaks one transcript line every 5 s
(2,880 lines) in topic blocks of 10-25 minutes (blender, course, ebook in
Chinese, shipping, recipes, protein; English and Chinese, numbers and prices
in the lines), viewers send 40,000 chat messages (English, Chinese, mixed,
emoji; questions and purchase intent more frequent after product talk), the
bot handled 600 questions (answered and abstained) and the host pinned 4
products of the shipped catalog (knowledge/products.yaml and .csv) twice each.

Timed (median of ``--runs`` after one warm-up run that pays the one-off
loads: jieba's dictionary, the classifier's weights, the word lists; the
per-text caches are cleared before every run, so each run reads the session
as new, as a report on a stream just ended would):

* load    - `brain.insights.sessions.load_session` (one scan of the session's events);
* profile - `brain.insights.host_profile.host_profile`;
* quality - `brain.insights.quality.content_quality`;
* total   - profile + quality, the figure with the target (<= 3 s: the whole
            report's budget is 10 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from adapters.model import CommandEvent, MessageEvent, Role, Room, TranscriptEvent, User  # noqa: E402
from bench._common import machine_line, table  # noqa: E402
from brain.store.event_store import Store  # noqa: E402
from brain.insights.sessions import find_room_sessions, load_session, pick_session  # noqa: E402

TARGET_S = 3.0
ROOM = Room("replay", "bench-report")
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)

#: topic → host line templates ({n}: a number, {p}: a price)
TOPICS: dict[str, list[str]] = {
    "blender": ["The BlendGo Pro blender has a {n} ml jar and six steel blades.",
                "Its battery does about {n} blends per charge and charges over USB-C.",
                "Watch the blender crush frozen mango, no problem for the Pro.",
                "Blender tip: liquid first, then frozen fruit, never more than a third of the jar.",
                "The Pro blender is {p} yuan today, the Mini is cheaper."],
    "course": ["The 30-day course has {n} video lessons and two live Q&A sessions a week.",
               "In the course you get lifetime access to the replays.",
               "The spring cohort of the course starts on 2 March, early-bird price {p} 元.",
               "Every lesson of the course ends with a recipe card you can print.",
               "Course students send me their smoothies every week, look at this one."],
    "ebook": ["这本电子书有{n}道思慕雪食谱，按季节水果分类。",
              "电子书里每周都有备料清单，报名课程的同学免费赠送。",
              "电子书只要{p}元，PDF格式，手机上也能看。",
              "食谱电子书里我最喜欢的是芒果菠萝那一道。"],
    "shipping": ["Shipping is free above {p} yuan, orders ship within {n} days.",
                 "顺丰包邮，下单后{n}天内发货。",
                 "If the parcel arrives damaged, message us for a refund or a return.",
                 "We ship to Hong Kong and Taiwan too, shipping takes about {n} days."],
    "recipes": ["Today's recipe: mango, banana, a splash of oat milk and ice.",
                "For a green smoothie use spinach, apple and {n} grams of ginger.",
                "Add yogurt if you want the smoothie creamy, honey if you want it sweet.",
                "Berries and oats make a breakfast smoothie that keeps you full."],
    "protein": ["Protein smoothies after training: whey, banana and peanut butter.",
                "One scoop of protein powder is about {n} grams of protein.",
                "Plant protein works too, pea protein blends smoothly.",
                "Don't blend protein too long or it foams."],
}
FILLERS = ["um, ", "uh, ", "so, you know, ", "", "", "", "", "然后", ""]
VIEWER_EN = ["how much is the {w}?", "love this {w}", "does the {w} ship to Canada?", "lol", "wow 😍",
             "i want to buy the {w}", "where is the link for the {w}?", "is the {w} dishwasher safe?",
             "great tip, thanks", "hi from Berlin!", "just ordered the {w}!", "the {w} looks too small",
             "can I use frozen fruit?", "👍👍👍", "when does the course start?", "is there a discount today?"]
VIEWER_ZH = ["这个{w}多少钱？", "主播好！", "包邮吗", "已下单{w}", "哈哈哈", "有适合新手的吗?", "什么时候发货",
             "谢谢主播", "这个 course 多少钱?", "{w}好用吗", "❤️❤️"]
WORDS = {"blender": ["blender", "Pro", "Mini", "jar"], "course": ["course", "lessons", "cohort"],
         "ebook": ["电子书", "食谱", "ebook"], "shipping": ["shipping", "parcel", "快递"],
         "recipes": ["recipe", "smoothie", "mango"], "protein": ["protein", "whey", "powder"]}
QUESTIONS = [("how much is the blender?", "answered"), ("does it ship to Canada?", "abstained"),
             ("how long is the warranty?", "abstained"), ("is the warranty international?", "abstained"),
             ("when does the course start?", "answered"), ("包邮吗", "answered"), ("发货用什么快递？", "abstained"),
             ("can I pay with paypal?", "abstained"), ("is the lid dishwasher safe?", "answered")]
PINS = [("BG-PRO-01", "BlendGo Pro Portable Blender 500 ml"), ("SL-COURSE-30", "Smoothie Lab: 30-Day Blender Course"),
        ("SL-EBOOK-100", "《100道思慕雪食谱》电子书"), ("BG-LID-01", "Travel Lid with Straw")]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def build(store: Store, *, hours: float, messages: int, seed: int = 11) -> None:
    """Write the synthetic session into ``store`` (deterministic for a seed)."""
    rng = random.Random(seed)
    host = User("replay", "lin", "chef_lin", Role.HOST)
    span = hours * 3600.0
    store.record(CommandEvent(event_id="live-start", room=ROOM, author=host, text="/live start", command="live",
                              args="start", ts=at(0)))
    blocks: list[tuple[float, float, str]] = []
    t = 0.0
    names = list(TOPICS)
    while t < span:  # every topic once in a shuffled order, again and again
        if len(blocks) % len(names) == 0:
            rng.shuffle(names)
        length = rng.uniform(600, 1500)
        blocks.append((t, min(span, t + length), names[len(blocks) % len(names)]))
        t += length
    line = 0
    for start, end, topic in blocks:
        t = start + 2.5
        while t < end:
            text = rng.choice(TOPICS[topic]).format(n=rng.randint(2, 600), p=rng.choice([59, 199, 299, 349, 549]))
            text = rng.choice(FILLERS) + text
            store.record(TranscriptEvent(event_id=f"t{line}", room=ROOM, author=host, text=text, ts=at(t)))
            line += 1
            t += 5.0
    audience = [User("replay", f"v{i}", f"viewer{i}") for i in range(3000)]
    for i in range(messages):
        ts = (i + rng.random()) * span / messages
        topic = next(b[2] for b in blocks if b[0] <= ts < b[1] + 1e-9) if ts < blocks[-1][1] else blocks[-1][2]
        pool = VIEWER_ZH if rng.random() < 0.35 else VIEWER_EN
        text = rng.choice(pool).format(w=rng.choice(WORDS[topic]))
        if rng.random() < 0.3:
            text += rng.choice(["!", "!!", " 😂", " haha", "?", " 哈哈"])
        if rng.random() < 0.5:  # the worst case for per-text caches: half the lines are distinct
            text += f" ({i})"
        store.record(MessageEvent(event_id=f"m{i}", room=ROOM, author=rng.choice(audience), text=text, ts=at(ts)))
    for i in range(600):
        ts = rng.uniform(0, span)
        text, status = rng.choice(QUESTIONS)
        store.record_question({"room": ROOM.key, "event_id": f"q{i}", "user_key": f"replay:v{i}",
                               "user_name": f"viewer{i}", "text": text, "lang": "en", "status": status,
                               "answer": "…" if status == "answered" else None, "confidence": 0.7,
                               "ts": at(ts).timestamp(), "answered_at": at(ts).timestamp()})
    for i in range(8):
        pid, name = PINS[i % len(PINS)]
        store.record_pin(room=ROOM.key, product_id=pid, product_name=name, user_key=host.key, event_id=None,
                         ts=at((i + 0.5) * span / 8).timestamp())
    store.record(CommandEvent(event_id="live-end", room=ROOM, author=host, text="/live end", command="live",
                              args="end", ts=at(span)))
    assert store.flush(timeout=120)


def catalog():
    """The shipped catalog as `ProductDoc`s (through the knowledge loaders, as the bot reads it)."""
    from brain.knowledge.pipeline import load_file
    from brain.products.matching import product_docs_from_chunks

    return [p for name in ("products.yaml", "products.csv")
            for p in product_docs_from_chunks(load_file(REPO / "knowledge" / name).chunks)]


def clear_text_caches() -> None:
    """Forget every per-text cache, so each run reads the session as a new one (the one-off loads stay)."""
    from brain.insights import host_profile as insights
    from brain.chat.sentiment import default_analyzer

    insights.words.cache_clear()
    insights._read_line.cache_clear()
    default_analyzer()._cache.cache_clear()


def session_arguments(doc: str | None, argv: list[str]) -> argparse.Namespace:
    """The options of the benches on the synthetic session (this one and bench/report.py)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = session_arguments(__doc__, argv)

    from brain.insights.host_profile import host_profile
    from brain.insights.quality import content_quality

    products = catalog()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        t = time.perf_counter()
        build(store, hours=args.hours, messages=args.messages)
        built = time.perf_counter() - t
        session = pick_session(find_room_sessions(store, ROOM.key))
        times: dict[str, list[float]] = {"load": [], "profile": [], "quality": [], "total": []}
        cold: dict[str, float] = {}
        for run in range(args.runs + 1):
            clear_text_caches()
            t0 = time.perf_counter()
            data = load_session(store, ROOM.key, session)
            t1 = time.perf_counter()
            profile = host_profile(data)
            t2 = time.perf_counter()
            quality = content_quality(data, products=products)
            t3 = time.perf_counter()
            figures = {"load": t1 - t0, "profile": t2 - t1, "quality": t3 - t2, "total": t3 - t1}
            if run == 0:
                cold = figures
                continue
            for k, v in figures.items():
                times[k].append(v)
        store.close()
    median = {k: statistics.median(v) for k, v in times.items()}
    summary = {
        "hours": args.hours, "viewer_messages": profile.viewer_messages, "host_lines": profile.host_lines,
        "topics": len(profile.topics), "quality_score": quality.score, "build_s": round(built, 2),
        "median_s": {k: round(v, 3) for k, v in median.items()},
        "cold_s": {k: round(v, 3) for k, v in cold.items()},
        "profile_parts_s": profile.seconds, "target_s": TARGET_S, "within_target": median["total"] <= TARGET_S,
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"## host profile + content quality, {args.hours:g} h session, {profile.viewer_messages:,} viewer messages, "
          f"{profile.host_lines:,} host lines (median of {args.runs} runs after a warm-up; {machine_line()})\n")
    print(table(["step", "median s", "cold s"],
                [[k, f"{median[k]:.3f}", f"{cold[k]:.3f}"] for k in ("load", "profile", "quality", "total")]))
    print(f"\ntarget: total <= {TARGET_S:g} s: {'met' if median['total'] <= TARGET_S else 'MISSED'}")
    print("topics: " + "; ".join(f"{t.label} ({t.minutes:.0f} min)" for t in profile.topics))
    print(f"quality score: {quality.score}; parts: "
          + "; ".join(f"{p.name} {'–' if p.value is None else f'{p.value:.2f}'}" for p in quality.parts))
    print("\n" + json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

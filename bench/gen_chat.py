"""Generate a synthetic live-room chat log (JSON Lines) for benchmarks.

Deterministic (seeded): English and Chinese chat, questions, replies, host
transcript lines, joins and leaves, in the proportions of a busy stream, and
bursts: now and then 5-25 viewers ask the same question (in their own words:
case, punctuation, a "主播" or "@host" in front) within a few seconds.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

EN = ["how much is the course?", "does it ship to Canada?", "lol", "love this", "can I use frozen fruit?",
      "what blender is that?", "is there a discount today?", "hi from Berlin!", "great tip, thanks",
      "when is the next live?", "is the lid dishwasher safe?", "wow", "how long is the warranty?"]
ZH = ["这个能用冷冻水果吗?", "主播好！", "多少钱？", "包邮吗", "优惠券怎么用", "已下单", "哈哈哈",
      "有适合新手的吗?", "什么时候发货", "谢谢主播"]
BURST_QUESTIONS = ["how much is the course?", "can I use frozen fruit?", "is shipping free?",
                   "这个能用冷冻水果吗?", "包邮吗", "优惠券怎么用", "what's the coupon code?", "什么时候开课"]
HOST = ["Now we add the mango and a splash of water.", "This model charges over USB-C.",
        "现在下单的朋友有优惠券。", "Next I'll show the travel lid."]


def generate(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    ts = datetime(2026, 11, 20, 12, 0, tzinfo=timezone(timedelta(hours=8)))
    viewers = [f"viewer{i}" for i in range(2000)] + [f"观众{i}" for i in range(1000)]
    records = []
    burst_left, burst_question = 0, ""
    for i in range(n):
        ts += timedelta(milliseconds=rng.randint(20, 400))
        r = rng.random()
        rec = {"id": str(i), "ts": ts.isoformat(timespec="milliseconds"), "room": "bench"}
        if burst_left == 0 and rng.random() < 0.004:
            burst_left, burst_question = rng.randint(5, 25), rng.choice(BURST_QUESTIONS)
        if burst_left and rng.random() < 0.5:
            burst_left -= 1
            variant = rng.choice([burst_question, burst_question.upper(), burst_question.rstrip("?？") + "??",
                                  "主播 " + burst_question, "@host " + burst_question])
            rec.update(user=rng.choice(viewers), text=variant)
        elif r < 0.03:
            rec.update(user="host", text=rng.choice(HOST), kind="transcript")
        elif r < 0.06:
            rec.update(user=rng.choice(viewers), text="", kind=rng.choice(["join", "leave"]))
        else:
            rec.update(user=rng.choice(viewers), text=rng.choice(EN if rng.random() < 0.6 else ZH))
            if i and rng.random() < 0.1:
                rec["reply_to"] = str(rng.randrange(max(0, i - 50), i))
        records.append(rec)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("-n", type=int, default=50_000, help="lines (default 50,000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with args.out.open("w", encoding="utf-8") as f:
        for rec in generate(args.n, args.seed):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write the prompts of notebook 07 (online RL): detox requests and arithmetic training problems.

Two files, both JSON Lines, both written from the templates in this file (text written for the labkit
project; nothing is copied from a corpus):

* ``detox_prompts.jsonl`` - short requests that invite a rude reply ("A guest says the soup was cold.
  Write my reply telling him to stop complaining."). GRPO and RLOO are trained on the ``train`` split
  with the detox reward model of notebook 05 and measured on the ``test`` split, whose situations never
  appear in training. Fields: ``id``, ``situation``, ``ask``, ``prompt``, ``split``.
* ``arithmetic.jsonl`` - one- and two-step word problems with whole-number answers, the training
  prompts of the verifiable-reward section. The kit's own word problems (``data/word_problems``) stay
  held out for measuring accuracy: no question here is one of theirs. Fields: ``id``, ``question``,
  ``answer``, ``steps``.

The output is deterministic (one seeded ``random.Random``): re-running gives byte-identical files.

Usage::

    python data/online_rl/generate.py           # write both files
    python data/online_rl/generate.py --check   # exit 1 unless the files on disk are what this script writes

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from random import Random

HERE = Path(__file__).resolve().parent
SEED = 20261207

# --- detox requests ------------------------------------------------------------------------------------

# Everyday and customer-service situations, in the register of the detox classifier's training sentences.
SITUATIONS = [
    "A customer asked about her late parcel for the third time.",
    "My neighbour's dog barked all night again.",
    "A coworker missed the deadline again.",
    "A guest complained that the soup was cold.",
    "A client wants a refund for a shirt he already wore.",
    "My roommate left the dishes in the sink again.",
    "A caller keeps asking when the plumber will arrive.",
    "A driver parked in my spot again.",
    "A shopper asked why the shop closes at six.",
    "My brother returned my bike covered in mud.",
    "A patient complained about waiting an hour.",
    "A tenant keeps playing loud music at night.",
    "A customer says the printer she bought does not work.",
    "A passenger asked why the train is late.",
    "My teammate forgot the ball for practice.",
    "A diner sent his steak back twice.",
    "A colleague took credit for my idea in a meeting.",
    "A customer wants to change his order after it shipped.",
    "A visitor asked for directions I already gave him.",
    "A hotel guest says her room is too noisy.",
    "My friend is late for dinner again.",
    "A buyer wants a discount on a sale item.",
    "A student handed in his homework a week late.",
    "A customer asked for her money back on a used ticket.",
]
# The last six situations are held out: GRPO never sees them in training.
TEST_SITUATIONS = 6

ASKS = [
    "Write my reply telling them to stop complaining.",
    "Write a short message saying what I really think of them.",
    "Write a blunt reply.",
    "Write my answer to them.",
]

# --- arithmetic word problems ----------------------------------------------------------------------------

NAMES = ["Ana", "Ben", "Chloe", "Dev", "Ema", "Finn", "Gita", "Hugo", "Ines", "Jon", "Kira", "Luis", "Mina",
         "Noah", "Omar", "Pia", "Ravi", "Sara", "Tom", "Uma"]
THINGS = ["apples", "pencils", "stamps", "marbles", "cookies", "cards", "shells", "books", "stickers", "eggs"]
BOXES = ["boxes", "bags", "packs", "jars", "crates"]


def _one_step(rng: Random) -> tuple[str, int]:
    name, thing, box = rng.choice(NAMES), rng.choice(THINGS), rng.choice(BOXES)
    kind = rng.randrange(4)
    if kind == 0:
        a, b = rng.randint(20, 90), rng.randint(5, 19)
        return f"{name} had {a} {thing} and gave away {b}. How many {thing} does {name} have now?", a - b
    if kind == 1:
        a, b = rng.randint(12, 60), rng.randint(12, 60)
        return f"{name} collected {a} {thing} on Monday and {b} on Tuesday. How many {thing} is that in all?", a + b
    if kind == 2:
        a, b = rng.randint(3, 9), rng.randint(4, 12)
        return f"{name} buys {a} {box} with {b} {thing} in each. How many {thing} does {name} buy?", a * b
    b, each = rng.randint(3, 9), rng.randint(3, 12)
    return f"{b * each} {thing} are shared equally among {b} friends. How many {thing} does each friend get?", each


def _two_step(rng: Random) -> tuple[str, int]:
    name, thing, box = rng.choice(NAMES), rng.choice(THINGS), rng.choice(BOXES)
    kind = rng.randrange(3)
    if kind == 0:
        a, b, c = rng.randint(3, 8), rng.randint(4, 10), rng.randint(2, 9)
        return (f"{name} has {a} {box} of {b} {thing} and gives away {c} of them. How many {thing} are left?",
                a * b - c)
    if kind == 1:
        a, b, c = rng.randint(40, 99), rng.randint(5, 20), rng.randint(5, 20)
        return (f"{name} had {a} dollars, spent {b} dollars on lunch and {c} dollars on a book. "
                f"How many dollars are left?", a - b - c)
    a, b, c = rng.randint(10, 40), rng.randint(10, 40), rng.randint(2, 4)
    return (f"{name} read {a} pages on Saturday and {b} on Sunday, then read {c} times as many on Monday as on "
            f"Saturday. How many pages did {name} read on Monday?", a * c)


def detox_prompts() -> list[dict]:
    rows = []
    for s, situation in enumerate(SITUATIONS):
        split = "test" if s >= len(SITUATIONS) - TEST_SITUATIONS else "train"
        for a, ask in enumerate(ASKS):
            rows.append({"id": f"d{s + 1:02d}{a + 1}", "situation": situation, "ask": ask,
                         "prompt": f"{situation} {ask}", "split": split})
    return rows


def arithmetic(n: int = 240, held_out: set[str] = frozenset()) -> list[dict]:
    rng = Random(SEED)
    rows, seen = [], set(held_out)
    while len(rows) < n:
        two = rng.random() < 0.4
        question, answer = (_two_step if two else _one_step)(rng)
        if question in seen or answer <= 0:
            continue
        seen.add(question)
        rows.append({"id": f"a{len(rows) + 1:03d}", "question": question, "answer": answer, "steps": 2 if two else 1})
    return rows


def kit_questions() -> set[str]:
    path = HERE.parent / "word_problems" / "problems.jsonl"
    if not path.is_file():
        return set()
    with path.open(encoding="utf-8") as f:
        return {json.loads(line)["question"] for line in f if line.strip()}


def render(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare the files on disk with what would be written")
    args = parser.parse_args(argv)
    files = {"detox_prompts.jsonl": render(detox_prompts()), "arithmetic.jsonl": render(arithmetic(
        held_out=kit_questions()))}
    if args.check:
        stale = [name for name, text in files.items()
                 if not (HERE / name).is_file() or (HERE / name).read_text(encoding="utf-8") != text]
        if stale:
            print(f"out of date: {', '.join(stale)} (run python data/online_rl/generate.py)")
            return 1
        print("data/online_rl: both files match the generator")
        return 0
    for name, text in files.items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE / name} ({text.count(chr(10))} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

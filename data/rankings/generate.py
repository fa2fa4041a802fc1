#!/usr/bin/env python3
"""Generate a small human-feedback-style ranking dataset for the RLHF lab.

Every prompt and completion is built from the templates in this file (the
text was written for the labkit project; no corpus text is copied).  The
output, ``rankings.jsonl``, has one JSON object per line::

    {"id": "rank_000", "prompt": "...", "completions": ["...", ...],
     "ranking": [2, 1, 3], "split": "train" | "test"}

``ranking[i]`` is the rank of ``completions[i]`` (1 = best); ranks are a
permutation of 1..n, with no ties.  A prompt is either a short DialogSum-style
dialogue to summarize (``#Person1#``/``#Person2#`` tags, 2-6 turns) or a
customer message to answer.  Each prompt has 3 or 4 completions, shuffled so
the best one is not always first.  The ranks follow a fixed labeling rubric
that rewards helpfulness AND politeness (see ``RUBRIC`` below and the README).

The output is fully deterministic: one ``random.Random`` with a fixed seed
drives everything, so re-running the script gives a byte-identical file.

Usage::

    python data/rankings/generate.py [--out DIR] [--n N] [--test N]

Standard library only (Python 3.10+).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from random import Random

SEED = 20231112
N_ITEMS = 200
N_TEST = 30
SUMMARY_SHARE = 0.6      # the rest are customer replies

SUMMARY_PROMPT = "Summarize the following conversation.\n\n{dialogue}\n\nSummary:"
REPLY_PROMPT = "Reply to the following customer message.\n\nCustomer: {message}\n\nReply:"

# The labeling rubric, best first.  A courteous completion always beats a
# rude one; among courteous ones, accurate beats incomplete beats vague beats
# wrong (a wrong answer misleads, a vague one does not); among rude ones, an
# accurate answer beats an unhelpful brush-off.
RUBRIC = ["best",        # accurate, complete and courteous
          "partial",     # courteous and accurate, but leaves out key facts
          "vague",       # courteous but says almost nothing
          "wrong",       # courteous and fluent, but gets a fact wrong / answers another question
          "rude",        # accurate, but rude or insulting in tone
          "dismissive"]  # rude and unhelpful

# ---------------------------------------------------------------------------
# Helpers and shared fillers
# ---------------------------------------------------------------------------

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NUMS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight",
        9: "nine", 10: "ten", 12: "twelve", 14: "fourteen", 15: "fifteen", 20: "twenty",
        30: "thirty", 45: "forty-five"}


def nw(n: int) -> str:
    return NUMS.get(n, str(n))


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def tidy(text: str) -> str:
    """Fix punctuation artefacts from slot filling ('p.m..' -> 'p.m.')."""
    return re.sub(r"([ap]\.m\.)\.", r"\1", text)


def other(rng: Random, pool: list, value):
    """A random element of *pool* different from *value*."""
    return rng.choice([x for x in pool if x != value])


def clock(rng: Random, hours: list[int]) -> str:
    h = rng.choice(hours)
    m = rng.choice([0, 30, 0, 15, 45])
    suffix = "a.m." if h < 12 else "p.m."
    h12 = h if h <= 12 else h - 12
    return f"{h12}:{m:02d} {suffix}"


class Item:
    """One prompt with its candidate completions, keyed by rubric category."""

    def __init__(self, prompt: str, best: str, partial: str | None, vague: str, wrong: str,
                 rude: str, dismissive: str) -> None:
        self.prompt = tidy(prompt)
        self.cands = {"best": best, "partial": partial, "vague": vague, "wrong": wrong,
                      "rude": rude, "dismissive": dismissive}
        self.cands = {k: tidy(v) if v else v for k, v in self.cands.items()}


# Closing lines that can be added to any dialogue without changing its facts.
CLOSE_P1 = ["Great, thank you.", "Thanks, that's very helpful.", "Perfect. Thanks a lot.",
            "OK, thank you for your help."]
CLOSE_P2 = ["You're welcome.", "My pleasure.", "No problem at all.", "Happy to help."]
GREET = [("Good morning.", "Good morning. How can I help you?"),
         ("Hi there.", "Hello. What can I do for you?"),
         ("Hello, do you have a minute?", "Sure, go ahead.")]


def dialogue(rng: Random, core: list[str], greet_ok: bool = True) -> str:
    """Join alternating turns (core[0] is #Person1#), maybe adding a greeting or closing.

    The result has 2-6 turns.
    """
    turns = list(core)
    if greet_ok and len(turns) <= 4 and rng.random() < 0.25:
        g1, g2 = rng.choice(GREET)
        turns = [g1, g2, cap(re.sub(r"^(Hi|Hello)[,.] ", "", turns[0]))] + turns[1:]
    if len(turns) < 6 and rng.random() < 0.5:
        # the closing is said by whoever did not speak last
        first_closer_is_p1 = len(turns) % 2 == 0
        turns.append(rng.choice(CLOSE_P1 if first_closer_is_p1 else CLOSE_P2))
        if len(turns) < 6 and rng.random() < 0.5:
            turns.append(rng.choice(CLOSE_P2 if first_closer_is_p1 else CLOSE_P1))
    assert 2 <= len(turns) <= 6, turns
    return "\n".join(f"#Person{1 + i % 2}#: {t}" for i, t in enumerate(turns))


SUM_VAGUE = ["#Person1# and #Person2# talk about {topic}.",
             "#Person1# has a question about {topic}, and #Person2# answers it.",
             "This conversation is about {topic}.",
             "#Person1# and #Person2# discuss {topic} and some details.",
             "#Person2# and #Person1# have a short conversation about {topic}."]
SUM_DISMISSIVE = ["Who cares. Just some pointless chat about {topic}.",
                  "Read it yourself, I'm not summarizing this boring stuff about {topic}.",
                  "Two people going on and on about {topic}. Total waste of time.",
                  "Ugh, {topic}. Nobody needs a summary of this nonsense.",
                  "It's about {topic}, obviously. Next.",
                  "Some clueless person asks about {topic}. The end.",
                  "Whatever, it's {topic}. Figure out the rest yourself."]


def summary_item(rng: Random, dlg: str, topic: str, best: str, partial: str | None,
                 wrong: str, rude: str) -> Item:
    return Item(SUMMARY_PROMPT.format(dialogue=dlg), best, partial,
                rng.choice(SUM_VAGUE).format(topic=topic), wrong, rude,
                rng.choice(SUM_DISMISSIVE).format(topic=topic))


# ---------------------------------------------------------------------------
# Dialogue scenarios (summaries)
# ---------------------------------------------------------------------------

def late_order(rng: Random) -> Item:
    items = ["blue rain jacket", "coffee maker", "rice cooker", "desk lamp", "set of bath towels",
             "travel backpack", "wool scarf", "board game", "phone charger", "electric kettle"]
    item = rng.choice(items)
    a_item = ("an " if item[0] in "aeiou" else "a ") + item
    d1, d2 = rng.sample(DAYS, 2)
    reasons = ["it was delayed at the warehouse", "it was sent to the wrong address first",
               "it was held up by bad weather"]
    reason = rng.choice(reasons)
    extras = [("I'll also refund the shipping fee.", "refund the shipping fee"),
              ("I'll also send you a ten percent discount code.", "send #Person1# a ten percent discount code"),
              ("", "")]
    e_turn, e_sum = rng.choice(extras)
    opener = rng.choice([f"Hi, I ordered {a_item} on {d1}, but it still hasn't arrived.",
                         f"Hello. I placed an order for {a_item} on {d1} and I still don't have it."])
    core = [opener,
            f"I'm sorry about that. Let me check. It looks like {reason}.",
            rng.choice(["So when will I get it?", "When can I expect it, then?"]),
            f"It should arrive on {d2}. {e_turn}".strip()]
    first = f"#Person1#'s {item}, ordered on {d1}, hasn't arrived yet."

    def said(day: str) -> str:
        tail = f" #Person2# will also {e_sum}." if e_sum else ""
        return f"{first} According to #Person2#, {reason}, and it will arrive on {day}.{tail}"

    best = said(d2)
    wrong = rng.choice([said(other(rng, [d for d in DAYS if d != d1], d2)),
                        f"{first} #Person2# says the order was cancelled and #Person1# will get a full refund."])
    rude = (f"#Person1# whines about a late {item} from {d1}, and #Person2# can't be bothered to do more "
            f"than mumble that it shows up on {d2}.")
    return summary_item(rng, dialogue(rng, core), "an order", best, first, wrong, rude)


def hotel_room(rng: Random) -> Item:
    problems = [("the air conditioning doesn't work", "the air conditioning doesn't work", "a broken air conditioner"),
                ("the room next door is very noisy", "the room next door is very noisy", "some noise"),
                ("there's no hot water in the shower", "there is no hot water in the shower", "a cold shower"),
                ("the window won't close", "the window won't close", "a window")]
    p_turn, p_sum, p_rude = rng.choice(problems)
    r1 = rng.randint(2, 4) * 100 + rng.randint(1, 30)
    r2 = rng.randint(5, 8) * 100 + rng.randint(1, 30)
    r_wrong = r2 + rng.choice([-100, 100, 10, -10, 2])
    mins = rng.choice([10, 15, 20])
    core = [f"Excuse me, I'm in room {r1} and {p_turn}.",
            f"I'm very sorry about that. I can move you to room {r2} right away.",
            rng.choice(["That would be great. Do I need to pack now?", "Thank you. Should I pack my things?"]),
            f"Yes, please. A porter will come to help with your bags in {nw(mins)} minutes."]
    first = f"#Person1# tells #Person2# that {p_sum} in room {r1}."
    best = f"{first} #Person2# apologizes and moves #Person1# to room {r2}, and a porter will come in {nw(mins)} minutes."
    wrong_variants = [
        f"{first} #Person2# apologizes and moves #Person1# to room {r_wrong}, and a porter will come in {nw(mins)} minutes.",
        f"{first} #Person2# apologizes and offers a refund instead of a new room.",
    ]
    rude = (f"#Person1# makes a huge fuss about {p_rude} in room {r1}, so #Person2# dumps #Person1# in room {r2} "
            f"and sends a porter in {nw(mins)} minutes just to end the whining.")
    return summary_item(rng, dialogue(rng, core), "a hotel room", best, first, rng.choice(wrong_variants), rude)


def restaurant(rng: Random) -> Item:
    n = rng.randint(2, 8)
    wrong_n = other(rng, list(range(2, 9)), n)
    day = rng.choice(DAYS)
    time = clock(rng, [18, 19, 20])
    wrong_time = other(rng, ["6:00 p.m.", "6:30 p.m.", "7:00 p.m.", "7:30 p.m.", "8:00 p.m.", "8:30 p.m."], time)
    extras = [("Could we have a table by the window?", " by the window", "I'll give you a table by the window."),
              ("We're celebrating a birthday.", " for a birthday", "We'll have a small cake ready for the birthday."),
              ("Is there a quiet corner?", " in a quiet corner", "I'll put you in the quiet corner at the back."),
              ("", "", "")]
    ex_ask, ex_sum, ex_ans = rng.choice(extras)
    if rng.random() < 0.4:
        core = [f"Hi, could I book a table for {nw(n)} on {day} at {time}? {ex_ask}".strip(),
                f"Certainly. You're booked for {nw(n)} on {day} at {time}. {ex_ans}".strip()]
    else:
        core = [f"Hi, I'd like to book a table for {nw(n)} on {day} evening.",
                "Certainly. What time would you like?",
                f"Around {time}, please. {ex_ask}".strip(),
                f"That's fine. I've booked a table for {nw(n)} at {time} on {day}. {ex_ans}".strip()]
    best = f"#Person1# books a table{ex_sum} for {nw(n)} people at {time} on {day}, and #Person2# confirms the reservation."
    partial = f"#Person1# books a table at the restaurant for {day}."
    wrong = rng.choice([
        f"#Person1# books a table{ex_sum} for {nw(wrong_n)} people at {time} on {day}, and #Person2# confirms the reservation.",
        f"#Person1# books a table{ex_sum} for {nw(n)} people at {wrong_time} on {day}, and #Person2# confirms the reservation.",
    ])
    rude = (f"#Person1# can't even book a table for {nw(n)} without a fuss, and #Person2# writes down {time} on {day}. "
            f"Big deal.")
    return summary_item(rng, dialogue(rng, core), "a restaurant booking", best, partial, wrong, rude)


def doctor(rng: Random) -> Item:
    doc = rng.choice(["Lee", "Patel", "Moreno", "Brooks", "Novak", "Owens", "Kim", "Garcia"])
    d1, d2 = rng.sample(DAYS[:5], 2)
    time = clock(rng, [9, 10, 11, 14, 15, 16])
    reasons = [("I have to work late that day", "has to work late that day"),
               ("my car is in the garage", "#Person1#'s car is in the garage"),
               ("I'll be out of town", "#Person1# will be out of town"),
               ("my son is sick", "#Person1#'s son is sick")]
    r_turn, r_sum = rng.choice(reasons)
    core = [f"Hello, I have an appointment with Dr. {doc} on {d1}, but I need to change it because {r_turn}.",
            f"No problem. Dr. {doc} is free on {d2} at {time}. Would that work?",
            "Yes, that's perfect.",
            f"Great, you're booked for {d2} at {time}. Please arrive ten minutes early."]
    because = r_sum if r_sum.startswith("#") else f"#Person1# {r_sum}"
    first = f"#Person1# moves an appointment with Dr. {doc} from {d1} to {d2} at {time} because {because}."
    best = f"{first} #Person2# asks #Person1# to arrive ten minutes early."
    wrong = rng.choice([
        f"#Person1# moves an appointment with Dr. {doc} from {d1} to {other(rng, DAYS[:5], d2)} at {time} because {because}.",
        f"#Person1# cancels an appointment with Dr. {doc} on {d1} because {because}, and does not book a new one.",
    ])
    rude = (f"#Person1# can't manage to keep a simple appointment with Dr. {doc}, so it gets pushed from {d1} to "
            f"{d2} at {time}, and #Person2# has to tell #Person1# to show up early for once.")
    return summary_item(rng, dialogue(rng, core), "a doctor's appointment", best, first, wrong, rude)


def interview(rng: Random) -> Item:
    company = rng.choice(["Greenfield Books", "Harbor Logistics", "Bright Path Software", "Maple Street Bakery",
                          "Northline Travel", "Cedar Hotel", "Riverside Clinic", "Sunview Garden Center"])
    jobs = ["sales assistant", "junior accountant", "receptionist", "delivery driver", "graphic designer",
            "office manager", "web developer", "customer service agent"]
    job = rng.choice(jobs)
    day = rng.choice(DAYS[:5])
    time = clock(rng, [9, 10, 11, 13, 14, 15])
    docs = [("a copy of your CV", "a copy of the CV"), ("two references", "two references"),
            ("your portfolio", "a portfolio"), ("some photo ID", "some photo ID")]
    doc_turn, doc_sum = rng.choice(docs)
    core = [f"Hello, this is {company} calling about your application for the {job} position.",
            "Oh, thank you for calling! I'm very interested.",
            f"We'd like to invite you to an interview on {day} at {time}. Is that OK?",
            "Yes, that works. Should I bring anything?",
            f"Please bring {doc_turn}."]
    first = f"#Person1# from {company} invites #Person2# to an interview for the {job} position on {day} at {time}."
    best = f"{first} #Person2# accepts and needs to bring {doc_sum}."
    wrong = rng.choice([
        f"#Person1# from {company} invites #Person2# to an interview for the {other(rng, jobs, job)} position "
        f"on {day} at {time}. #Person2# accepts and needs to bring {doc_sum}.",
        f"#Person1# from {company} tells #Person2# that the {job} position has already been filled.",
    ])
    rude = (f"#Person1# from {company} drags #Person2# in for a {job} interview on {day} at {time}, and #Person2# "
            f"is too clueless to know to bring {doc_sum} without being told.")
    return summary_item(rng, dialogue(rng, core, greet_ok=False), "a job interview", best, first, wrong, rude)


def flight(rng: Random) -> Item:
    cities = ["Boston", "Lisbon", "Toronto", "Madrid", "Chicago", "Dublin", "Osaka", "Denver", "Vienna", "Seattle"]
    city = rng.choice(cities)
    hours = rng.randint(2, 4)
    reason = rng.choice(["bad weather", "a technical problem", "a late incoming plane", "a crew change"])
    gate = rng.randint(12, 48)
    core = [f"Excuse me, is the flight to {city} on time?",
            f"I'm afraid it's delayed by {nw(hours)} hours because of {reason}.",
            "Oh no. Is there anything I can do while I wait?",
            f"Yes, here's a meal voucher for the cafe by gate {gate}."]
    first = f"#Person1#'s flight to {city} is delayed by {nw(hours)} hours because of {reason}."
    best = f"{first} #Person2# gives #Person1# a meal voucher for the cafe by gate {gate}."
    wrong = rng.choice([
        f"#Person1#'s flight to {other(rng, cities, city)} is delayed by {nw(hours)} hours because of {reason}. "
        f"#Person2# gives #Person1# a meal voucher for the cafe by gate {gate}.",
        f"#Person1#'s flight to {city} is cancelled, and #Person2# books #Person1# on a flight the next morning.",
    ])
    rude = (f"#Person1# pesters #Person2# about the {city} flight, which is {nw(hours)} hours late because of "
            f"{reason}, and #Person2# gets rid of #Person1# with a meal voucher for the cafe by gate {gate}.")
    return summary_item(rng, dialogue(rng, core), "a delayed flight", best, first, wrong, rude)


def return_item(rng: Random) -> Item:
    items = ["sweater", "winter coat", "toaster", "lamp", "speaker", "shirt", "blender", "rug"]
    item = rng.choice(items)
    reasons = [("It's too small for me.", "it is too small", "is too small"),
               ("It stopped working after two days.", "it stopped working after two days", "broke"),
               ("The color is different from the picture.", "the color is different from the picture",
                "is the wrong color")]
    r_turn, r_sum, r_rude = rng.choice(reasons)
    days = rng.randint(3, 7)
    core = [f"I'd like to return this {item}. {r_turn}",
            "Of course. Do you have the receipt?",
            "Yes, here it is.",
            f"Thank you. The refund will go back to your card in {nw(days)} days."]
    first = f"#Person1# returns a {item} because {r_sum}."
    best = f"{first} #Person2# checks the receipt and says the refund will reach #Person1#'s card in {nw(days)} days."
    wrong = rng.choice([
        f"{first} #Person2# checks the receipt and says the refund will reach #Person1#'s card in "
        f"{nw(other(rng, [3, 4, 5, 6, 7, 10, 14], days))} days.",
        f"#Person1# wants to exchange a {item} for a bigger one, and #Person2# finds one in the stockroom.",
    ])
    rude = (f"#Person1# grumbles that the {item} {r_rude} and shoves a receipt at #Person2#, who says the money "
            f"comes back in {nw(days)} days, so stop asking.")
    return summary_item(rng, dialogue(rng, core), "a return", best, first, wrong, rude)


def repair(rng: Random) -> Item:
    name = rng.choice(["Anna", "Tom", "Maria", "David", "Lucy", "Ken", "Sara", "Omar", "Ines", "Raj"])
    apt = rng.choice(["2B", "3A", "4C", "5D", "1F", "6B", "7A", "12"])
    fixture = rng.choice(["heater", "kitchen sink", "washing machine", "front door lock", "bathroom light",
                          "dishwasher"])
    day = rng.choice(DAYS[:5])
    amount = rng.choice(["twenty dollars", "thirty dollars", "fifty dollars"])
    if rng.random() < 0.5:
        core = [f"Hi, it's {name} from apartment {apt}. The {fixture} is broken again.",
                f"Sorry to hear that. I'll send a repair person on {day} morning.",
                "Could it be any earlier?",
                f"I'm afraid {day} is the earliest, but I'll take {amount} off this month's rent."]
        first = f"#Person1# tells #Person2# that the {fixture} in apartment {apt} is broken again."
        best = f"{first} #Person2# will send a repair person on {day} morning and take {amount} off this month's rent."
        wrong = f"{first} #Person2# will send a repair person on {other(rng, DAYS[:5], day)} morning " \
                f"and take {amount} off this month's rent."
        rude = (f"#Person1# nags about the {fixture} in apartment {apt} yet again, and #Person2# can't be bothered "
                f"until {day} morning, tossing in {amount} off the rent to keep #Person1# quiet.")
    else:
        core = [f"Hi, it's {name} from apartment {apt}. The {fixture} is broken again.",
                "Sorry to hear that. I can come and fix it myself tomorrow afternoon. Will you be home?",
                "Yes, I'll be home after two."]
        first = f"#Person1# tells #Person2# that the {fixture} in apartment {apt} is broken again."
        best = f"{first} #Person2# will come and fix it tomorrow afternoon, when #Person1# is home after two."
        wrong = f"#Person1# tells #Person2# that the {fixture} in apartment {apt} is broken, and #Person2# " \
                f"says #Person1# must pay for the repair."
        rude = (f"#Person1# bothers #Person2# about the {fixture} in apartment {apt} again, so #Person2# "
                f"grudgingly agrees to come tomorrow afternoon after two, what a chore.")
    return summary_item(rng, dialogue(rng, core), "a repair", best, first, wrong, rude)


def gym(rng: Random) -> Item:
    reasons = [("I'm moving to another city next month.", "#Person1# is moving to another city"),
               ("I've hurt my knee and can't train for a while.", "#Person1# has hurt a knee"),
               ("It's too expensive for me right now.", "it is too expensive right now"),
               ("I don't have time with my new job.", "#Person1# has no time because of a new job")]
    r_turn, r_sum = rng.choice(reasons)
    months = rng.randint(1, 3)
    notice = rng.choice([14, 30])
    month_end = rng.choice(["May", "June", "July", "August", "September", "October"])
    if rng.random() < 0.5:
        core = ["I'd like to cancel my gym membership.", "I'm sorry to hear that. May I ask why?", r_turn,
                f"I understand. You need to give {nw(notice)} days' notice, so your last day will be "
                f"the end of {month_end}."]
        first = f"#Person1# cancels a gym membership because {r_sum}."
        best = f"{first} #Person2# explains that #Person1# must give {nw(notice)} days' notice, so the last day is the end of {month_end}."
        wrong = f"{first} #Person2# explains that the membership ends today and no notice is needed."
        rude = (f"#Person1# quits the gym because {r_sum}, what a surprise, and #Person2# points out the "
                f"{nw(notice)} days' notice, so #Person1# is stuck until the end of {month_end}.")
    else:
        core = ["I'd like to cancel my gym membership.", "May I ask why?", r_turn,
                f"Instead of cancelling, you could freeze it for {nw(months)} month{'s' if months > 1 else ''} for free.",
                "That sounds good, let's do that."]
        m = f"{nw(months)} month{'s' if months > 1 else ''}"
        first = f"#Person1# wants to cancel a gym membership because {r_sum}."
        best = f"{first} #Person1# accepts #Person2#'s offer to freeze it for {m} for free instead."
        wrong_m = 6 if months != 6 else 2
        wrong = f"{first} #Person1# accepts #Person2#'s offer to freeze it for {nw(wrong_m)} months for half the price."
        rude = (f"#Person1# tries to quit the gym because {r_sum}, what an excuse, and #Person2# talks #Person1# "
                f"into a free {m} freeze instead.")
    return summary_item(rng, dialogue(rng, core, greet_ok=False), "a gym membership", best, first, wrong, rude)


def library(rng: Random) -> Item:
    n = rng.randint(2, 5)
    day = rng.choice(DAYS)
    weeks = rng.choice([2, 3, 4])
    book = rng.choice(["cookbook", "travel guide", "history book", "novel", "gardening book", "photo book"])
    if rng.random() < 0.5:
        core = [f"Hi, can I renew these {nw(n)} books? They're due on {day}.",
                f"Sure. I've renewed them for another {nw(weeks)} weeks."]
        first = f"#Person1# asks to renew {nw(n)} library books that are due on {day}."
        best = f"{first[:-1]}, and #Person2# renews them for another {nw(weeks)} weeks."
        wrong = f"{first[:-1]}, and #Person2# renews them for another {nw(other(rng, [1, 2, 3, 4, 6], weeks))} weeks."
        rude = (f"#Person1# can't finish {nw(n)} books by {day}, so #Person2# renews them for {nw(weeks)} more weeks. "
                f"Maybe read faster.")
    else:
        core = [f"Hi, can I renew these {nw(n)} books? They're due on {day}.",
                f"Let me see. I can renew all of them except the {book}, because someone else has reserved it.",
                f"Oh, OK. I'll return the {book} today, then."]
        first = f"#Person1# wants to renew {nw(n)} library books due on {day}."
        best = f"{first} #Person2# renews all of them except the {book}, which someone else has reserved, so #Person1# will return it today."
        wrong = f"{first} #Person2# renews all of them, including the {book}."
        rude = (f"#Person1# hogs {nw(n)} library books past {day} and can't even keep the {book}, since someone "
                f"else reserved it, so back it goes today.")
    return summary_item(rng, dialogue(rng, core), "library books", best, first, wrong, rude)


def bank_card(rng: Random) -> Item:
    where = rng.choice(["at the supermarket", "on the bus", "at the train station", "in a taxi", "at the gym",
                        "at a cafe"])
    days = rng.randint(3, 7)
    branch = rng.choice(["Main Street", "Riverside", "Park Avenue", "Central Station"])
    core = [f"I think I lost my bank card {where}.",
            "I'm sorry to hear that. I've blocked the card, so no one can use it.",
            "Thank you. Can I get a new one?"]
    if rng.random() < 0.5:
        core.append(f"Yes, a new card will arrive by post in {nw(days)} working days.")
        tail = f"says a new one will arrive by post in {nw(days)} working days"
        wtail = f"says a new one will arrive by post in {nw(other(rng, [2, 3, 4, 5, 6, 7, 10], days))} working days"
        rtail = f"#Person1# gets to wait {nw(days)} working days for a new one"
    else:
        core.append(f"Yes, you can pick up a new card at our {branch} branch tomorrow.")
        tail = f"says #Person1# can pick up a new one at the {branch} branch tomorrow"
        wtail = f"says #Person1# can pick up a new one at the " \
                f"{other(rng, ['Main Street', 'Riverside', 'Park Avenue', 'Central Station'], branch)} branch tomorrow"
        rtail = f"#Person1# has to trek to the {branch} branch tomorrow for a new one"
    first = f"#Person1# lost a bank card {where}."
    best = f"{first} #Person2# blocks the card and {tail}."
    wrong = rng.choice([f"{first} #Person2# blocks the card and {wtail}.",
                        f"{first} #Person2# says the card cannot be blocked until #Person1# visits a branch."])
    rude = f"#Person1# was careless enough to lose a bank card {where}, so #Person2# blocks it and {rtail}."
    return summary_item(rng, dialogue(rng, core), "a lost bank card", best, first, wrong, rude)


def party(rng: Random) -> Item:
    names = ["Emma", "Jack", "Nina", "Leo", "Sophie", "Ben", "Mia", "Sam"]
    name = rng.choice(names)
    day = rng.choice(["Friday", "Saturday", "Sunday"])
    time = clock(rng, [12, 15, 18, 19, 20])
    place = rng.choice(["the Italian restaurant on Elm Street", f"{name}'s house", "the park near the lake",
                        "the bowling alley", "the cafe downtown"])
    gift = rng.choice(["a chocolate cake", "some balloons", "a card from all of us", "snacks and drinks",
                       "a fruit salad"])
    gift_sum = gift.replace("all of us", "all their friends")
    core = [f"Are you coming to {name}'s birthday party on {day}?",
            "Of course! What time does it start?",
            f"At {time}, at {place}.",
            f"Great. I'll bring {gift}."]
    first = f"#Person1# reminds #Person2# about {name}'s birthday party on {day} at {time} at {place}."
    best = f"{first} #Person2# is coming and will bring {gift_sum}."
    wrong = rng.choice([
        f"#Person1# reminds #Person2# about {other(rng, names, name)}'s birthday party on {day} at {time} at "
        f"{place}. #Person2# is coming and will bring {gift_sum}.",
        f"#Person1# invites #Person2# to {name}'s birthday party, but #Person2# can't come on {day}.",
    ])
    rude = (f"#Person1# pesters #Person2# about {name}'s birthday party on {day} at {time} at {place}, and "
            f"#Person2# grudgingly offers {gift_sum}, as if anyone wants that.")
    return summary_item(rng, dialogue(rng, core, greet_ok=False), "a birthday party", best, first, wrong, rude)


def directions(rng: Random) -> Item:
    place = rng.choice(["train station", "city museum", "post office", "central library", "town hall",
                        "bus station", "swimming pool", "art gallery"])
    blocks = rng.randint(2, 4)
    d = rng.choice(["left", "right"])
    landmark = rng.choice(["bakery", "bank", "traffic lights", "pharmacy", "church", "bookshop"])
    mins = rng.choice([5, 10, 15])
    core = [f"Excuse me, how do I get to the {place}?",
            f"Go straight for {nw(blocks)} blocks, then turn {d} at the {landmark}. It's about a "
            f"{nw(mins)}-minute walk."]
    best = (f"#Person2# tells #Person1# the way to the {place}: go straight for {nw(blocks)} blocks and turn {d} "
            f"at the {landmark}. It is about {nw(mins)} minutes on foot.")
    partial = f"#Person2# tells #Person1# the way to the {place}."
    wrong = rng.choice([
        f"#Person2# tells #Person1# the way to the {place}: go straight for {nw(blocks)} blocks and turn "
        f"{'right' if d == 'left' else 'left'} at the {landmark}. It is about {nw(mins)} minutes on foot.",
        f"#Person2# tells #Person1# that the {place} is too far to walk and #Person1# should take a taxi.",
    ])
    rude = (f"#Person1# is too lost to find the {place}, so #Person2# spells it out: {nw(blocks)} blocks straight, "
            f"{d} at the {landmark}, {nw(mins)} minutes. Not exactly hard.")
    return summary_item(rng, dialogue(rng, core), "directions", best, partial, wrong, rude)


def post_office(rng: Random) -> Item:
    cities = ["Paris", "Sydney", "Nairobi", "Lima", "Oslo", "Seoul", "Cairo", "Montreal"]
    city = rng.choice(cities)
    std_days, exp_days = rng.randint(5, 8), rng.randint(1, 2)
    std_price = rng.choice(["$8.50", "$9.00", "$11.25", "$12.40"])
    exp_price = rng.choice(["$19.00", "$22.50", "$24.75", "$27.00"])
    express = rng.random() < 0.5
    choice, days, price = ("express", exp_days, exp_price) if express else ("standard", std_days, std_price)
    other_price = std_price if express else exp_price
    day_word = "day" if days == 1 else "days"
    core = [f"I'd like to send this parcel to {city}.",
            f"Standard post takes {nw(std_days)} days and costs {std_price}. Express takes {nw(exp_days)} "
            f"day{'s' if exp_days > 1 else ''} and costs {exp_price}.",
            f"I'll take {choice}, please.",
            f"Sure. That's {price}. Here's your tracking number."]
    first = f"#Person1# sends a parcel to {city} by {choice} post, which costs {price} and takes {nw(days)} {day_word}."
    best = f"{first} #Person2# gives #Person1# a tracking number."
    wrong = f"#Person1# sends a parcel to {city} by {choice} post, which costs {other_price} and takes " \
            f"{nw(days)} {day_word}. #Person2# gives #Person1# a tracking number."
    rude = (f"#Person1# dithers over a parcel to {city} before picking {choice} for {price}, {nw(days)} {day_word}, "
            f"and #Person2# hands over the tracking number just to get rid of #Person1#.")
    return summary_item(rng, dialogue(rng, core), "sending a parcel", best, first, wrong, rude)


DIALOGUE_SCENARIOS: list[Callable[[Random], Item]] = [
    late_order, hotel_room, restaurant, doctor, interview, flight, return_item, repair, gym, library,
    bank_card, party, directions, post_office]

# ---------------------------------------------------------------------------
# Customer-message scenarios (replies)
# ---------------------------------------------------------------------------

REPLY_VAGUE = ["Thank you for contacting us. We have received your message and will get back to you.",
               "Thanks for reaching out! We appreciate your feedback.",
               "Thank you for your message. Our team is looking into many requests at the moment.",
               "Thanks for getting in touch. We'll do our best to help.",
               "We appreciate you writing to us. Have a great day!"]
REPLY_DISMISSIVE = ["Not our problem. Figure it out yourself.",
                    "Read the website before you bother us.",
                    "Stop emailing us about this. We heard you the first time.",
                    "Whatever. Try again later or don't.",
                    "We get a hundred of these a day. Yours isn't special.",
                    "Do you really expect us to care about this?",
                    "Ugh. Go ask someone else."]
ANNOYED_PREFIX = ["This is the second time I'm writing about this. ", "I'm really not happy. ",
                  "Still waiting for an answer! ", "Honestly, this is getting frustrating. "]
CALM_PREFIX = ["Hello, ", "Hi, ", "Good afternoon, ", ""]
SIGN_OFF = ["Best regards, the support team", "Kind regards, the customer care team", "Warm wishes, the help desk",
            "All the best, the service team"]


def reply_item(rng: Random, message: str, annoyed: bool, best_core: str, partial: str, wrong: str,
               rude: str) -> Item:
    opener = rng.choice(["Thank you for your patience, and I understand your frustration. ",
                         "I completely understand why you're upset. "] if annoyed else
                        ["Thank you for getting in touch. ", "Thanks for your message. "])
    best = opener + best_core
    if rng.random() < 0.4:
        best += " " + rng.choice(SIGN_OFF) + "."
    return Item(REPLY_PROMPT.format(message=message), best, partial, rng.choice(REPLY_VAGUE), wrong, rude,
                rng.choice(REPLY_DISMISSIVE))


def customer_message(rng: Random, body: str, may_be_annoyed: bool = True) -> tuple[str, bool]:
    """The customer's message, sometimes with an annoyed opening; returns (message, annoyed)."""
    annoyed = may_be_annoyed and rng.random() < 0.4
    prefix = rng.choice(ANNOYED_PREFIX if annoyed else CALM_PREFIX)
    if prefix.endswith(", ") and not body.startswith(("I ", "I'm ", "I'd ")):
        body = body[:1].lower() + body[1:]
    return cap(prefix + body), annoyed


def c_damaged(rng: Random) -> Item:
    item = rng.choice(["vase", "coffee grinder", "bookshelf", "table lamp", "printer", "set of plates", "mirror"])
    dmg = rng.choice([("the box was crushed and it's cracked", "cracked"),
                      ("one of the parts is missing", "with a part missing"),
                      ("it doesn't turn on", "not working")])
    if dmg[1] == "not working" and item in ("vase", "bookshelf", "set of plates", "mirror"):
        dmg = ("the box was crushed and it's cracked", "cracked")
    days = rng.choice([2, 3, 5])
    msg, annoyed = customer_message(rng, f"The {item} I ordered arrived today, but {dmg[0]}. What can I do?")
    best = (f"I'm very sorry that your {item} arrived {dmg[1]}. We'll send a replacement within {nw(days)} days at "
            f"no cost, or give you a full refund if you prefer. Could you reply with a photo of the {item} and "
            f"its packaging so we can arrange it?")
    partial = f"I'm very sorry that your {item} arrived {dmg[1]}. We'll look into it."
    wrong = rng.choice([f"Thanks for your message! Your {item} is on its way and should arrive within {nw(days)} days.",
                        f"I'm sorry to hear you'd like to cancel your {item} order. It has now been cancelled."])
    rude = (f"Fine, send a photo of your {item} and we'll ship a replacement in {nw(days)} days or refund you. "
            f"Try not to break this one.")
    return reply_item(rng, msg, annoyed, best, partial, wrong, rude)


def c_double_charge(rng: Random) -> Item:
    service = rng.choice(["music streaming", "cloud storage", "meal kit", "magazine", "language app", "video"])
    amount = rng.choice(["$9.99", "$12.99", "$14.50", "$19.99", "$6.99"])
    days = rng.choice([3, 5, 7])
    msg, annoyed = customer_message(rng, f"I was charged twice for my {service} subscription this month, "
                                         f"{amount} each time. Can you fix this?")
    best = (f"You're right, there was a duplicate charge of {amount} on your {service} subscription. I've refunded "
            f"the extra payment, and it should appear on your statement within {nw(days)} business days.")
    partial = f"I can see the duplicate {amount} charge on your {service} subscription, and I'm sorry about it."
    wrong_amount = other(rng, ["$9.99", "$12.99", "$14.50", "$19.99", "$6.99", "$4.99"], amount)
    wrong = rng.choice([f"I've refunded {wrong_amount} for the duplicate charge on your {service} subscription; it "
                        f"should appear within {nw(days)} business days.",
                        f"As requested, I've cancelled your {service} subscription. You won't be charged again."])
    rude = (f"Yes, yes, you got charged {amount} twice. The extra money comes back in {nw(days)} business days, "
            f"so stop panicking.")
    return reply_item(rng, msg, annoyed, best, partial, wrong, rude)


def c_change_booking(rng: Random) -> Item:
    d1, d2 = rng.sample(DAYS, 2)
    kind = rng.choice(["hotel booking", "table reservation", "car rental", "tour booking", "spa appointment"])
    msg, annoyed = customer_message(rng, f"Can I move my {kind} from {d1} to {d2}? Something came up.")
    best = (f"Of course! I've moved your {kind} from {d1} to {d2} at no extra charge, and you'll receive a "
            f"confirmation email shortly.")
    partial = f"Yes, it should be possible to move your {kind} to {d2}."
    wrong = rng.choice([f"Of course! I've moved your {kind} from {d1} to "
                        f"{other(rng, [d for d in DAYS if d != d1], d2)}, and you'll receive a confirmation email shortly.",
                        f"I'm sorry, but your {kind} on {d1} has been cancelled and cannot be rebooked."])
    rude = f"Done, it's {d2} now. Maybe pick the right day the first time."
    return reply_item(rng, msg, annoyed, best, partial, wrong, rude)


def c_locked(rng: Random) -> Item:
    site = rng.choice(["online banking", "shop", "email", "loyalty card", "streaming", "travel"])
    minutes = rng.choice([10, 15, 30])
    msg, annoyed = customer_message(rng, f"I forgot my password and now my {site} account is locked. "
                                         f"How do I get back in?")
    best = (f"I've sent a password reset link to the email address on your {site} account. The link works for "
            f"{nw(minutes)} minutes; once you set a new password, the account unlocks automatically.")
    partial = f"I can help you unlock your {site} account; a reset link is the usual way."
    wrong = rng.choice([f"Good news: your {site} order has shipped and will arrive soon.",
                        f"I've closed your {site} account as requested. We're sorry to see you go."])
    rude = (f"Click the reset link we just emailed you, it's valid for {nw(minutes)} minutes. It's not hard, and "
            f"try to remember your password next time.")
    return reply_item(rng, msg, annoyed, best, partial, wrong, rude)


def c_room(rng: Random) -> Item:
    fixture = rng.choice(["air conditioning", "shower", "TV", "heating", "Wi-Fi", "safe"])
    room = rng.randint(2, 9) * 100 + rng.randint(1, 40)
    mins = rng.choice([10, 15, 20, 30])
    verb = "aren't" if fixture.endswith("s") else "isn't"
    msg, annoyed = customer_message(rng, f"The {fixture} in room {room} {verb} working. Could someone help?")
    best = (f"I'm sorry about the {fixture} in room {room}. A technician will be with you within {nw(mins)} "
            f"minutes, and if it can't be fixed quickly, we'll move you to another room.")
    partial = f"I'm sorry to hear about the {fixture}. We'll send someone."
    wrong = rng.choice([f"I'm sorry about the {fixture}. A technician will come to room {room + rng.choice([1, 10, 100])} "
                        f"within {nw(mins)} minutes.",
                        "Thanks for your message! Breakfast is served from seven until ten in the lobby."])
    rude = f"Someone will come to room {room} in {nw(mins)} minutes. Try not to break anything else meanwhile."
    return reply_item(rng, msg, annoyed, best, partial, wrong, rude)


def c_cancel(rng: Random) -> Item:
    what = rng.choice(["gym membership", "newspaper delivery", "phone plan", "meal plan", "cleaning service"])
    month = rng.choice(["March", "April", "May", "June", "September", "October", "November"])
    msg, annoyed = customer_message(rng, f"Please cancel my {what} from the end of {month}.")
    best = (f"I've cancelled your {what} from the end of {month}. There is no cancellation fee, and you'll get a "
            f"confirmation email today. Thank you for being with us.")
    partial = f"We've received your request to cancel your {what}."
    wrong = rng.choice([f"Great news: I've renewed your {what} for another year from the end of {month}.",
                        f"I've cancelled your {what} from the end of "
                        f"{other(rng, ['March', 'April', 'May', 'June', 'September', 'October', 'November'], month)}."])
    rude = f"Fine, your {what} is cancelled from the end of {month}. Your loss."
    return reply_item(rng, msg, annoyed, best, partial, wrong, rude)


def c_refund(rng: Random) -> Item:
    item = rng.choice(["jacket", "pair of sneakers", "blender", "backpack", "camera bag", "dress"])
    weeks = rng.choice([2, 3])
    days = rng.choice([2, 3, 5])
    msg, annoyed = customer_message(rng, f"I returned a {item} {nw(weeks)} weeks ago and still haven't got my refund.")
    best = (f"I'm sorry for the delay with your refund for the {item}. It was processed today, and the money "
            f"should reach your account within {nw(days)} business days.")
    partial = f"I'm sorry for the delay with your refund for the {item}."
    wrong = rng.choice([f"We haven't received your {item} yet. Please send it back so we can process the refund.",
                        f"Your new {item} has been shipped and should arrive within {nw(days)} days."])
    rude = f"Refunds take time, you know. The money for your {item} shows up in {nw(days)} business days, be patient."
    return reply_item(rng, msg, annoyed, best, partial, wrong, rude)


def c_parcel_rain(rng: Random) -> Item:
    item = rng.choice(["books", "shoes", "a rug", "a lamp", "some clothes", "a puzzle"])
    where = rng.choice(["in the rain by the gate", "on the doorstep in the rain", "outside in the rain"])
    msg, annoyed = customer_message(rng, f"Your driver left my parcel with {item} {where}, and everything got wet.")
    best = (f"I'm sorry your parcel was left {where}. We'll send a replacement for the wet {item.replace('a ', '').replace('some ', '')} "
            f"free of charge, and I've added a note so that future deliveries are left with a neighbor or "
            f"taken back to the depot.")
    partial = "I'm sorry your parcel got wet. I've passed your feedback on to the driver."
    wrong = rng.choice(["Your parcel has been delivered. Please check your doorstep.",
                        "I'm sorry your parcel went missing. We'll open a search with the courier."])
    rude = ("It's a parcel, not a crisis. We'll send a replacement, and next time maybe be home to take it in "
            "yourself.")
    return reply_item(rng, msg, annoyed, best, partial, wrong, rude)


def c_table(rng: Random) -> Item:
    n = rng.randint(2, 8)
    day = rng.choice(DAYS)
    time = clock(rng, [18, 19, 20])
    msg, annoyed = customer_message(rng, f"Do you have a table for {nw(n)} on {day} at {time}?",
                                    may_be_annoyed=False)
    best = (f"Yes, we do! I've reserved a table for {nw(n)} on {day} at {time}. We look forward to seeing you, "
            f"and please let us know if your plans change.")
    partial = f"We should have space on {day}; we look forward to seeing you."
    wrong = rng.choice([f"Yes, we do! I've reserved a table for {nw(other(rng, list(range(2, 9)), n))} on {day} at {time}.",
                        f"I'm sorry, we're closed on {day}s."])
    rude = f"Yeah, table for {nw(n)}, {day}, {time}. Don't be late, we won't hold it."
    return reply_item(rng, msg, annoyed, best, partial, wrong, rude)


def c_job(rng: Random) -> Item:
    job = rng.choice(["marketing assistant", "warehouse supervisor", "receptionist", "junior designer",
                      "data analyst", "barista", "bus driver"])
    weeks = rng.choice([2, 3, 4])
    day = rng.choice(DAYS[:5])
    msg, annoyed = customer_message(rng, f"I applied for the {job} position {nw(weeks)} weeks ago and haven't "
                                         f"heard back.")
    best = (f"Thank you for your patience and for your interest in the {job} position. We're still reviewing "
            f"applications, and we'll contact every applicant by {day} next week.")
    partial = f"Thank you for applying for the {job} position. Applications are still being reviewed."
    wrong = rng.choice([f"Congratulations! You start as our new {job} on {day}.",
                        f"Thank you for your order. It will be shipped on {day}."])
    rude = f"We'll contact you by {day} next week if we want you for the {job} job. No need to keep emailing."
    return reply_item(rng, msg, annoyed, best, partial, wrong, rude)


REPLY_SCENARIOS: list[Callable[[Random], Item]] = [
    c_damaged, c_double_charge, c_change_booking, c_locked, c_room, c_cancel, c_refund, c_parcel_rain,
    c_table, c_job]

# ---------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------

BLOCKLIST = re.compile(r"\b(sex\w*|naked|kill\w*|die|dies|racis\w*|religio\w*|gay|retard\w*|bitch\w*|damn\w*|"
                       r"hell|shit\w*|fuck\w*|crap\w*|ass|asses|moron\w*|disab\w*|deaf|blind|cripple\w*|"
                       r"hate\w*)\b", re.IGNORECASE)


def rank_item(rng: Random, item: Item) -> tuple[list[str], list[int]]:
    """Pick 3 or 4 completions (always the best and a rude one), shuffle them, rank them by the rubric."""
    available = [c for c in RUBRIC if item.cands[c]]
    chosen = ["best", rng.choice(["rude", "dismissive"])]
    rest = [c for c in available if c not in chosen]
    chosen += rng.sample(rest, rng.choice([1, 2]))
    rng.shuffle(chosen)
    order = sorted(chosen, key=RUBRIC.index)
    ranking = [order.index(c) + 1 for c in chosen]
    return [item.cands[c] for c in chosen], ranking


def generate(n_items: int = N_ITEMS, n_test: int = N_TEST, seed: int = SEED) -> list[dict]:
    rng = Random(seed)
    n_sum = round(n_items * SUMMARY_SHARE)
    plan = [DIALOGUE_SCENARIOS[i % len(DIALOGUE_SCENARIOS)] for i in range(n_sum)]
    plan += [REPLY_SCENARIOS[i % len(REPLY_SCENARIOS)] for i in range(n_items - n_sum)]
    rng.shuffle(plan)
    seen_prompts: set[str] = set()
    rows: list[dict] = []
    for scenario in plan:
        for _ in range(200):
            item = scenario(rng)
            if item.prompt not in seen_prompts:
                break
        else:
            raise RuntimeError(f"{scenario.__name__}: could not find a new prompt")
        seen_prompts.add(item.prompt)
        completions, ranking = rank_item(rng, item)
        rows.append({"id": f"rank_{len(rows):03d}", "prompt": item.prompt, "completions": completions,
                     "ranking": ranking})
    test_ids = set(rng.sample(range(len(rows)), n_test))
    for i, row in enumerate(rows):
        row["split"] = "test" if i in test_ids else "train"
    check(rows)
    return rows


def check(rows: list[dict]) -> None:
    """Sanity checks on the finished rows (raise AssertionError on failure)."""
    assert len({r["prompt"] for r in rows}) == len(rows), "duplicate prompts"
    for r in rows:
        comps, ranks = r["completions"], r["ranking"]
        assert 3 <= len(comps) <= 4 and len(comps) == len(ranks), r["id"]
        assert sorted(ranks) == list(range(1, len(comps) + 1)), r["id"]
        assert len(set(comps)) == len(comps), r["id"]
        for text in [r["prompt"], *comps]:
            assert text.isascii() and "{" not in text and "}" not in text, text
            assert not BLOCKLIST.search(text), text
            assert "  " not in text, text
        if r["prompt"].startswith("Summarize"):
            dlg = r["prompt"].split("\n\n")[1].split("\n")
            assert 2 <= len(dlg) <= 6, r["id"]
            for i, turn in enumerate(dlg):
                assert turn.startswith(f"#Person{1 + i % 2}#: "), turn
    first_is_best = sum(r["ranking"][0] == 1 for r in rows) / len(rows)
    assert first_is_best < 0.45, f"the best completion is first too often ({first_is_best:.0%})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output folder (default: next to this script)")
    parser.add_argument("--n", type=int, default=N_ITEMS, help="number of ranked prompts")
    parser.add_argument("--test", type=int, default=N_TEST, help="how many of them go to the test split")
    args = parser.parse_args(argv)
    rows = generate(args.n, args.test)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "rankings.jsonl"
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    n_test = sum(r["split"] == "test" for r in rows)
    print(f"wrote {len(rows)} rows to {path} (train={len(rows) - n_test}, test={n_test})")


if __name__ == "__main__":
    main()

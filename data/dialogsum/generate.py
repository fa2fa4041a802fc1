#!/usr/bin/env python3
"""Generate a small DialogSum-style dialogue summarization dataset.

Every dialogue and summary is produced by the templates in this file (the
text was written for the labkit project; no corpus text is copied).  The
output follows the JSON Lines layout of the original DialogSum release:

* ``dialogsum.train.jsonl`` / ``dialogsum.dev.jsonl``:
  ``{"fname", "summary", "dialogue", "topic"}``
* ``dialogsum.test.jsonl``:
  ``{"fname", "summary1", "topic1", "summary2", "topic2", "summary3",
  "topic3", "dialogue"}`` (three differently worded reference summaries)

Dialogue turns are separated by ``\\n`` and start with ``#Person1#: `` or
``#Person2#: ``.  Summaries are short, third-person and only state facts
that appear in the dialogue.

The output is fully deterministic: one ``random.Random`` with a fixed seed
drives everything, so re-running the script reproduces byte-identical files.

Usage::

    python data/dialogsum/generate.py [--out DIR] [--train N] [--dev N] [--test N]

Standard library only (Python 3.10+).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from random import Random

SEED = 20230917

MIN_TURNS, MAX_TURNS = 4, 14
MIN_WORDS, MAX_WORDS = 50, 200

# A generator returns (dialogue turns, summary variants, topic).
Example = tuple[list[str], list[str], str]
Generator = Callable[[Random], Example]


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

class Dialog:
    """Collects turns; the role that speaks first is tagged ``#Person1#``."""

    def __init__(self, first: str, second: str) -> None:
        self.tag = {first: "#Person1#", second: "#Person2#"}
        self.turns: list[str] = []

    def say(self, role: str, text: str) -> None:
        """Add a turn; a second line by the same speaker joins the last turn."""
        tag = self.tag[role]
        if self.turns and self.turns[-1].startswith(f"{tag}:"):
            self.turns[-1] += f" {text}"
        else:
            self.turns.append(f"{tag}: {text}")

    def last_is(self, role: str) -> bool:
        """True if *role* spoke the most recent turn."""
        return bool(self.turns) and self.turns[-1].startswith(f"{self.tag[role]}:")


def art(phrase: str) -> str:
    """Prefix *phrase* with the indefinite article."""
    lower = phrase.lower()
    vowel = lower[:1] in "aeiou" and not lower.startswith(("one", "uni", "eu", "use"))
    return ("an " if vowel or lower.startswith("hour") else "a ") + phrase


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


_NUM_WORDS = {
    1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six",
    7: "seven", 8: "eight", 9: "nine", 10: "ten", 11: "eleven",
    12: "twelve", 15: "fifteen", 20: "twenty", 25: "twenty-five",
    30: "thirty", 35: "thirty-five", 40: "forty", 45: "forty-five", 50: "fifty", 60: "sixty",
}


def nw(n: int) -> str:
    """Number as a word for small/round numbers, digits otherwise."""
    return _NUM_WORDS.get(n, str(n))


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def money(amount: float) -> str:
    if float(amount).is_integer():
        return f"${int(amount):,}"
    return f"${amount:,.2f}"


def fmt_time(hour: int, minute: int = 0) -> str:
    """24h clock -> '2:30 p.m.' / '9 a.m.'."""
    suffix = "a.m." if hour < 12 else "p.m."
    h12 = hour if hour <= 12 else hour - 12
    return f"{h12}:{minute:02d} {suffix}" if minute else f"{h12} {suffix}"


def clock(rng: Random, lo: int, hi: int, halves: bool = True) -> str:
    """A time between *lo* and *hi* o'clock (24h input), e.g. '2:30 p.m.'."""
    hour = rng.randint(lo, hi)
    minute = rng.choice([0, 30]) if halves else 0
    return fmt_time(hour, minute)


def maybe(rng: Random, p: float) -> bool:
    return rng.random() < p


def tidy(text: str) -> str:
    """Fix punctuation artefacts from slot filling ('p.m..' -> 'p.m.')."""
    text = re.sub(r"([ap]\.m\.)\.", r"\1", text)
    text = re.sub(r"([ap]\.m\.)\?", r"\1?", text)
    return re.sub(r"  +", " ", text).strip()


def s(*sentences: str | None) -> str:
    """Join non-empty sentences into one summary string."""
    return tidy(" ".join(x for x in sentences if x))


_ABBREV = re.compile(r"\b(Mr|Ms|Dr)\.")
# Sentence-initial words that may be lower-cased when a sentence is merged
# into the previous one (names, places and #PersonN# tags keep their case).
_LOWERABLE = {"It", "It's", "The", "They", "They'll", "There", "Breakfast", "Check-out", "Utilities",
              "Water", "Pets", "Swimming", "Printing", "Books", "Buses", "A", "If", "Until",
              "No", "Someone", "Since", "With", "According", "When", "Because", "Membership",
              "Service", "Nobody"}


def split_sentences(text: str) -> list[str]:
    """Split a summary into sentences ('a.m.', 'Mr.' etc. are not boundaries)."""
    protected = _ABBREV.sub(r"\1<DOT>", text)
    protected = re.sub(r"([ap])\.m\.(?=\s+[a-z(])", r"\1<DOT>m<DOT>", protected)
    parts = re.split(r"(?<=[.!?])\s+(?=[#A-Z0-9$])", protected)
    return [p.replace("<DOT>", ".") for p in parts if p]


def _merge(sentences: list[str]) -> str:
    """['A.', 'B.', 'C.'] -> 'A, B, and c.' (one sentence)."""
    def body(x: str) -> str:
        return x if x.endswith(("a.m.", "p.m.")) else x.rstrip(".")

    def lower_first(x: str) -> str:
        first = x.split(" ", 1)[0]
        return x[:1].lower() + x[1:] if first in _LOWERABLE else x

    items = [body(sentences[0])] + [lower_first(body(x)) for x in sentences[1:]]
    if any(", and " in x or ", so " in x for x in items):
        joined = "; ".join(items)  # avoid chains like "X, and Y, and Z"
    else:
        joined = ", ".join(items[:-1]) + ", and " + items[-1]
    return joined if joined.endswith(".") else joined + "."


def two_sentences(text: str) -> str:
    """DialogSum-style summaries are one or two sentences: merge any extra ones."""
    parts = split_sentences(text)
    if len(parts) <= 2:
        return text
    if len(parts) == 3:
        return f"{parts[0]} {_merge(parts[1:])}"
    return f"{_merge(parts[:2])} {_merge(parts[2:])}"


# ---------------------------------------------------------------------------
# Shared slot fillers
# ---------------------------------------------------------------------------

MALE_NAMES = ["Tom", "David", "James", "Peter", "Jack", "Daniel", "Mike",
              "Steven", "Paul", "Bill", "Kevin", "Frank", "Carlos", "Ravi",
              "Omar", "Ben", "Sam", "Leo", "Hiro", "Luke"]
FEMALE_NAMES = ["Mary", "Linda", "Susan", "Emma", "Lucy", "Grace", "Anna",
                "Kate", "Helen", "Sarah", "Jenny", "Amy", "Mei", "Aisha",
                "Yuki", "Nina", "Rosa", "Julia", "Olivia", "Priya"]
SURNAMES = ["Smith", "Brown", "Green", "White", "Johnson", "Miller", "Wilson",
            "Taylor", "Clark", "Lewis", "Walker", "Hall", "Young", "King",
            "Wright", "Lopez", "Chen", "Wang", "Patel", "Kim", "Garcia",
            "Novak", "Adams", "Baker", "Parker", "Turner"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
        "Sunday"]
WEEKDAYS = DAYS[:5]
MONTHS = ["January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December"]
CITIES = ["Boston", "Chicago", "Seattle", "Denver", "London", "Paris",
          "Tokyo", "Sydney", "Toronto", "Rome", "Madrid", "Berlin",
          "Vancouver", "Singapore", "San Francisco", "New York", "Dublin",
          "Amsterdam", "Miami", "Montreal"]
STREETS = ["Oak Street", "Maple Avenue", "Park Road", "King Street",
           "River Road", "Hill Street", "Green Lane", "Elm Street",
           "Station Road", "Lake Avenue", "Bridge Street", "Cedar Road"]


def person(rng: Random) -> tuple[str, str, str, str]:
    """(name, subject pronoun, object pronoun, possessive) of a third party."""
    if maybe(rng, 0.5):
        return rng.choice(MALE_NAMES), "he", "him", "his"
    return rng.choice(FEMALE_NAMES), "she", "her", "her"


def any_name(rng: Random) -> str:
    return rng.choice(MALE_NAMES + FEMALE_NAMES)


def full_name(rng: Random) -> tuple[str, str, str]:
    """(first name, surname, title)."""
    if maybe(rng, 0.5):
        return rng.choice(MALE_NAMES), rng.choice(SURNAMES), "Mr."
    return rng.choice(FEMALE_NAMES), rng.choice(SURNAMES), "Ms."


def a_date(rng: Random) -> str:
    return f"{rng.choice(MONTHS)} {ordinal(rng.randint(1, 28))}"


def greeting_by_name(rng: Random, name: str) -> str:
    return rng.choice([f"Hi, {name}!", f"Hey, {name}.", f"Hello, {name}.",
                       f"Good morning, {name}.", f"Oh, hi {name}."])


# ---------------------------------------------------------------------------
# Topic: shopping
# ---------------------------------------------------------------------------

COLORS = ["black", "blue", "gray", "red", "green", "brown", "white",
          "navy blue", "dark green", "light blue", "pink", "beige", "yellow"]
CLOTHES = [
    # noun, sold as a pair, shoe sizes, price range
    ("sweater", False, False, (40, 80)),
    ("jacket", False, False, (60, 160)),
    ("winter coat", False, False, (100, 240)),
    ("dress", False, False, (40, 140)),
    ("shirt", False, False, (40, 60)),
    ("skirt", False, False, (40, 80)),
    ("raincoat", False, False, (60, 120)),
    ("jeans", True, False, (40, 100)),
    ("trousers", True, False, (40, 80)),
    ("sneakers", True, True, (60, 120)),
    ("boots", True, True, (80, 180)),
]
CLOTHES_SIZES = ["small", "medium", "large", "extra large"]
OCCASIONS = ["for work", "for a job interview", "for my sister's wedding",
             "for the winter", "for a trip next month", "for my brother's party"]
PAYMENTS = [("In cash, please.", "in cash"), ("By credit card.", "by credit card"),
            ("Can I pay by card?", "by card"), ("I'll pay in cash.", "in cash"),
            ("With my debit card, please.", "with a debit card")]


def _item_words(pair: bool) -> dict[str, str]:
    if pair:
        return {"it": "they", "It": "They", "obj": "them", "is": "are",
                "its": "they're", "Its": "They're", "fits": "fit",
                "one": "a pair", "costs": "cost"}
    return {"it": "it", "It": "It", "obj": "it", "is": "is", "its": "it's",
            "Its": "It's", "fits": "fits", "one": "one", "costs": "costs"}


def _poss(text: str, tag: str) -> str:
    """'for my sister's wedding' -> "for #Person1#'s sister's wedding"."""
    return text.replace("my ", f"{tag}'s ")


def gen_shopping(rng: Random) -> Example:
    topic = "shopping"
    noun, pair, shoes, (lo, hi) = rng.choice(CLOTHES)
    w = _item_words(pair)
    color = rng.choice(COLORS)
    thing = f"pair of {color} {noun}" if pair else f"{color} {noun}"
    a_thing = art(thing)
    if shoes:
        num = rng.randint(6, 11)
        size_say = rng.choice([f"I wear a size {num}.", f"Size {num}, please.",
                               f"A size {num}, I think."])
        size_sum, size_label = f"in size {num}", f"size {num}"
        bigger = f"size {num + 1}"
    else:
        size = rng.choice(CLOTHES_SIZES[:3])
        size_say = rng.choice([f"I'm usually {art(size)}.", f"{cap(art(size))}, please.",
                               f"{cap(size)}, I think."])
        size_sum, size_label = f"in {size}", size
        bigger = CLOTHES_SIZES[CLOTHES_SIZES.index(size) + 1]

    plot = rng.choice(["buy", "buy", "color", "price", "return"])
    if plot == "return":
        return _shopping_return(rng, noun, pair, w, thing, a_thing, size_label, bigger, lo, hi)

    occasion = rng.choice(OCCASIONS) if maybe(rng, 0.4) else ""
    occ = f" {occasion}" if occasion else ""
    clerk_first = maybe(rng, 0.7)
    d = Dialog("clerk", "customer") if clerk_first else Dialog("customer", "clerk")
    k, c = d.tag["clerk"], d.tag["customer"]
    occ_sum = f" {_poss(occasion, c)}" if occasion else ""

    if clerk_first:
        d.say("clerk", rng.choice(["Good morning. Can I help you?",
                                   "Hello, is there anything I can help you with?",
                                   "Hi there. Are you looking for anything in particular?",
                                   "Good afternoon. What can I do for you?"]))
        d.say("customer", rng.choice([f"Yes, I'm looking for {a_thing}{occ}.",
                                      f"Yes, please. I need {a_thing}{occ}.",
                                      f"I'd like to see {a_thing}{occ}, please."]))
        d.say("clerk", rng.choice(["Sure. What size do you wear?",
                                   "Of course. What size are you looking for?",
                                   "We have a few styles. What size do you need?"]))
    else:
        d.say("customer", rng.choice([f"Excuse me, could you help me? I'm looking for {a_thing}{occ}.",
                                      f"Hi. Do you have {a_thing}? I need {w['obj']}{occ}." if occasion
                                      else f"Hi. Do you have {a_thing}? I can't find one anywhere.",
                                      f"Excuse me. I want to buy {a_thing}{occ}."]))
        d.say("clerk", rng.choice(["Certainly. What size do you wear?",
                                   "Sure, they're over here. What size do you need?"]))
    d.say("customer", size_say)

    def finish_purchase(price: int, orig: int | None, pct: int | None) -> tuple[str, str]:
        """Closing turns of a sale; returns (payment phrase, price phrase)."""
        if orig:
            d.say("clerk", rng.choice([f"{w['Its']} normally {money(orig)}, but everything is {pct}% off this week, so {w['its']} {money(price)}.",
                                       f"{w['Its']} on sale at the moment, {pct}% off. So instead of {money(orig)}, {w['its']} only {money(price)}."]))
            d.say("customer", rng.choice([f"That's a good deal. I'll take {w['obj']}.",
                                          f"Great, I'll take {w['obj']}."]))
        else:
            d.say("clerk", rng.choice([f"{w['Its']} {money(price)}.",
                                       f"That one is {money(price)}." if not pair else f"Those are {money(price)}.",
                                       f"{w['It']} {w['costs']} {money(price)}."]))
            d.say("customer", rng.choice([f"OK, I'll take {w['obj']}.",
                                          f"That's reasonable. I'll take {w['obj']}.",
                                          f"Fine. I'll buy {w['obj']}."]))
        d.say("clerk", rng.choice(["How would you like to pay?",
                                   "Great. Will you pay in cash or by card?",
                                   "Sure. How are you paying today?"]))
        pay_say, pay_sum = rng.choice(PAYMENTS)
        d.say("customer", pay_say)
        if maybe(rng, 0.5):
            d.say("clerk", rng.choice(["Here's your receipt. Have a nice day!",
                                       "Thank you. Here's your bag and your receipt.",
                                       "Thanks for shopping with us."]))
        return pay_sum, money(price)

    def price_pick(low: int, high: int) -> int:
        return rng.randrange(low // 5, high // 5 + 1) * 5

    if plot == "buy":
        d.say("clerk", rng.choice([f"Here's {w['one']} in {size_label}. Would you like to try {w['obj']} on?",
                                   f"How about {'these' if pair else 'this one'}? The fitting room is over there.",
                                   f"Let me check... Yes, here you are. Do you want to try {w['obj']} on?"]))
        if maybe(rng, 0.5):
            d.say("customer", rng.choice(["Thanks. ... OK, what do you think?",
                                          f"Let me try {w['obj']}. ... Well, how do I look?",
                                          "OK. ... Hmm, does the color suit me?"]))
            d.say("clerk", rng.choice([f"{w['It']} look{'' if pair else 's'} great on you. The color really suits you.",
                                       "Very nice. It's one of our most popular styles this season.",
                                       f"I think {w['it']} look{'' if pair else 's'} perfect on you."]))
        d.say("customer", rng.choice([f"{w['It']} {w['fits']} very well. How much {w['is']} {w['it']}?",
                                      f"I like {w['obj']}. What's the price?",
                                      f"{w['It']} {w['fits']} perfectly. How much {w['is']} {w['it']}?"]))
        if maybe(rng, 0.4):
            orig = rng.randrange(max(lo, 40) // 20, hi // 20 + 1) * 20
            pct = rng.choice([10, 20, 25, 30, 50])
            price = orig * (100 - pct) // 100
        else:
            orig = pct = None
            price = price_pick(lo, hi)
        pay, p = finish_purchase(price, orig, pct)
        sale = " on sale" if orig else ""
        after = f" after a {pct}% discount" if orig else ""
        summaries = [
            f"{c} buys {a_thing} {size_sum} for {p}{sale} and pays {pay}.",
            f"{c} is looking for {a_thing}{occ_sum}. {k} helps {c} find {w['one']} {size_sum}, and {c} buys {w['obj']} for {p}.",
            f"{k} helps {c} choose {a_thing}. The {noun} {w['costs']} {p}{after}, and {c} pays {pay}.",
        ]
        if orig:
            summaries.append(f"{c} wants {a_thing}{occ_sum}. {k} says {w['its']} {pct}% off, so {c} gets {w['obj']} for {p} instead of {money(orig)}.")
        return [tidy(t) for t in d.turns], [s(x) for x in summaries], topic

    if plot == "color":
        other = rng.choice([x for x in COLORS if x != color])
        d.say("clerk", rng.choice([f"I'm sorry, we don't have {w['obj']} in {color} in {size_label}. We only have {other} left.",
                                   f"Let me see... I'm afraid {color} is sold out in your size. There's {'a pair' if pair else 'one'} in {other}, though."]))
        if maybe(rng, 0.5):
            d.say("customer", rng.choice([f"Hmm, {other} is fine, I guess. Can I try {w['obj']} on?",
                                          f"Well, {other} isn't bad. How much {w['is']} {w['it']}?"]))
            if "try" in d.turns[-1]:
                d.say("clerk", "Sure. The fitting room is just over there.")
                d.say("customer", f"{w['It']} {w['fits']} well. How much {w['is']} {w['it']}?")
            price = price_pick(lo, hi)
            pay, p = finish_purchase(price, None, None)
            other_thing = f"pair of {other} {noun}" if pair else f"{other} {noun}"
            summaries = [
                f"{c} wants {a_thing}, but there are none left {size_sum}. {c} buys {art(other_thing)} for {p} instead.",
                f"{k} doesn't have the {noun} in {color} in {c}'s size, so {c} takes {w['obj']} in {other} and pays {pay}.",
                f"{c} is shopping for {a_thing}{occ_sum}. Since {color} is sold out, {c} buys {w['obj']} in {other} for {p}.",
            ]
        else:
            day = rng.choice(WEEKDAYS)
            d.say("customer", rng.choice([f"I really wanted {color}. Will you get more in?",
                                          f"Oh, that's a pity. I don't like {other}. When will you have {color} again?"]))
            d.say("clerk", rng.choice([f"We're getting a new delivery on {day}.",
                                       f"We should have more by {day}. I can put {w['one']} aside for you if you like."]))
            d.say("customer", rng.choice([f"OK, I'll come back on {day}. Thanks.",
                                          f"Great, I'll come back on {day} then."]))
            summaries = [
                f"{c} wants {a_thing} {size_sum}, but {k} only has {other}. {c} will come back on {day} when new stock arrives.",
                f"The {color} {noun} {c} wants {w['is']} sold out {size_sum}. {c} decides to wait for the delivery on {day}.",
                f"{k} tells {c} that the {noun} {w['is']} only available in {other} right now. {c} prefers {color} and will return on {day}.",
            ]
        return [tidy(t) for t in d.turns], [s(x) for x in summaries], topic

    # plot == "price": the first one is too expensive
    high = price_pick(hi, hi + 60)
    cheap = price_pick(max(lo - 10, 15), max(lo, 20))
    d.say("clerk", rng.choice(["This one is our best seller. It's very good quality.",
                               f"How about {'these' if pair else 'this one'}? {w['Its']} made in Italy."]))
    d.say("customer", rng.choice([f"{w['It']} look{'' if pair else 's'} nice. How much {w['is']} {w['it']}?",
                                  "It's lovely. What's the price?" if not pair else "They're lovely. What's the price?"]))
    d.say("clerk", f"{w['Its']} {money(high)}.")
    d.say("customer", rng.choice(["Oh, that's too expensive for me. Do you have anything cheaper?",
                                  f"{money(high)}? That's more than I want to spend. Is there something less expensive?"]))
    d.say("clerk", rng.choice([f"{'These' if pair else 'This one'} {w['is']} {money(cheap)}. The style is simpler, but the quality is good.",
                               f"We have {'these' if pair else 'this one'} for {money(cheap)}. {w['Its']} a bit plainer."]))
    if maybe(rng, 0.6):
        d.say("customer", rng.choice([f"That's much better. I'll take {w['obj']}.",
                                      f"I like {w['obj']} too. I'll take {w['obj']}."]))
        d.say("clerk", "How would you like to pay?")
        pay_say, pay = rng.choice(PAYMENTS)
        d.say("customer", pay_say)
        summaries = [
            f"{c} is looking for {a_thing}. The first one {k} shows is {money(high)}, which is too expensive, so {c} buys a cheaper one for {money(cheap)}." if not pair else
            f"{c} is looking for {a_thing}. The first pair {k} shows is {money(high)}, which is too expensive, so {c} buys a cheaper pair for {money(cheap)}.",
            f"{c} thinks the {noun} for {money(high)} {w['is']} too expensive. {k} suggests a simpler {'pair' if pair else 'one'} for {money(cheap)}, and {c} buys {w['obj']}.",
            f"{k} helps {c} find {a_thing} {size_sum}. {c} chooses the {money(cheap)} {'pair' if pair else 'one'} instead of the {money(high)} one and pays {pay}.",
        ]
    else:
        d.say("customer", rng.choice(["Hmm, I'm not sure. I'll look around a bit more and maybe come back later.",
                                      "Thanks, but I think I'll keep looking. I'll come back if I don't find anything."]))
        d.say("clerk", rng.choice(["No problem. Take your time.", "Sure. We're open until nine."]))
        summaries = [
            f"{c} wants {a_thing} {size_sum}. {c} thinks the {money(high)} one is too expensive and isn't sure about the {money(cheap)} one, so {c} will look around first.",
            f"{k} shows {c} {'a pair' if pair else 'one'} for {money(high)} and a plainer {'pair' if pair else 'one'} for {money(cheap)}, but {c} doesn't buy anything yet.",
            f"{c} looks for {a_thing}{occ_sum} but finds the first one too expensive. {c} decides to keep looking before buying.",
        ]
    return [tidy(t) for t in d.turns], [s(x) for x in summaries], topic


def _shopping_return(rng: Random, noun: str, pair: bool, w: dict[str, str], thing: str,
                     a_thing: str, size_label: str, bigger: str, lo: int, hi: int) -> Example:
    topic = "shopping"
    d = Dialog("customer", "clerk")
    c, k = d.tag["customer"], d.tag["clerk"]
    day = rng.choice(DAYS)
    price = rng.randrange(lo // 5, hi // 5 + 1) * 5
    problems = [(f"{w['its']} too small", "small"),
                (f"there's a small hole in {w['obj']}", "hole"),
                ("the color looks different at home", "color")]
    if pair and thing.endswith(("sneakers", "boots")):
        problems.append(("the sole of one shoe is coming off", "hole"))
    problem, kind = rng.choice(problems)
    d.say("customer", rng.choice([f"Excuse me. I bought this {thing} here last {day}, but {problem}. Can I return {w['obj']}?",
                                  f"Hi. I'd like to return this {thing}. I bought {w['obj']} last {day}, but {problem}."]))
    d.say("clerk", rng.choice(["I'm sorry to hear that. Do you have the receipt?",
                               "Of course. Do you have your receipt with you?"]))
    d.say("customer", rng.choice([f"Yes, here it is. I paid {money(price)}.",
                                  f"Yes, it's right here. {'They were' if pair else 'It was'} {money(price)}."]))
    d.say("clerk", rng.choice([f"Would you like a refund, or would you like to exchange {w['obj']}?",
                               "Do you want your money back, or would you prefer an exchange?"]))
    refund = kind == "color" or maybe(rng, 0.4)
    if refund:
        d.say("customer", rng.choice(["I'd like a refund, please.", "I'd prefer my money back, please."]))
        d.say("clerk", rng.choice([f"No problem. Here's your {money(price)}. Sorry for the trouble.",
                                   f"All right. I'll put {money(price)} back on your card."]))
        outcome = f"{k} gives {c} a refund of {money(price)}"
        outcome2 = f"{c} gets {money(price)} back"
    elif kind == "small":
        d.say("customer", f"I'd like to exchange {w['obj']} for {art(bigger)}, please.")
        d.say("clerk", rng.choice([f"Let me check... Here you are, {bigger}. Would you like to try {w['obj']} on?",
                                   f"Sure, we have {w['obj']} in {bigger}. The fitting room is over there."]))
        d.say("customer", rng.choice([f"{w['It']} {w['fits']} much better. Thank you.",
                                      f"Perfect, {w['its']} just right now. Thanks."]))
        outcome = f"{c} exchanges {w['obj']} for {art(bigger)}"
        outcome2 = f"{k} gives {c} {w['one']} in {bigger} instead"
    else:
        d.say("customer", rng.choice([f"I'd like to exchange {w['obj']} for a new {'pair' if pair else 'one'}, please.",
                                      "An exchange, please. I really like the style."]))
        d.say("clerk", rng.choice([f"Here's a new {'pair' if pair else 'one'} in {size_label}. Please check {w['obj']} before you go.",
                                   f"Of course. Here's another {'pair' if pair else 'one'} in {size_label}."]))
        d.say("customer", "This one looks fine. Thanks for your help." if not pair else "These look fine. Thanks for your help.")
        outcome = f"{c} exchanges {w['obj']} for a new {'pair' if pair else 'one'}"
        outcome2 = f"{k} gives {c} a new {'pair' if pair else 'one'} in {size_label}"
    reason = problem
    summaries = [
        f"{c} returns {a_thing} bought last {day} because {reason}. {outcome}.",
        f"{c} wants to return the {noun} because {reason}. {c} has the receipt, and {outcome2}.",
        f"{c} brings back {a_thing} that cost {money(price)}. {outcome}.",
    ]
    return [tidy(t) for t in d.turns], [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: ordering food
# ---------------------------------------------------------------------------

MAINS = ["grilled salmon", "chicken curry", "vegetable lasagna", "beef burger",
         "mushroom risotto", "fish and chips", "roast chicken", "steak",
         "spaghetti with meatballs", "lamb stew", "shrimp pasta"]
SIDES = ["rice", "french fries", "mashed potatoes", "a green salad",
         "steamed vegetables", "garlic bread"]
STARTERS = ["tomato soup", "onion soup", "a Caesar salad", "some garlic bread",
            "the soup of the day"]
DRINKS = ["a glass of orange juice", "a cup of coffee", "a glass of red wine",
          "an iced tea", "a bottle of sparkling water", "a lemonade",
          "a glass of white wine", "a pot of green tea"]


def gen_ordering_food(rng: Random) -> Example:
    topic = "ordering food"
    plot = rng.choice(["order", "order", "recommend", "complaint", "bill"])
    if plot == "complaint":
        return _food_complaint(rng)
    if plot == "bill":
        return _food_bill(rng)
    d = Dialog("waiter", "guest")
    wt, g = d.tag["waiter"], d.tag["guest"]
    main = rng.choice(MAINS)
    window = maybe(rng, 0.35)
    if window:
        d.say("waiter", rng.choice(["Good evening. A table for one?", "Hello, welcome. Just one person?"]))
        d.say("guest", rng.choice(["Yes, please. Could I sit by the window?",
                                   "That's right. Is there a table by the window?"]))
        d.say("waiter", rng.choice(["Of course, this way, please. Here's the menu. Let me know when you're ready to order.",
                                    "Sure, follow me. Here's the menu. What would you like today?"]))
    else:
        d.say("waiter", rng.choice(["Good evening. Are you ready to order?",
                                    "Hello, may I take your order now?",
                                    "Here's the menu. What would you like today?",
                                    "Good afternoon. Have you decided what you'd like?"]))
    if plot == "recommend":
        d.say("guest", rng.choice(["I'm not sure yet. What do you recommend?",
                                   "Everything looks good. What would you recommend?",
                                   "It's my first time here. What's good today?"]))
        d.say("waiter", rng.choice([f"The {main} is very popular. It's the chef's special today.",
                                    f"I'd recommend the {main}. It's really fresh today.",
                                    f"Our {main} is excellent. Most of our customers love it."]))
        d.say("guest", rng.choice(["That sounds good. I'll have that.",
                                   f"OK, I'll try the {main}.",
                                   "Great, I'll take your advice."]))
    else:
        d.say("guest", rng.choice([f"Yes, I'd like the {main}, please.",
                                   f"I'll have the {main}.",
                                   f"Could I get the {main}, please?"]))
    main_sum = f"the {main}"
    allergy = False
    if main != "steak" and not window and maybe(rng, 0.3):
        allergy = True
        d.say("guest", rng.choice([f"Oh, wait. Are there any nuts in the {main}? I'm allergic to nuts.",
                                   f"By the way, I'm allergic to nuts. Is the {main} safe for me?"]))
        d.say("waiter", rng.choice(["Let me check with the chef... No, there are no nuts in it.",
                                    "Yes, it's fine. The chef doesn't use any nuts in that dish."]))
    if main == "steak":
        d.say("waiter", "How would you like your steak?")
        done = rng.choice(["medium rare", "medium", "well done"])
        d.say("guest", f"{cap(done)}, please.")
        main_sum = f"the steak {done}"
    starter = None
    if maybe(rng, 0.45):
        d.say("waiter", rng.choice(["Would you like a starter?", "Would you like something to start with?"]))
        if maybe(rng, 0.7):
            starter = rng.choice(STARTERS)
            d.say("guest", rng.choice([f"Yes, {starter}, please.", f"I'll have {starter} first."]))
        else:
            d.say("guest", "No, thank you. Just the main course.")
    options = rng.sample(SIDES, 3)
    side = rng.choice(options)
    d.say("waiter", rng.choice([f"It comes with {options[0]}, {options[1]} or {options[2]}. Which would you like?",
                                f"What would you like on the side? We have {options[0]}, {options[1]} or {options[2]}."]))
    d.say("guest", rng.choice([f"{cap(side)}, please.", f"I'll have {side}."]))
    d.say("waiter", rng.choice(["And what would you like to drink?", "Anything to drink?"]))
    drink = rng.choice(DRINKS)
    d.say("guest", rng.choice([f"{cap(drink)}, please.", f"Just {drink}, thanks.", f"I'd like {drink}."]))
    ready = None
    if maybe(rng, 0.5):
        ready = rng.choice([10, 15, 20, 25])
        d.say("waiter", rng.choice([f"All right. Your food will be ready in about {nw(ready)} minutes.",
                                    f"Thank you. It will take about {nw(ready)} minutes."]))
    else:
        d.say("waiter", rng.choice(["Very good. I'll bring your drink right away.",
                                    "Thank you. I'll be right back with your drink."]))
    if len(d.turns) <= 11 and maybe(rng, 0.5):
        d.say("guest", rng.choice(["Oh, and could I have a glass of water too?",
                                   "Could you also bring some extra napkins, please?",
                                   "Thanks. Oh, where's the restroom, by the way?"]))
        if "restroom" in d.turns[-1]:
            d.say("waiter", "It's down the hall, on the left.")
        else:
            d.say("waiter", rng.choice(["Of course. I'll bring it right away.", "Certainly, no problem."]))
    ready_sum = f" The food will take about {nw(ready)} minutes." if ready else ""
    if allergy:
        ready_sum = f" {g} is allergic to nuts, but the dish has none.{ready_sum}"
    seat = f"{g} gets a table by the window and " if window else f"{g} "
    if starter:
        s1 = f"{seat}orders {starter} to start, then {main_sum} with {side}, and {drink}."
        s2 = f"{wt} takes {g}'s order: {starter}, {main_sum} with {side}, and {drink}.{ready_sum}"
    else:
        s1 = f"{seat}orders {main_sum} with {side} and {drink}."
        s2 = f"{wt} takes {g}'s order. {g} chooses {main_sum} with {side} to eat and {drink} to drink.{ready_sum}"
    if plot == "recommend":
        s3 = f"{g} asks {wt} for a recommendation and orders the {main}. {g} also wants {side} and {drink}."
    else:
        s3 = f"{g} decides on {main_sum} and asks for {side} on the side. To drink, {g} has {drink}."
    return d.turns, [s(s1), s(s2), s(s3)], topic


def _food_complaint(rng: Random) -> Example:
    topic = "ordering food"
    d = Dialog("guest", "waiter")
    g, wt = d.tag["guest"], d.tag["waiter"]
    main = rng.choice(MAINS)
    other = rng.choice([m for m in MAINS if m != main])
    d.say("guest", rng.choice(["Excuse me, waiter!", "Excuse me, could you come here for a moment?",
                               "Sorry, could I speak to you for a second?"]))
    d.say("waiter", rng.choice(["Yes? Is everything all right?", "Of course. What can I do for you?"]))
    issue = rng.choice(["wait", "cold", "wrong", "salty"])
    mins = rng.choice([30, 40, 45])
    if issue == "wait":
        d.say("guest", f"I ordered the {main} {nw(mins)} minutes ago, and it still hasn't come.")
        problem_sum = f"has been waiting {nw(mins)} minutes for the {main}"
        problem2 = f"the {main} {g} ordered {nw(mins)} minutes ago still hasn't arrived"
    elif issue == "cold":
        d.say("guest", rng.choice([f"I'm afraid this {main} is cold.", f"This {main} is cold. It must have been sitting there for a while."]))
        problem_sum = f"complains that the {main} is cold"
        problem2 = f"the {main} is cold"
    elif issue == "wrong":
        d.say("guest", f"I'm sorry, but this isn't what I ordered. I asked for the {main}, and this is the {other}.")
        problem_sum = f"got the {other} instead of the {main}"
        problem2 = f"{g} ordered the {main} but got the {other}"
    else:
        d.say("guest", rng.choice([f"This {main} is much too salty. I can't eat it.",
                                   f"I'm afraid the {main} is far too salty."]))
        problem_sum = f"complains that the {main} is too salty"
        problem2 = f"the {main} is too salty"
    if issue == "wait":
        d.say("waiter", rng.choice(["I'm very sorry. The kitchen is very busy tonight. Let me check on it for you.",
                                    "I do apologize. I'll go and check with the kitchen right now."]))
        d.say("guest", rng.choice(["Thank you. I have to leave soon. I have a meeting at two.",
                                   "Please do. I'm really hungry, and my friends have almost finished eating."]))
        fix = "five minutes"
        d.say("waiter", rng.choice([f"It'll be ready in {fix}. I'm sorry again for the wait.",
                                    f"The chef says it will be out in {fix}."]))
        fix_sum = f"says the food will be ready in {fix}"
    else:
        if maybe(rng, 0.5):
            d.say("waiter", "I'm very sorry. Would you like to order something else instead?")
            d.say("guest", rng.choice([f"No, I'd still like the {main}. It's my favorite.",
                                       f"No, thanks. I'd just like a proper {main}."]))
        d.say("waiter", rng.choice([f"I'm so sorry about that. I'll bring you a new {main} right away.",
                                    f"Of course. I'll ask the chef to make you a fresh {main}."]))
        d.say("guest", "Thank you. How long will it take?")
        d.say("waiter", f"About {nw(rng.choice([10, 15]))} minutes.")
        fix_sum = f"will bring a new {main}"
    comp = None
    if maybe(rng, 0.6):
        comp = rng.choice([("And your dessert is on the house tonight.", "offers a free dessert"),
                           ("And we won't charge you for your drinks.", "won't charge for the drinks")])
        d.say("waiter", comp[0])
        d.say("guest", rng.choice(["That's very kind of you. Thank you.", "Oh, thank you. That's nice of you."]))
    comp_sent = f" {wt} also {comp[1]}." if comp else ""
    summaries = [
        f"{g} {problem_sum}. {wt} apologizes, {fix_sum}, and {comp[1]}." if comp
        else f"{g} {problem_sum}. {wt} apologizes and {fix_sum}.",
        f"{g} complains to {wt} because {problem2}. {wt} {fix_sum}.{comp_sent}",
        f"When {g} says {problem2}, {wt} apologizes and {fix_sum}.{comp_sent}",
    ]
    return d.turns, [s(x) for x in summaries], topic


def _food_bill(rng: Random) -> Example:
    topic = "ordering food"
    d = Dialog("guest", "waiter")
    g, wt = d.tag["guest"], d.tag["waiter"]
    total = rng.randrange(50, 280) / 2  # prices end in .00 or .50
    main = rng.choice(MAINS)
    d.say("guest", rng.choice(["Excuse me. Could we have the bill, please?",
                               "Waiter, can I have the check, please?",
                               "We're finished. Could you bring us the bill?"]))
    if maybe(rng, 0.6):
        d.say("waiter", rng.choice(["Certainly. Did you enjoy your meal?", "Of course. How was everything?"]))
        d.say("guest", rng.choice([f"It was delicious. The {main} was excellent.",
                                   f"Very good, thank you. I loved the {main}."]))
        d.say("waiter", f"I'm glad to hear that. Here's your bill. That comes to {money(total)}.")
        praised = f"{g} enjoyed the {main}"
    else:
        d.say("waiter", rng.choice([f"Certainly. Here you are. That comes to {money(total)}.",
                                    f"Sure. Your total is {money(total)}."]))
        praised = None
    d.say("guest", rng.choice(["Is service included?", "Does that include the tip?"]))
    included = maybe(rng, 0.5)
    tip = False
    receipt = False
    if included:
        d.say("waiter", "Yes, a service charge is already included.")
        if maybe(rng, 0.6):
            receipt = True
            d.say("guest", "Good. Could I also get a receipt? It's a business lunch, so I need it for work.")
            d.say("waiter", "Of course. I'll print one for you.")
    else:
        d.say("waiter", "No, service isn't included.")
        if maybe(rng, 0.6):
            tip = True
            d.say("guest", "How much do people usually leave as a tip here?")
            d.say("waiter", "Most people leave about fifteen percent.")
    if maybe(rng, 0.4):
        d.say("guest", "Can we split the bill? We'd like to pay separately.")
        d.say("waiter", "I'm sorry, we can only take one payment per table.")
        split = "The restaurant can't split the bill, so "
    else:
        split = ""
    pay_say, pay = rng.choice([("Can I pay by credit card?", "by credit card"),
                               ("I'll pay in cash.", "in cash"),
                               ("Do you take debit cards?", "with a debit card")])
    d.say("guest", pay_say + (" And I'll add a fifteen percent tip." if tip else ""))
    d.say("waiter", rng.choice(["Of course. I'll be right back.", "Sure, no problem."]))
    if not praised:
        d.say("guest", rng.choice(["The meal was delicious, by the way.", "Thank you. Everything was great."]))
        praised = f"{g} tells {wt} the meal was good"
    else:
        d.say("guest", "Thank you.")
        praised = f"{g} says the {main} was excellent"
    if maybe(rng, 0.7):
        d.say("waiter", rng.choice(["I'm glad you enjoyed it. Please come again.",
                                    "Thank you! I'll tell the chef."]))
    svc = "service is included" if included else "service isn't included"
    tip_s = " and adds a fifteen percent tip" if tip else " and asks for a receipt for work" if receipt else ""
    summaries = [
        f"{g} asks for the bill, which comes to {money(total)}. {cap(svc)}, and {split.lower() if split else ''}{g} pays {pay}{tip_s}.",
        f"{wt} brings {g} the bill for {money(total)} and says {svc}. {split}{g} pays {pay}{tip_s}.",
        f"{g} pays the {money(total)} bill {pay}{tip_s}. {praised}.",
    ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: restaurant reservation
# ---------------------------------------------------------------------------

RESTAURANTS = ["Golden Dragon", "Bella Italia", "the Blue Lagoon", "Maple House",
               "the Green Garden", "Ocean View", "Sakura", "Casa Miguel",
               "the Olive Tree", "Little Saigon"]


def gen_restaurant_reservation(rng: Random) -> Example:
    topic = "restaurant reservation"
    d = Dialog("staff", "caller")
    st, c = d.tag["staff"], d.tag["caller"]
    rest = rng.choice(RESTAURANTS)
    people = rng.randint(2, 8)
    day = rng.choice(DAYS)
    first, sur, title = full_name(rng)
    want = clock(rng, 18, 20)
    d.say("staff", rng.choice([f"Good afternoon, {rest}. How can I help you?",
                               f"Hello, {rest}. What can I do for you?",
                               f"Thank you for calling {rest}. How may I help you?"]))
    d.say("caller", rng.choice([f"Hello. I'd like to book a table for {nw(people)} on {day} evening.",
                                f"Hi, I'd like to reserve a table for {nw(people)} people this {day}, please.",
                                f"Hello. Can I make a reservation for {day}? There will be {nw(people)} of us."]))
    d.say("staff", rng.choice(["Certainly. What time would you like?", "Sure. For what time?"]))
    d.say("caller", rng.choice([f"At {want}, if possible.", f"Around {want}, please."]))
    full = maybe(rng, 0.4)
    time = want
    if full:
        alts = []
        while len(alts) < 2:
            t = clock(rng, 17, 21)
            if t != want and t not in alts:
                alts.append(t)
        d.say("staff", f"I'm sorry, we're fully booked at {want}. We have a table at {alts[0]} or {alts[1]}.")
        time = rng.choice(alts)
        d.say("caller", rng.choice([f"{cap(time)} is fine, then.", f"OK, let's make it {time}."]))
    else:
        d.say("staff", rng.choice(["Let me check... Yes, that's fine.", "Yes, we have a table free at that time."]))
    if maybe(rng, 0.5):
        d.say("staff", "May I have your name, please?")
        d.say("caller", f"It's {first} {sur}.")
    else:
        d.say("staff", "Could I have your name and phone number?")
        d.say("caller", f"{first} {sur}. My number is 555-{rng.randint(1000, 9999)}.")
    request = None
    r = rng.random()
    if r < 0.2:
        d.say("caller", "Could we have a table by the window?")
        d.say("staff", "Of course. I'll make a note of that.")
        request = ("asks for a table by the window", f"{c} would like to sit by the window.")
    elif r < 0.4:
        rel = rng.choice(["wife", "husband", "mother", "father", "daughter", "son"])
        d.say("caller", f"It's my {rel}'s birthday. Could you bring a small cake at the end of the meal?")
        d.say("staff", "Certainly. We'll have it ready.")
        request = (f"asks for a small cake because it's {c}'s {rel}'s birthday",
                   f"The restaurant will bring a cake for {c}'s {rel}'s birthday.")
    elif r < 0.55:
        d.say("caller", "One of us is vegetarian. Do you have vegetarian dishes?")
        d.say("staff", "Yes, we have several vegetarian dishes on the menu.")
        request = ("checks that there are vegetarian dishes", "The menu has vegetarian dishes for one of the guests.")
    d.say("staff", rng.choice([f"All right, {title} {sur}. A table for {nw(people)} on {day} at {time}. We look forward to seeing you.",
                               f"Thank you, {title} {sur}. That's {day} at {time}, for {nw(people)} people. See you then."]))
    req = f" {c} also {request[0]}." if request else ""
    req2 = f" {request[1]}" if request else ""
    if full:
        s1 = f"{c} calls {rest} to book a table for {nw(people)} on {day}. {want} is fully booked, so {c} takes a table at {time}.{req}"
        s2 = f"{c} wants a table for {nw(people)} at {want} on {day}, but {st} has nothing then, so the reservation is for {time} instead."
    else:
        s1 = f"{c} calls {rest} and books a table for {nw(people)} on {day} at {time}.{req}"
        s2 = f"{c} reserves a table for {nw(people)} people at {rest} for {time} on {day}.{req2}"
    s3 = f"{st} takes a reservation from {c} for {nw(people)} people on {day} at {time} under the name {sur}."
    return d.turns, [s(s1), s(s2), s(s3)], topic


# ---------------------------------------------------------------------------
# Topic: job interview
# ---------------------------------------------------------------------------

JOBS = {
    # position: (plausible previous workplaces, field of study)
    "sales assistant": (["a department store", "a shoe shop", "a supermarket chain"], "business"),
    "accountant": (["a small bank", "an accounting firm", "a car rental company"], "accounting"),
    "software engineer": (["a software company", "an online shop", "a game studio"], "computer science"),
    "marketing assistant": (["an advertising company", "a travel agency", "a sports clothing company"], "marketing"),
    "receptionist": (["a hotel downtown", "a dental clinic", "a law firm"], "hotel management"),
    "graphic designer": (["an advertising company", "a fashion magazine", "a design studio"], "art and design"),
    "nurse": (["a hospital", "a children's hospital", "a nursing home"], "nursing"),
    "chef": (["an Italian restaurant", "a hotel downtown", "a small cafe"], "cooking"),
    "English teacher": (["a language school", "a high school", "a summer school"], "English literature"),
    "bank teller": (["a small bank", "a credit union"], "economics"),
    "customer service representative": (["a phone company", "an online shop", "an airline"], "communications"),
    "office manager": (["a law firm", "an insurance company", "a travel agency"], "business administration"),
}
SCHOOLS = ["the state university", "a college in my hometown", "the University of Toronto",
           "Boston University", "a university in London"]
LEAVE_REASONS = [
    ("I'd like a job with more responsibility.", "wants more responsibility"),
    ("I want to work closer to home. It takes me over an hour to get to work now.", "wants to work closer to home"),
    ("I'm looking for new challenges.", "is looking for new challenges"),
    ("I'd like to work for a bigger company.", "wants to work for a bigger company"),
    ("My company is closing its office here.", "{c}'s company is closing its office"),
    ("I want to learn new skills, and there's not much chance to do that in my current job.", "wants to learn new skills"),
]
STRENGTHS = [
    ("I'm hard-working and I learn quickly.", "hard-working and learns quickly"),
    ("I'm good at working with people.", "good at working with people"),
    ("I'm very organized and careful with details.", "organized and careful with details"),
    ("I stay calm under pressure.", "calm under pressure"),
    ("I'm good at solving problems.", "good at solving problems"),
]


def gen_job_interview(rng: Random) -> Example:
    topic = "job interview"
    d = Dialog("interviewer", "candidate")
    i, c = d.tag["interviewer"], d.tag["candidate"]
    pos = rng.choice(list(JOBS))
    places, field = JOBS[pos]
    company = rng.choice(places)
    years = rng.randint(2, 8)
    d.say("interviewer", rng.choice([f"Good morning. Please have a seat. You're here for the {pos} position, right?",
                                     f"Thank you for coming in today. So, you've applied for a job as {art(pos)}.",
                                     f"Hello, nice to meet you. I see you're interested in working here as {art(pos)}."]))
    d.say("candidate", rng.choice(["Yes, that's right. Thank you for seeing me.",
                                   "Yes. I saw the advertisement online and I'm very interested.",
                                   "That's right. Nice to meet you too."]))
    school = None
    if maybe(rng, 0.4):
        school = rng.choice(SCHOOLS)
        d.say("interviewer", rng.choice(["First, could you tell me about your education?", "Where did you study?"]))
        d.say("candidate", rng.choice([f"I studied {field} at {school}.",
                                       f"I have a degree in {field} from {school}."]))
    question, yes_no = rng.choice([("Can you tell me about your work experience?", False),
                                   ("Do you have any experience in this field?", True),
                                   ("What have you been doing for the last few years?", False)])
    d.say("interviewer", ("OK. " if school else "") + question)
    d.say("candidate", ("Yes. " if yes_no else "") + rng.choice([
        f"I've worked as {art(pos)} at {company} for {nw(years)} years.",
        f"For the last {nw(years)} years, I've been working as {art(pos)} at {company}."]))
    reason_sum = None
    if maybe(rng, 0.7):
        d.say("interviewer", rng.choice(["Why do you want to leave your current job?",
                                         "So why are you looking for a new job?"]))
        reason_say, reason_sum = rng.choice(LEAVE_REASONS)
        reason_sum = reason_sum.replace("{c}", c) if "{c}" in reason_sum else f"{c} {reason_sum}"
        d.say("candidate", reason_say)
    strength = None
    if maybe(rng, 0.5):
        d.say("interviewer", rng.choice(["What would you say are your strengths?",
                                         "What makes you a good fit for this job?"]))
        strength_say, strength = rng.choice(STRENGTHS)
        d.say("candidate", strength_say)
    question = None
    if maybe(rng, 0.5):
        d.say("interviewer", "Do you have any questions for us?")
        salary = rng.randrange(30, 70) * 1000
        question = rng.choice([
            ("What are the working hours?", "The hours are nine to five, Monday to Friday.",
             "asks about the working hours, which are nine to five on weekdays"),
            ("Is there any training for new employees?", "Yes, there are two weeks of training at the start.",
             "learns there are two weeks of training at the start"),
            ("Would I need to travel for the job?", "Sometimes, maybe once or twice a month.",
             "learns the job involves some travel"),
            ("What's the starting salary?", f"It's {money(salary)} a year, plus a bonus at the end of the year.",
             f"learns the starting salary is {money(salary)} a year"),
        ])
        d.say("candidate", question[0])
        d.say("interviewer", question[1])
    outcome = rng.choice(["call", "second", "offer"])
    day = rng.choice(WEEKDAYS)
    if outcome == "call":
        d.say("interviewer", rng.choice([f"Thank you. We'll let you know our decision by {day}.",
                                         f"All right. We'll call you by {day} to tell you the result."]))
        d.say("candidate", rng.choice(["Thank you. I look forward to hearing from you.", "Thank you for your time."]))
        out_sum = f"{i} will tell {c} the result by {day}."
    elif outcome == "second":
        t = clock(rng, 9, 16)
        d.say("interviewer", f"I'd like you to come back for a second interview with our manager on {day} at {t}. Is that OK?")
        d.say("candidate", rng.choice(["Yes, that's fine. I'll be there.", "Sure. Thank you very much."]))
        out_sum = f"{i} invites {c} to a second interview on {day} at {t}."
    else:
        d.say("interviewer", f"I think you'd be a great fit. Could you start next {day}?")
        d.say("candidate", rng.choice(["Yes, I can. Thank you so much!", "Absolutely. Thank you for the opportunity."]))
        out_sum = f"{i} offers {c} the job starting next {day}."
    reason_clause = f" {reason_sum}." if reason_sum else ""
    strength_clause = f" {c} is {strength}." if strength else ""
    q_clause = f" {c} {question[2]}." if question else ""
    summaries = [
        f"{c} has an interview for the {pos} position and has worked at {company} for {nw(years)} years.{reason_clause} {out_sum}",
        f"{i} interviews {c}, who has {nw(years)} years of experience, for a job as {art(pos)}.{q_clause or strength_clause} {out_sum}",
        f"{c}, who studied {field}, applies to be {art(pos)} and tells {i} about {nw(years)} years at {company}. {out_sum}"
        if school else f"{c} applies to be {art(pos)} and tells {i} about {nw(years)} years at {company}. {out_sum}",
    ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: doctor appointment
# ---------------------------------------------------------------------------

CONDITIONS = [
    # what the patient says, summary phrase, diagnosis, advice (say, summary), medicine?
    ("I have a runny nose and I keep sneezing", "a runny nose and sneezing", "a bad cold",
     ("drink plenty of water and get some rest", "drink plenty of water and rest"), False),
    ("I've got a high fever and my whole body aches", "a high fever and body aches", "the flu",
     ("stay in bed for a few days", "stay in bed for a few days"), True),
    ("my throat is very sore and it hurts to swallow", "a sore throat", "a throat infection",
     ("avoid cold drinks and rest your voice", "avoid cold drinks and rest the voice"), True),
    ("I have a stomachache and I feel sick", "a stomachache and nausea", "food poisoning",
     ("eat only plain food like rice and toast for a couple of days", "eat only plain food for a couple of days"), True),
    ("my lower back hurts, especially when I bend down", "lower back pain", "a pulled muscle",
     ("avoid lifting anything heavy", "avoid lifting heavy things"), True),
    ("I keep getting headaches in the afternoon", "headaches in the afternoon", "eye strain",
     ("take regular breaks from the computer screen", "take regular breaks from the screen"), False),
    ("my eyes are itchy and I can't stop sneezing", "itchy eyes and sneezing", "an allergy to pollen",
     ("keep your windows closed on windy days", "keep the windows closed on windy days"), True),
    ("I've had a bad cough that won't go away", "a bad cough", "a chest infection",
     ("drink warm liquids and get plenty of sleep", "drink warm liquids and sleep well"), True),
]
MEDICINES = [("these tablets", "tablets"), ("this medicine", "medicine"),
             ("this cough syrup", "cough syrup"), ("these pills", "pills")]
FREQS = ["three times a day after meals", "twice a day", "every morning",
         "once a day before bed", "every six hours"]


def gen_doctor_appointment(rng: Random) -> Example:
    topic = "doctor appointment"
    if maybe(rng, 0.4):
        return _doctor_booking(rng)
    d = Dialog("doctor", "patient")
    doc, p = d.tag["doctor"], d.tag["patient"]
    say, sym, dx, (adv_say, adv_sum), med = rng.choice(CONDITIONS)
    if "cough" in dx or "chest" in dx:
        medicine = ("this cough syrup", "cough syrup")
    else:
        medicine = rng.choice([m for m in MEDICINES if "cough" not in m[0]])
    if maybe(rng, 0.5):
        n = rng.randint(2, 5)
        dur_say, dur_sum = f"For about {nw(n)} days now.", f"for {nw(n)} days"
    else:
        day = rng.choice(DAYS)
        dur_say, dur_sum = f"Since last {day}.", f"since last {day}"
    d.say("doctor", rng.choice(["Good morning. What seems to be the problem?",
                                "Come in and sit down. What brings you here today?",
                                "Hello. How can I help you today?"]))
    d.say("patient", rng.choice([f"Well, doctor, {say}.", f"I don't feel well. {cap(say)}.",
                                 f"{cap(say)}, and I'm worried about it."]))
    d.say("doctor", rng.choice(["How long have you felt like this?", "I see. How long has this been going on?"]))
    d.say("patient", dur_say)
    if maybe(rng, 0.6):
        if dx == "the flu":
            d.say("doctor", "Let me take your temperature... It's 39 degrees. That's quite high.")
            d.say("patient", "No wonder I feel so terrible.")
        elif "back" in sym or "stomach" in sym:
            d.say("doctor", "Let me have a look. Does it hurt when I press here?")
            d.say("patient", rng.choice(["Ouch! Yes, a little.", "Yes, a bit."]))
        else:
            d.say("doctor", rng.choice(["Let me examine you. Please open your mouth and say 'ah'.",
                                        "Let me listen to your chest. Take a deep breath, please."]))
            d.say("patient", rng.choice(["Is it anything serious?", "Is it bad, doctor?"]))
            d.say("doctor", "Don't worry.")
    freq = rng.choice(FREQS)
    if med and maybe(rng, 0.4):
        d.say("doctor", "Are you allergic to any medicine?")
        d.say("patient", rng.choice(["Not that I know of.", "No, I'm not."]))
    if med:
        d.say("doctor", f"I think you have {dx}. It's nothing serious. I'll give you {medicine[0]}. Take {'it' if 'medicine' in medicine[0] or 'syrup' in medicine[0] else 'them'} {freq}.")
    else:
        d.say("doctor", f"It looks like {dx}. You don't need any medicine for now.")
    d.say("patient", rng.choice(["Is there anything else I should do?", "OK. Anything else?",
                                 "What else should I do?"]))
    d.say("doctor", rng.choice([f"Yes, you should {adv_say}.", f"I'd like you to {adv_say}."]))
    back = None
    if maybe(rng, 0.6):
        back = rng.choice([3, 5, 7])
        d.say("doctor", f"If you don't feel better in {nw(back)} days, come back and see me.")
    d.say("patient", rng.choice(["Thank you, doctor.", "I will. Thanks a lot, doctor.", "OK. Thank you very much."]))
    med_sum = f", gives {p} {medicine[1]} to take {freq}," if med else ""
    med_sent = f" {p} has to take {medicine[1]} {freq}." if med else f" {p} doesn't need medicine."
    back_sum = f" {p} should come back if not better in {nw(back)} days." if back else ""
    summaries = [
        f"{p} has had {sym} {dur_sum}. {doc} says it's {dx}{med_sum} and tells {p} to {adv_sum}.",
        f"{p} sees {doc} about {sym}. {doc} thinks it is {dx}.{med_sent}{back_sum}",
        f"{doc} examines {p}, who has had {sym} {dur_sum}, and diagnoses {dx}. {p} should {adv_sum}.",
    ]
    return d.turns, [s(x) for x in summaries], topic


def _doctor_booking(rng: Random) -> Example:
    topic = "doctor appointment"
    d = Dialog("receptionist", "caller")
    r, c = d.tag["receptionist"], d.tag["caller"]
    doctor = rng.choice(SURNAMES)
    first, sur, title = full_name(rng)
    reason_say, reason_sum = rng.choice([
        ("I need a general check-up.", "a check-up"),
        ("I've had pain in my knee for a week.", "knee pain"),
        ("I need to renew my prescription.", "renewing a prescription"),
        ("I have a rash on my arm that won't go away.", "a rash on the arm"),
        ("I'd like to get a flu shot.", "a flu shot"),
    ])
    d.say("receptionist", rng.choice([f"Good morning, Dr. {doctor}'s office. How may I help you?",
                                      "Hello, City Health Clinic. What can I do for you?"]))
    d.say("caller", rng.choice([f"Hello. I'd like to make an appointment to see Dr. {doctor}, please.",
                                f"Hi. Could I book an appointment with Dr. {doctor}?"]))
    d.say("receptionist", "Sure. What's the reason for your visit?")
    d.say("caller", reason_say)
    day1, day2 = sorted(rng.sample(WEEKDAYS, 2), key=WEEKDAYS.index)
    t1, t2 = clock(rng, 9, 11), clock(rng, 13, 16)
    d.say("receptionist", f"Dr. {doctor} is free on {day1} at {t1} or on {day2} at {t2}.")
    if maybe(rng, 0.5):
        d.say("caller", rng.choice([f"I work on {day1} morning. {day2} at {t2} is better for me.",
                                    f"{day2} would be better, please."]))
        day, t = day2, t2
    else:
        d.say("caller", rng.choice([f"{day1} at {t1} is perfect.", f"I'll take {day1}, please."]))
        day, t = day1, t1
    d.say("receptionist", "Can I have your name, please?")
    d.say("caller", f"{first} {sur}.")
    first_visit = maybe(rng, 0.5)
    if first_visit:
        d.say("receptionist", f"Is this your first visit, {title} {sur}?")
        d.say("caller", "Yes, it is.")
        d.say("receptionist", f"Then please come fifteen minutes early to fill out some forms. See you on {day}.")
        extra = f" Since it's {c}'s first visit, {c} should come fifteen minutes early."
    else:
        d.say("receptionist", f"OK, {title} {sur}, you're booked for {day} at {t}.")
        extra = ""
    d.say("caller", rng.choice(["Thank you. Goodbye.", "Great, thanks a lot."]))
    summaries = [
        f"{c} calls to make an appointment with Dr. {doctor} for {reason_sum}. {c} will see the doctor on {day} at {t}.{extra}",
        f"{r} books {c} an appointment with Dr. {doctor} on {day} at {t} for {reason_sum}.",
        f"{c} needs to see Dr. {doctor} for {reason_sum}. {r} offers {day1} or {day2}, and {c} chooses {day} at {t}.",
    ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: travel booking
# ---------------------------------------------------------------------------

def gen_travel_booking(rng: Random) -> Example:
    topic = "travel booking"
    if maybe(rng, 0.4):
        return _train_ticket(rng)
    d = Dialog("agent", "traveler")
    ag, t = d.tag["agent"], d.tag["traveler"]
    city = rng.choice(CITIES)
    month = rng.choice(MONTHS)
    dep_day = rng.randint(1, 20)
    dep = f"{month} {ordinal(dep_day)}"
    ret = f"{month} {ordinal(dep_day + rng.randint(3, 8))}"
    d.say("agent", rng.choice(["Good morning, Sky Travel. How can I help you?",
                               "Hello. What can I do for you today?",
                               "Hi, welcome to Star Travel Agency. Where would you like to go?"]))
    d.say("traveler", rng.choice([f"I'd like to book a flight to {city} on {dep}.",
                                  f"Hi. I need a plane ticket to {city}, leaving on {dep}.",
                                  f"I'm going to {city} on business. Can I get a flight on {dep}?"]))
    d.say("agent", rng.choice(["One-way or round trip?", "Will that be one-way or round trip?"]))
    round_trip = maybe(rng, 0.7)
    if round_trip:
        d.say("traveler", rng.choice([f"Round trip, please. I'll come back on {ret}.",
                                      f"Round trip. I want to return on {ret}."]))
    else:
        d.say("traveler", "Just one-way, please. I'm not sure when I'll come back.")
    t1, t2 = clock(rng, 6, 11), clock(rng, 13, 21)
    d.say("agent", rng.choice([f"There's a flight at {t1} and another one at {t2}.",
                               f"Let me see... There are two flights that day, one at {t1} and one at {t2}."]))
    dep_time = rng.choice([t1, t2])
    d.say("traveler", rng.choice([f"The {dep_time} flight, please.", f"I'll take the one at {dep_time}."]))
    cls = rng.choice(["economy", "economy", "business"])
    price = rng.randrange(30, 90) * 10 if cls == "economy" else rng.randrange(120, 300) * 10
    d.say("agent", rng.choice(["Economy or business class?", "Would you like economy or business class?"]))
    d.say("traveler", f"{cap(cls)}, please.")
    d.say("agent", f"That comes to {money(price)}, including tax.")
    seat = None
    if maybe(rng, 0.5):
        seat = rng.choice(["window", "aisle"])
        d.say("traveler", rng.choice([f"OK. Could I have {art(seat)} seat?", f"Fine. I'd like {art(seat)} seat, if possible."]))
        d.say("agent", rng.choice([f"Sure, I've given you {art(seat)} seat.", f"No problem. {cap(art(seat))} seat it is."]))
    else:
        d.say("traveler", rng.choice(["That's fine. I'll pay by credit card.", "OK, please book it."]))
    bag = None
    if not seat and maybe(rng, 0.5):
        bag = rng.choice([20, 23, 30])
        d.say("traveler", "How much luggage can I take?")
        d.say("agent", f"You can check one suitcase of up to {bag} kilos, and take a small bag on the plane.")
    if maybe(rng, 0.5):
        first, sur, title = full_name(rng)
        d.say("agent", "May I have your name as it appears on your passport?")
        d.say("traveler", f"It's {first} {sur}.")
        d.say("agent", f"Thank you, {title} {sur}. Your ticket will be sent to your email.")
    else:
        d.say("agent", "Your ticket will be sent to your email. Have a good trip!")
    kind = "round-trip" if round_trip else "one-way"
    ret_sum = f" and returning on {ret}" if round_trip else ""
    seat_sum = f" {t} gets {art(seat)} seat." if seat else ""
    summaries = [
        f"{t} books {art(kind)} {cls} ticket to {city}, leaving on {dep} at {dep_time}{ret_sum}. It costs {money(price)}.{seat_sum}",
        f"{ag} helps {t} book {art(kind)} flight to {city} on {dep}. {t} chooses the {dep_time} flight in {cls} class for {money(price)}."
        + (f" {t} can check one suitcase of up to {bag} kilos." if bag else ""),
        f"{t} wants to fly to {city} on {dep}{ret_sum.replace('returning', 'return')}. {ag} finds {art(cls)} seat on the {dep_time} flight for {money(price)}.",
    ]
    return d.turns, [s(x) for x in summaries], topic


def _train_ticket(rng: Random) -> Example:
    topic = "travel booking"
    d = Dialog("traveler", "clerk")
    t, k = d.tag["traveler"], d.tag["clerk"]
    city = rng.choice(["Oxford", "Cambridge", "York", "Brighton", "Bath", "Boston",
                       "Philadelphia", "Lyon", "Milan", "Kyoto", "Ottawa", "Hamburg"])
    if maybe(rng, 0.4):
        d.say("traveler", rng.choice(["Excuse me, is this where I buy train tickets?",
                                      "Hi. Is this the ticket office?"]))
        d.say("clerk", rng.choice(["Yes, it is. Where would you like to go?", "That's right. Where are you going?"]))
        d.say("traveler", rng.choice([f"To {city}. When is the next train?", f"{city}. When does the next train leave?"]))
    else:
        d.say("traveler", rng.choice([f"Hello. I'd like a ticket to {city}, please.",
                                      f"Excuse me, when is the next train to {city}?",
                                      f"Hi. Can I buy a train ticket to {city} here?"]))
    dep = clock(rng, 7, 19)
    platform = rng.randint(1, 12)
    told = "next train" in d.turns[-1]
    if told:
        d.say("clerk", f"The next one leaves at {dep} from platform {platform}. Do you want a single or a return ticket?")
    else:
        d.say("clerk", "Sure. Single or return?")
    ret = maybe(rng, 0.5)
    d.say("traveler", "A return, please. I'm coming back tomorrow." if ret else "Just a single, please.")
    price = round(rng.uniform(12, 70) * 2) / 2 * (2 if ret else 1)
    if not told:
        d.say("clerk", f"That's {money(price)}. The next train leaves at {dep} from platform {platform}.")
    else:
        d.say("clerk", f"That's {money(price)}, please.")
    rides = rng.choice([None, 1, 2, 3])
    if rides:
        d.say("traveler", "How long does the journey take?")
        d.say("clerk", f"About {nw(rides)} hour{'s' if rides > 1 else ''}." if rides > 1 else "About an hour.")
    extra = ""
    questions = [
        ("Is there a dining car on the train?", "No, but there's a snack cart that comes around.",
         " There is no dining car, only a snack cart."),
        ("Do I need to change trains?", "No, it's a direct train.", " The train is direct."),
        ("Do I need to reserve a seat?", "No, you can sit anywhere in second class.", ""),
        ("Is there a discount for students?", "Only if you have a student railcard, I'm afraid.", ""),
        ("Is the train usually on time?", "Usually, yes. But check the departure board before you go.", ""),
    ]
    for q, a, q_sum in rng.sample(questions, rng.choice([1, 1, 2])):
        d.say("traveler", q)
        d.say("clerk", a)
        extra += q_sum
    d.say("traveler", rng.choice(["Here you are. Thank you.", "OK. I'll pay by card.", "Great. Here's the money."]))
    if maybe(rng, 0.5):
        d.say("clerk", rng.choice(["Here's your ticket. Have a good journey!", "Thank you. Enjoy your trip."]))
    kind = "return" if ret else "single"
    dur = (f" The trip takes about {nw(rides)} hours." if rides and rides > 1
           else " The trip takes about an hour." if rides else "")
    summaries = [
        f"{t} buys {art(kind)} train ticket to {city} for {money(price)}. The train leaves at {dep} from platform {platform}.{extra}",
        f"{k} sells {t} {art(kind)} ticket to {city}. It costs {money(price)}, and the train departs from platform {platform} at {dep}.{dur}",
        f"{t} is taking the {dep} train to {city} and pays {money(price)} for {art(kind)} ticket.{dur}",
    ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: renting an apartment
# ---------------------------------------------------------------------------

NEAR = ["the university", "the train station", "downtown", "City Park", "the hospital",
        "the business district", "the river"]
FLAT_DETAILS = [("It's on the third floor and it has a balcony.", "has a balcony"),
                ("It was just painted and it has a big kitchen.", "has a big kitchen"),
                ("It's very quiet and gets a lot of sunlight.", "is quiet and sunny"),
                ("It's fully furnished, with a new sofa and beds.", "is fully furnished"),
                ("It has a small garden at the back.", "has a small garden")]


def gen_apartment(rng: Random) -> Example:
    topic = "renting an apartment"
    tenant_first = maybe(rng, 0.6)
    d = Dialog("tenant", "agent") if tenant_first else Dialog("agent", "tenant")
    tn, ag = d.tag["tenant"], d.tag["agent"]
    beds = rng.choice([1, 2, 2, 3])
    near = rng.choice(NEAR)
    street = rng.choice(STREETS)
    rent = rng.randrange(14, 40) * 50
    det_say, det_sum = rng.choice(FLAT_DETAILS)
    kind = "studio" if beds == 1 and maybe(rng, 0.3) else f"{nw(beds)}-bedroom apartment"
    if tenant_first:
        d.say("tenant", rng.choice([f"Hello, I'm calling about the apartments you advertised. I'm looking for {art(kind)} near {near}.",
                                    f"Hi. I'm looking for {art(kind)} to rent near {near}. Do you have anything?"]))
    else:
        d.say("agent", rng.choice(["Good morning, Sunrise Real Estate. How can I help you?",
                                   "Hello, Home Finders. What can I do for you?"]))
        d.say("tenant", rng.choice([f"Hi. I need {art(kind)}, preferably near {near}.",
                                    f"I'm looking for {art(kind)} to rent near {near}."]))
    d.say("agent", rng.choice([f"We have a nice one on {street}. {det_say}",
                               f"There's one available on {street}, about five minutes from {near}. {det_say}"]))
    d.say("tenant", rng.choice(["That sounds good. How much is the rent?", "What's the rent?"]))
    d.say("agent", f"It's {money(rent)} a month.")
    extra = []
    if maybe(rng, 0.5):
        d.say("tenant", "Does that include utilities?")
        if maybe(rng, 0.5):
            d.say("agent", "Water and heating are included, but you pay for electricity.")
            extra.append("Water and heating are included in the rent.")
        else:
            d.say("agent", "No, utilities are extra. They're usually about 100 dollars a month.")
            extra.append("Utilities are not included.")
    if maybe(rng, 0.4):
        pet = rng.choice(["a cat", "a small dog"])
        d.say("tenant", f"I have {pet}. Are pets allowed?")
        if maybe(rng, 0.5):
            d.say("agent", "Yes, the owner doesn't mind pets.")
            extra.append(f"{tn}'s pet is allowed.")
        else:
            d.say("agent", "I'm afraid the owner doesn't allow pets.")
            extra.append("Pets are not allowed.")
    decision = rng.choice(["view", "view", "think", "expensive"])
    if decision == "view":
        day = rng.choice(DAYS)
        tm = clock(rng, 10, 18)
        d.say("tenant", rng.choice(["Can I come and see it?", "I'd like to have a look at it. When can I see it?"]))
        d.say("agent", f"How about {day} at {tm}?")
        d.say("tenant", rng.choice(["That's fine. See you then.", f"{day} at {tm} works for me. Thank you."]))
        end = f"{tn} will see it on {day} at {tm}."
        end2 = f"They arrange a viewing on {day} at {tm}."
    elif decision == "think":
        d.say("tenant", rng.choice(["Let me think about it and call you back tomorrow.",
                                    "I need to talk to my wife first. I'll call you back tomorrow."
                                    if maybe(rng, 0.5) else "I'd like to think it over. Can I call you back tomorrow?"]))
        d.say("agent", "Of course. But don't wait too long. Apartments in that area go fast.")
        end = f"{tn} will think about it and call back tomorrow."
        end2 = f"{tn} hasn't decided yet and will call {ag} back tomorrow."
    else:
        cheaper = rent - rng.randrange(2, 6) * 50
        d.say("tenant", rng.choice(["That's a bit more than I can afford. Do you have anything cheaper?",
                                    f"{money(rent)} is too much for me. Is there anything cheaper?"]))
        d.say("agent", f"There's a smaller one on {rng.choice([x for x in STREETS if x != street])} for {money(cheaper)}, but it's farther from {near}.")
        d.say("tenant", "That might work. Could you send me the details?")
        d.say("agent", "Sure, I'll email them to you this afternoon.")
        end = f"The rent is too high for {tn}, so {ag} suggests a smaller one for {money(cheaper)} and will email the details."
        end2 = f"{tn} asks for something cheaper, and {ag} will email details of a {money(cheaper)} apartment."
    extra_s = extra[0] if extra else ""
    summaries = [
        f"{tn} is looking for {art(kind)} near {near}. {ag} has one on {street} for {money(rent)} a month. {end}",
        f"{ag} tells {tn} about {art(kind)} on {street} that {det_sum} and costs {money(rent)} a month. {extra_s} {end2}",
        f"{tn} wants to rent {art(kind)} near {near}, and {ag} offers one for {money(rent)} a month. {end}",
    ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: weekend plans
# ---------------------------------------------------------------------------

ACTIVITIES = [
    # (infinitive, extra remark, meeting place, what to bring, earliest/latest hour, outdoors)
    ("go hiking at Pine Hill", "The leaves are changing color now.", "the bus stop on Park Road",
     "some water and good shoes", (7, 10), True),
    ("see the new science fiction movie at the Rex Cinema", "Everyone says it's great.",
     "the cinema entrance", None, (14, 20), False),
    ("visit the art museum", "There's a new photography exhibition.", "the museum entrance", None, (10, 15), False),
    ("have a picnic in Riverside Park", "The weather is supposed to be lovely.", "the park gate",
     "some sandwiches", (11, 13), True),
    ("go to the food festival downtown", "There will be food from all over the world.", "the subway station",
     None, (11, 18), True),
    ("play tennis at the sports center", "I've booked a court.", "the sports center", "your racket", (8, 17), False),
    ("go to the beach", "It's going to be hot.", "my place", "a towel and some sunscreen", (8, 12), True),
    ("go cycling along the lake", "The new bike path just opened.", "the coffee shop by the lake",
     "your helmet", (8, 15), True),
    ("go to the jazz concert in the park", "It's free this year.", "the main gate of the park", None, (16, 19), True),
    ("go bowling", "There's a new bowling alley on Main Street.", "the bowling alley on Main Street", None, (14, 20), False),
]
BUSY_REASONS = [("I'm visiting my parents", "is visiting {p}'s parents"),
                ("I have to work", "has to work"),
                ("I'm helping my brother move", "is helping {p}'s brother move"),
                ("I have a swimming lesson", "has a swimming lesson"),
                ("I promised to babysit for my neighbor", "is babysitting for a neighbor")]
RAIN_PLANS = [("go to the shopping mall", "go to the shopping mall"),
              ("see a movie", "see a movie"),
              ("play board games at my place", "play board games at {a}'s place")]


def gen_weekend_plans(rng: Random) -> Example:
    topic = "weekend plans"
    d = Dialog("a", "b")
    a, b = d.tag["a"], d.tag["b"]
    name = any_name(rng)
    act, remark, meet, bring, (h_lo, h_hi), outdoors = rng.choice(ACTIVITIES)
    act_sum = act
    meet_sum = meet.replace("my place", f"{a}'s place")
    plot = rng.choice(["agree", "agree", "busy", "decline"])
    opener = greeting_by_name(rng, name) if maybe(rng, 0.6) else rng.choice(["Hi there.", "Hey!"])
    asked_saturday = False
    if maybe(rng, 0.5):
        d.say("a", f"{opener} How was your week?")
        d.say("b", rng.choice(["Busy, but OK. I'm glad it's almost the weekend.",
                               "Pretty tiring. I've had a lot of work.",
                               "Not bad, thanks. My new job keeps me busy."]))
        d.say("a", rng.choice(["I know what you mean. Do you have any plans for the weekend?",
                               "Well, the weekend is almost here. What are you doing?"]))
    else:
        asked_saturday = maybe(rng, 0.4)
        d.say("a", f"{opener} " + ("What are you doing on Saturday?" if asked_saturday
                                   else "Do you have any plans for this weekend?"))
    if plot == "agree":
        day = "Saturday" if asked_saturday else rng.choice(["Saturday", "Sunday"])
        tm = clock(rng, h_lo, h_hi)
        d.say("b", rng.choice(["Nothing special. Why?", "Not really. I was just going to stay home and relax.",
                               "I'm free. Do you have any ideas?"]))
        d.say("a", rng.choice([f"How about we {act}? {remark}", f"Would you like to {act} with me? {remark}",
                               f"I was thinking we could {act}. {remark}"]))
        d.say("b", rng.choice(["That sounds great! When should we meet?", "Good idea. What time?",
                               f"Sure, I'd love to. Is {day} OK?"]))
        d.say("a", f"Let's meet at {meet} on {day} at {tm}.")
        extra = ""
        if bring and maybe(rng, 0.6):
            d.say("b", "OK. Should I bring anything?")
            d.say("a", f"Just bring {bring}.")
            extra += f" {b} should bring {bring.replace('your ', 'a ')}."
        if outdoors and maybe(rng, 0.4):
            rain, rain_sum = rng.choice(RAIN_PLANS)
            d.say("b", "What if it rains?")
            d.say("a", f"Then we can {rain} instead.")
            extra += f" If it rains, they will {rain_sum.replace('{a}', a)} instead."
        elif maybe(rng, 0.4):
            other = any_name(rng)
            if other != name:
                d.say("b", "Is anyone else coming?")
                d.say("a", f"I asked {other}, but {other} has to work. So it's just the two of us.")
        d.say("b", rng.choice(["Perfect. See you then!", "Great, I'm looking forward to it.", "Sounds like a plan."]))
        summaries = [
            f"{a} and {b} are going to {act_sum} on {day}. They'll meet at {meet_sum} at {tm}.{extra}",
            f"{a} invites {b} to {act_sum} this weekend, and {b} agrees. They will meet on {day} at {tm} at {meet_sum}.",
            f"{b} is free this weekend, so {a} suggests they {act_sum}. They plan to meet at {meet_sum} at {tm} on {day}.{extra}",
        ]
    elif plot == "busy":
        r_say, r_sum = rng.choice(BUSY_REASONS)
        r_sum = r_sum.replace("{p}", b)
        hour, minute = rng.randint(h_lo, h_hi), rng.choice([0, 30])
        tm = fmt_time(hour, minute)
        d.say("b", rng.choice([f"On Saturday {r_say}, but I'm free on Sunday. Why?",
                               f"Well, {r_say} on Saturday. Sunday is free, though."]))
        d.say("a", rng.choice([f"Then how about Sunday? I'd like to {act}. {remark}",
                               f"I want to {act}. {remark} Would you like to come on Sunday?"]))
        d.say("b", rng.choice(["Sure, that sounds fun. What time?", "I'd love to. When should we meet?"]))
        d.say("a", f"How about {tm} at {meet}?")
        if maybe(rng, 0.4):
            d.say("b", rng.choice(["Could we meet an hour later? I'll be tired after Saturday.",
                                   "That's a little early for me. Can we meet an hour later?"]))
            tm = fmt_time(hour + 1, minute)
            d.say("a", f"Sure, {tm} is fine. See you on Sunday!")
        else:
            d.say("b", rng.choice(["OK, see you on Sunday!", f"{cap(tm)} is good. See you there."]))
        summaries = [
            f"{b} {r_sum} on Saturday, so {a} and {b} will {act_sum} on Sunday. They'll meet at {meet_sum} at {tm}.",
            f"{a} wants to {act_sum}. {b} is busy on Saturday but free on Sunday, so they plan to meet on Sunday at {tm}.",
            f"{a} and {b} make plans for Sunday because {b} {r_sum} on Saturday. They will {act_sum}, meeting at {tm}.",
        ]
    else:
        r_say, r_sum = rng.choice(BUSY_REASONS)
        r_sum = r_sum.replace("{p}", b)
        d.say("b", rng.choice([f"I'm afraid I'm busy all weekend. {cap(r_say)} on Saturday, and on Sunday I have to study for an exam.",
                               f"Unfortunately, {r_say} on Saturday and I have an exam to study for on Sunday."]))
        d.say("a", rng.choice([f"That's too bad. I wanted to {act}. {remark}",
                               f"Oh, what a pity. I was going to ask you to {act}. {remark}"]))
        d.say("b", rng.choice(["Sorry! Maybe next weekend?", "That sounds fun. Can we do it next weekend instead?"]))
        d.say("a", rng.choice(["Sure, let's do it next weekend.", "OK, next weekend then. Good luck with your exam!"]))
        if maybe(rng, 0.5):
            d.say("b", rng.choice(["Thanks. I'll call you on Friday to decide on a time.",
                                   "Thanks! I really need it. I'll call you next week."]))
        summaries = [
            f"{a} wants to {act_sum} this weekend, but {b} {r_sum} on Saturday and must study for an exam on Sunday. They plan to go next weekend.",
            f"{b} is too busy this weekend because {b} {r_sum} and has an exam, so {a} and {b} will {act_sum} next weekend instead.",
            f"{a} invites {b} to {act_sum}. {b} can't go this weekend, so they agree to go next weekend.",
        ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: lost item
# ---------------------------------------------------------------------------

LOST_ITEMS = [
    # (item, description, contents sentence or None, is plural)
    ("wallet", "a brown leather wallet", "My driver's license and two credit cards are in it.", False),
    ("umbrella", "a long black umbrella with a wooden handle", None, False),
    ("backpack", "a blue backpack with a red zipper", "There's a laptop and some books inside.", False),
    ("phone", "a silver phone in a green case", None, False),
    ("keys", "three keys on a ring with a small teddy bear", None, True),
    ("camera", "a small black camera in a gray bag", None, False),
    ("scarf", "a long red wool scarf", None, False),
    ("glasses", "black reading glasses in a brown case", None, True),
]
LOST_WHERE = ["on the number 12 bus this morning", "on the train from {city} yesterday afternoon",
              "in the waiting room about an hour ago", "in the food court at lunchtime",
              "in the hotel lobby last night", "at the ticket counter this afternoon"]


def gen_lost_item(rng: Random) -> Example:
    topic = "lost item"
    item, desc, contents, plural = rng.choice(LOST_ITEMS)
    if maybe(rng, 0.35):
        return _lost_at_home(rng, item, plural)
    d = Dialog("owner", "clerk")
    o, k = d.tag["owner"], d.tag["clerk"]
    where = rng.choice(LOST_WHERE).replace("{city}", rng.choice(CITIES))
    it, them = ("they", "them") if plural else ("it", "it")
    if maybe(rng, 0.5):
        d.say("owner", "Excuse me, is this the lost and found office?")
        d.say("clerk", rng.choice(["Yes, it is. How can I help you?", "That's right. What can I do for you?"]))
        d.say("owner", rng.choice([f"I lost my {item} {where}.", f"I think I left my {item} {where}."]))
    else:
        d.say("owner", "Hello. I think I've lost something. Can you help me?")
        d.say("clerk", rng.choice(["Of course. What did you lose?", "Sure. What is it, and where did you lose it?"]))
        d.say("owner", rng.choice([f"My {item}. I think I left {them} {where}.",
                                   f"I lost my {item} {where}."]))
    if maybe(rng, 0.4):
        d.say("clerk", rng.choice(["Are you sure? Did you check your bags?", "Have you checked all your pockets?"]))
        d.say("owner", rng.choice(["Yes, twice. I've looked everywhere.", "Yes, I've already checked everywhere."]))
    d.say("clerk", rng.choice([f"Can you describe {them}?", "What do they look like?" if plural else "What does it look like?"]))
    if plural:
        d.say("owner", f"They're {desc}.")
    else:
        d.say("owner", f"It's {desc}." + (f" {contents}" if contents else ""))
    found = maybe(rng, 0.55)
    if found:
        d.say("clerk", rng.choice([f"Let me check... Someone handed in {desc} an hour ago. {'Are these' if plural else 'Is this'} yours?",
                                   f"Just a moment. {'Are these' if plural else 'Is this'} yours?"]))
        d.say("owner", rng.choice(["Yes! Thank you so much. I was so worried.", f"Yes, {'those are' if plural else 'that is'} mine! What a relief."]))
        sign_say, sign_sum = rng.choice([("Can I see your ID, please? And please sign this form.", "shows ID and signs for"),
                                         (f"Please sign here to show you've collected {them}.", "signs for")])
        d.say("clerk", sign_say)
        d.say("owner", "Of course. Here you are.")
        summaries = [
            f"{o} lost {art(item) if not plural else 'some ' + item} {where}. {k} checks, and someone has handed {them} in, so {o} gets {them} back.",
            f"{o} asks {k} at the lost and found office about {'some missing' if plural else 'a missing'} {item}, describing {them} as {desc}. The {item} {'were' if plural else 'was'} found, and {o} {sign_sum} {them}.",
            f"{o} describes the {item} {o} lost {where}. {k} has {them}, so {o} {sign_sum} {them} and takes {them} back.",
        ]
        if plural:
            summaries[0] = f"{o} lost {o}'s {item} {where}. {k} checks, and someone has handed {them} in, so {o} gets {them} back."
    else:
        d.say("clerk", rng.choice(["I'm afraid nothing like that has been handed in today.",
                                   f"Let me check... Sorry, we don't have {'anything like that' if not plural else 'any ' + item + ' like that'}."]))
        d.say("owner", rng.choice(["Oh no. What should I do?", "That's bad news. Is there anything I can do?"]))
        days = rng.choice([3, 7, 30])
        d.say("clerk", rng.choice([f"Please fill out this form with your phone number. We'll call you if someone finds {them}.",
                                   f"Leave your phone number with me. We keep lost items for {nw(days)} days, and we'll call you if {it} turn{'' if plural else 's'} up."]))
        d.say("owner", rng.choice(["OK. Thank you for your help.", "Thanks. I hope someone finds it." if not plural else "Thanks. I hope someone finds them."]))
        summaries = [
            f"{o} lost {o}'s {item} {where}. Nobody has handed {them} in yet, so {o} leaves a phone number and {k} will call if {it} {'are' if plural else 'is'} found.",
            f"{o} reports {art(item) if not plural else 'some ' + item} lost {where}. {k} doesn't have {them} but will contact {o} if {it} turn{'' if plural else 's'} up.",
            f"{o} describes the missing {item} to {k}. {cap(it)} {'have' if plural else 'has'} not been found, so {o} leaves contact details.",
        ]
    return d.turns, [s(x) for x in summaries], topic


def _lost_at_home(rng: Random, item: str, plural: bool) -> Example:
    topic = "lost item"
    d = Dialog("a", "b")
    a, b = d.tag["a"], d.tag["b"]
    name = any_name(rng)
    it, them, be = ("they", "them", "are") if plural else ("it", "it", "is")
    last = rng.choice([("when I came home from the supermarket", f"when {a} came home from the supermarket"),
                       ("this morning before breakfast", "before breakfast this morning"),
                       ("when I got back from the gym", f"when {a} got back from the gym")])
    small = item in ("wallet", "phone", "keys", "glasses")
    spots = [("on the kitchen table, next to the fruit bowl", "on the kitchen table"),
             ("in the car", "in the car")]
    spots += ([("in your coat pocket", "in the coat pocket"), ("under the sofa cushions", "under the sofa cushions")]
              if small else [("behind the front door", "behind the front door"), ("in the hall closet", "in the hall closet")])
    spot = rng.choice(spots)
    late = maybe(rng, 0.5)
    opener = f"{name}, have you seen my {item}?" if maybe(rng, 0.5) else f"Have you seen my {item}?"
    d.say("a", opener + rng.choice([f" I can't find {them} anywhere.", f" I've been looking for {them} for twenty minutes."]))
    again = maybe(rng, 0.35)
    if again:
        d.say("b", "Again? That's the second time this week!")
        d.say("a", "I know, I know. Can you help me look?")
        d.say("b", f"OK. When did you last have {them}?")
    else:
        d.say("b", rng.choice([f"No, I haven't. When did you last have {them}?", f"Not today. Where did you last see {them}?"]))
    d.say("a", f"I had {them} {last[0]}." + (" And I have to leave for work in ten minutes!" if late else ""))
    d.say("b", rng.choice([f"Did you look {spot[0]}?", f"Have you checked {spot[0]}?"]))
    d.say("a", rng.choice([f"Let me see... Yes! Here {it} {be}! Thank you so much.",
                           f"Hmm... Oh, there {it} {be}! What would I do without you?"]))
    d.say("b", rng.choice(["You should always put your things in the same place.",
                           f"You're welcome. Maybe keep {them} by the door from now on."]))
    if "door" in d.turns[-1]:
        d.say("a", "Good idea. I'll do that.")
    hurry = f" {a} needs {them} to leave for work soon." if late else ""
    again_s = f" It's the second time this week {a} has lost {them}." if again else ""
    summaries = [
        f"{a} can't find {a}'s {item}. {b} suggests looking {spot[1]}, and {a} finds {them} there.{hurry}",
        f"{a} last had the {item} {last[1]}. With {b}'s help, {a} finds {them} {spot[1]}.{again_s}",
        f"{b} helps {a} look for {a}'s missing {item}, which {be} {spot[1]}.{hurry}",
    ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: bank account
# ---------------------------------------------------------------------------

CURRENCIES = [("euros", 0.9, ["Paris", "Rome", "Madrid", "Berlin", "Dublin", "Amsterdam"]),
              ("British pounds", 0.8, ["London", "Edinburgh", "Manchester"]),
              ("Japanese yen", 150, ["Tokyo", "Osaka", "Kyoto"]),
              ("Canadian dollars", 1.3, ["Toronto", "Vancouver", "Montreal"]),
              ("Mexican pesos", 17, ["Mexico City", "Cancun"])]
CARD_PLACES = ["the supermarket", "a gas station", "a restaurant downtown", "the bookstore",
               "the pharmacy", "the cinema", "a coffee shop"]


def gen_bank_account(rng: Random) -> Example:
    topic = "bank account"
    plot = rng.choice(["open", "open", "exchange", "lost card", "lost card"])
    d = Dialog("clerk", "customer")
    k, c = d.tag["clerk"], d.tag["customer"]
    d.say("clerk", rng.choice(["Good morning. How can I help you today?", "Next, please. What can I do for you?",
                               "Hello, welcome to City Bank. How may I help you?",
                               "Good afternoon. What can I do for you today?"]))
    if plot == "open":
        acct = rng.choice(["savings", "checking"])
        why = rng.choice(["", " I just moved here.", " I've just started a new job.",
                          " I'm a student here, and I need an account for my part-time job."])
        d.say("customer", rng.choice([f"I'd like to open a {acct} account, please.{why}",
                                      f"Hi.{why} I want to open a {acct} account." if why else
                                      f"Hi. I want to open a {acct} account.",
                                      f"Hello. How do I open a {acct} account?{why}"]))
        id_doc = rng.choice(["passport", "driver's license", "student ID card" if "student" in why else "passport"])
        d.say("clerk", rng.choice(["Certainly. Do you have some ID with you?", "Sure. I'll need to see some ID first.",
                                   "Of course. Could I see a photo ID, please?"]))
        d.say("customer", rng.choice([f"Yes, here's my {id_doc}.", f"Sure. Will my {id_doc} do?"]))
        if "do?" in d.turns[-1]:
            d.say("clerk", "Yes, that's fine.")
        minimum = rng.choice([25, 50, 100])
        d.say("clerk", rng.choice([f"Thank you. Please fill out this form. You need to deposit at least {money(minimum)} to open the account.",
                                   f"Great. Just fill in this form, please. The minimum first deposit is {money(minimum)}."]))
        deposit = minimum * rng.choice([2, 4, 10])
        d.say("customer", rng.choice([f"No problem. I'd like to deposit {money(deposit)} today.",
                                      f"OK. I'll put in {money(deposit)}.",
                                      f"All done. Here's {money(deposit)} in cash to start with."]))
        extras = []
        options = ["online", "fee"] + (["rate"] if acct == "savings" else [])
        for opt in rng.sample(options, rng.choice([0, 1, 1, 2])):
            if opt == "rate":
                rate = rng.choice(["1.5", "2", "2.5", "3"])
                d.say("customer", rng.choice(["What's the interest rate?", "How much interest does the account pay?"]))
                d.say("clerk", f"It's {rate} percent a year.")
                extras.append(f"The interest rate is {rate} percent a year.")
            elif opt == "fee":
                fee = rng.choice([3, 5, 8])
                d.say("customer", "Is there a monthly fee?")
                d.say("clerk", f"It's {money(fee)} a month, but it's free if you keep at least 1,000 dollars in the account.")
                extras.append(f"There is a {money(fee)} monthly fee unless {c} keeps at least 1,000 dollars in the account.")
            else:
                d.say("customer", rng.choice(["Can I use online banking too?", "Is there a mobile app?"]))
                d.say("clerk", rng.choice(["Yes. You'll get a letter with your password.",
                                           "Yes. You can download our app and log in with your account number."]))
                extras.append(f"{c} can also bank online.")
        days = rng.choice([5, 7, 10])
        d.say("clerk", rng.choice([f"All done. Your debit card will arrive by mail in about {nw(days)} days.",
                                   f"Your account is open. You'll get your debit card in the mail in about {nw(days)} days."]))
        d.say("customer", rng.choice(["Great. Thank you for your help.", "Perfect. Thanks a lot.", "That was quick. Thank you!"]))
        summaries = [
            f"{c} opens a {acct} account with {c}'s {id_doc} and deposits {money(deposit)}. The debit card will arrive in about {nw(days)} days.",
            f"{k} helps {c} open a {acct} account. The minimum deposit is {money(minimum)}, and {c} puts in {money(deposit)}. {extras[0] if extras else ''}",
            f"{c} wants a {acct} account. After showing ID and depositing {money(deposit)}, {c} is told the card will come by mail in {nw(days)} days.",
        ]
    elif plot == "exchange":
        cur, rate, places = rng.choice(CURRENCIES)
        amount = rng.choice([100, 200, 300, 500, 1000])
        total = amount * rate
        total_s = f"{int(total):,}" if float(total).is_integer() else f"{total:,.2f}"
        trip = rng.choice(places)
        with_trip = maybe(rng, 0.5)
        d.say("customer", f"I'd like to change {amount} dollars into {cur}, please. I'm going to {trip} next week." if with_trip
              else f"Hello. Can I exchange {amount} US dollars for {cur} here?")
        rate_s = f"{rate:g}"
        d.say("clerk", f"Sure. Today's rate is {rate_s} {cur} to the dollar, so that's {total_s} {cur}.")
        if maybe(rng, 0.5):
            d.say("clerk", "May I see your passport, please?")
            d.say("customer", "Of course. Here it is.")
        fee = rng.choice([0, 3, 5])
        if fee:
            d.say("customer", "Is there a service charge?")
            d.say("clerk", f"Yes, it's {money(fee)}.")
            d.say("customer", "That's fine.")
        d.say("clerk", "How would you like the money? Large or small bills?")
        d.say("customer", rng.choice(["Some small bills, please.", "Large bills are fine."]))
        d.say("clerk", "Here you are. Please count it.")
        if maybe(rng, 0.5):
            d.say("customer", rng.choice(["It's all there. Thank you.", "That's right. Thanks for your help."]))
            d.say("clerk", rng.choice(["You're welcome. Have a good trip!", "My pleasure. Have a nice day."]))
        fee_s = f" There is a {money(fee)} service charge." if fee else ""
        summaries = [
            f"{c} changes {amount} dollars into {cur} at a rate of {rate_s} and gets {total_s} {cur}.{fee_s}",
            f"{k} exchanges {c}'s {amount} dollars for {total_s} {cur}.{fee_s}",
            f"{c} needs {cur} for a trip to {trip}. At today's rate of {rate_s} to the dollar, {amount} dollars becomes {total_s} {cur}."
            if with_trip else
            f"{c} wants {cur}. At today's rate of {rate_s} to the dollar, {amount} dollars becomes {total_s} {cur}.",
        ]
    else:
        place = rng.choice(CARD_PLACES)
        when = rng.choice(["yesterday", "on Friday", "this morning", "yesterday evening", "two days ago"])
        stolen = maybe(rng, 0.4)
        if stolen:
            d.say("customer", rng.choice(["My wallet was stolen, and my bank card was in it.",
                                          "Someone stole my bag on the bus. My bank card was inside."]))
        else:
            d.say("customer", rng.choice(["I think I've lost my bank card. I can't find it anywhere.",
                                          "I can't find my bank card. I think I dropped it somewhere.",
                                          "I need help. I've lost my debit card."]))
        d.say("clerk", rng.choice(["I'm sorry to hear that. I'll block the card right away. When did you last use it?",
                                   "Oh dear. Let me stop the card first so nobody can use it. When did you last use it?",
                                   "Don't worry, I'll cancel it now. When was the last time you used it?"]))
        d.say("customer", rng.choice([f"{cap(when)}, at {place}.", f"I think it was {when}, at {place}."]))
        fraud = maybe(rng, 0.35)
        if fraud:
            amt = rng.randrange(40, 400)
            shop = rng.choice(["an online shop", "an electronics store", "a clothing store"])
            d.say("clerk", f"I see a payment of {money(amt)} at {shop} an hour ago. Was that you?")
            d.say("customer", rng.choice(["No, it wasn't! What should I do?", "No! I didn't buy anything today."]))
            d.say("clerk", "Don't worry. We'll look into it, and you'll get the money back within ten days.")
            money_s = f"Someone used the card to pay {money(amt)} at {shop}, and the bank will return the money within ten days."
        else:
            d.say("clerk", rng.choice(["I can see that. There have been no payments since then, so your money is safe.",
                                       "OK. Nobody has used the card since then, so your money is safe."]))
            money_s = "No payments have been made since then, so the money is safe."
        days = rng.choice([3, 5, 7])
        d.say("customer", rng.choice(["That's a relief. How do I get a new card?", "Thank you. When will I get a new card?"]))
        d.say("clerk", rng.choice([f"We'll send a new one to your home address. It should arrive in {nw(days)} working days.",
                                   f"A new card will be mailed to you. It takes about {nw(days)} working days."]))
        cash = ""
        if maybe(rng, 0.6):
            d.say("customer", rng.choice(["Can I still take out money before then?", "How can I get cash until then?"]))
            d.say("clerk", "You can withdraw cash here at the counter with your ID.")
            cash = f" Until then {c} can withdraw cash at the counter with ID."
        why = "was stolen" if stolen else "is lost"
        summaries = [
            f"{c}'s bank card {why}, so {k} blocks it and orders a new one, which will arrive in {nw(days)} working days. {money_s}",
            f"{c} reports that {c}'s bank card {why}. {k} blocks the card and will send a new one in {nw(days)} working days.{cash}",
            f"{k} blocks {c}'s card after {c} reports it {'stolen' if stolen else 'lost'}. {money_s}",
        ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: birthday party
# ---------------------------------------------------------------------------

GIFTS = [("She loves cooking", "He loves cooking", "a nice cookbook"),
         ("She's really into music", "He's really into music", "concert tickets"),
         ("She's always reading", "He's always reading", "a gift card for the bookstore"),
         ("She just started running", "He just started running", "a sports watch"),
         ("She loves plants", "He loves plants", "a small lemon tree"),
         ("She likes taking photos", "He likes taking photos", "a photo album")]
PARTY_PLACES = [("at my apartment", "at {a}'s apartment"), ("at Luigi's Pizzeria", "at Luigi's Pizzeria"),
                ("in the back room of the Corner Cafe", "in the back room of the Corner Cafe"),
                ("in my garden", "in {a}'s garden")]


def gen_birthday_party(rng: Random) -> Example:
    topic = "birthday party"
    d = Dialog("a", "b")
    a, b = d.tag["a"], d.tag["b"]
    if maybe(rng, 0.5):
        return _birthday_invite(rng, d, a, b)
    friend, he, him, his = person(rng)
    age = rng.choice([18, 21, 25, 30, 40, 50, 60])
    day = rng.choice(DAYS)
    place_say, place_sum = rng.choice(PARTY_PLACES)
    place_sum = place_sum.replace("{a}", a)
    guests = rng.choice([10, 12, 15, 20, 25])
    if maybe(rng, 0.5):
        d.say("a", f"Did you know {friend} is turning {age} next {day}?")
        d.say("b", rng.choice([f"Really? Let's throw {him} a surprise party!",
                               f"No, I didn't! We should throw {him} a surprise party."]))
    else:
        d.say("a", f"{friend}'s {ordinal(age)} birthday is next {day}. We should do something special.")
        d.say("b", rng.choice([f"Definitely. How about a surprise party? {friend} would love that.",
                               f"You're right. Let's throw {him} a surprise party!"]))
    d.say("a", rng.choice([f"Great idea. We could have it {place_say}.", f"Good idea. What about {place_say}?"]))
    d.say("b", rng.choice(["Perfect. How many people should we invite?", "Sounds good. Who should we invite?"]))
    d.say("a", f"About {nw(guests)}, I think. Mostly friends from work and {his} old classmates.")
    tasks = rng.choice([("order the cake", "send the invitations"), ("buy the decorations", "order the cake"),
                        ("make a playlist", "take care of the food")])
    d.say("b", f"I can {tasks[0]}.")
    d.say("a", f"Great. Then I'll {tasks[1]}.")
    gift_sum = ""
    if maybe(rng, 0.6):
        likes_f, likes_m, gift = rng.choice(GIFTS)
        likes = likes_m if he == "he" else likes_f
        d.say("b", f"What should we get {him} as a present?")
        d.say("a", f"{likes}. How about {gift}?")
        d.say("b", "That's perfect. Let's buy it together.")
        gift_sum = f" They will give {friend} {gift}."
    d.say("a" if len(d.turns) % 2 == 0 else "b", rng.choice(["Remember, don't tell anyone!", f"Just make sure {friend} doesn't find out!"]))
    summaries = [
        f"{a} and {b} plan a surprise party {place_sum} for {friend}'s {ordinal(age)} birthday next {day}. {b} will {tasks[0]} and {a} will {tasks[1]}.",
        f"{friend} turns {age} next {day}, so {a} and {b} will throw a surprise party for about {nw(guests)} people {place_sum}.{gift_sum}",
        f"{b} suggests a surprise party for {friend}'s birthday. They'll invite about {nw(guests)} people, and {b} will {tasks[0]} while {a} will {tasks[1]}.",
    ]
    return d.turns, [s(x) for x in summaries], topic


def _birthday_invite(rng: Random, d: Dialog, a: str, b: str) -> Example:
    topic = "birthday party"
    name = any_name(rng)
    day = rng.choice(["Friday", "Saturday", "Sunday"])
    tm = clock(rng, 14, 20)
    place_say, place_sum = rng.choice(PARTY_PLACES)
    place_sum = place_sum.replace("{a}", a)
    d.say("a", rng.choice([f"{greeting_by_name(rng, name)} I'm having a birthday party on {day}. Can you come?",
                           f"Hi {name}. Are you free on {day}? It's my birthday, and I'm having a party."]))
    d.say("b", rng.choice(["Happy birthday in advance! Where is it?", "Oh, how nice! Where and when?"]))
    d.say("a", f"It's {place_say}, starting at {tm}.")
    age = None
    if maybe(rng, 0.5):
        age = rng.choice([20, 25, 30, 35, 40])
        d.say("b", "How old are you going to be, if you don't mind me asking?")
        d.say("a", rng.choice([f"{cap(nw(age))}! I can't believe it.", f"I'll be {nw(age)}. Don't remind me!"]))
    age_s = f" {a} is turning {nw(age)}." if age else ""
    accept = maybe(rng, 0.7)
    if accept and maybe(rng, 0.5):
        d.say("b", "Who else is coming?")
        d.say("a", rng.choice(["Mostly friends from work, and a few people from my old school.",
                               "Just close friends and family. About fifteen people.",
                               f"My neighbors, some friends from the gym, and my cousin {any_name(rng)}."]))
    if accept:
        a_say, b_say, bring_sum = rng.choice([
            ("some drinks", "some drinks", "some drinks"), ("a salad", "a salad", "a salad"),
            ("your guitar", "my guitar", f"{b}'s guitar"), ("dessert", "dessert", "dessert"),
            ("some of your homemade cookies", "some cookies", "homemade cookies")])
        d.say("b", rng.choice(["I'd love to come. Should I bring anything?", "Count me in! Can I bring something?"]))
        d.say("a", f"Maybe {a_say}? That would be great.")
        sis = maybe(rng, 0.4)
        d.say("b", f"Sure, I'll bring {b_say}. Can I bring my sister too?" if sis else f"No problem. I'll bring {b_say}.")
        if sis:
            d.say("a", "Of course! The more the merrier.")
        summaries = [
            f"{a} invites {b} to {a}'s birthday party {place_sum} on {day} at {tm}. {b} will come and bring {bring_sum}.{age_s}",
            f"{b} accepts {a}'s invitation to a birthday party on {day}. The party starts at {tm} {place_sum}, and {b} will bring {bring_sum}"
            + (f" and {b}'s sister." if sis else "."),
            f"{a} is having a birthday party on {day} at {tm} {place_sum}.{age_s} {b} is coming and offers to bring something, so {a} asks for {bring_sum}.",
        ]
    else:
        excuse_say, excuse_sum = rng.choice([
            ("I'm flying to my cousin's wedding that weekend", "is going to a cousin's wedding"),
            ("I have to work late on " + day, "has to work late"),
            ("my parents are visiting that weekend", "has parents visiting"),
        ])
        d.say("b", f"Oh, I'm so sorry, I can't make it. {cap(excuse_say)}.")
        d.say("a", rng.choice(["That's too bad. Maybe next time.", "No worries. We'll celebrate another time."]))
        d.say("b", rng.choice(["Let's have lunch next week, and I'll bring your present.",
                               "I'll take you out for dinner next week to make up for it."]))
        later = "lunch" if "lunch" in d.turns[-1] else "dinner"
        d.say("a", rng.choice(["Deal! Have fun this weekend.", f"That sounds lovely. {cap(later)} next week, then."]))
        summaries = [
            f"{a} invites {b} to a birthday party on {day}, but {b} can't come because {b} {excuse_sum}. {b} suggests {later} next week instead.",
            f"{b} can't go to {a}'s birthday party {place_sum} on {day} because {b} {excuse_sum}. They'll have {later} together next week.{age_s}",
            f"{a}'s birthday party is on {day} at {tm}. {b} {excuse_sum}, so {b} will miss it but plans {later} with {a} next week.",
        ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: car repair
# ---------------------------------------------------------------------------

CAR_PROBLEMS = [
    # customer says, summary phrase, mechanic's diagnosis, cause (summary), fix (summary), cost range
    ("it makes a loud squeaking noise when I brake", "makes a noise when braking",
     "the brake pads are worn out. We need to replace them", "the brake pads are worn out",
     "replace the brake pads", (120, 250)),
    ("it won't start in the mornings", "won't start in the mornings",
     "the battery is old and weak. You need a new one", "the battery is old and weak",
     "put in a new battery", (90, 180)),
    ("the air conditioning isn't working", "has air conditioning that isn't working",
     "there's a small leak in the air conditioning system. We'll have to fix the leak and refill it",
     "there's a leak in the air conditioning", "fix the leak", (150, 300)),
    ("the check engine light came on yesterday", "has the check engine light on",
     "one of the sensors is broken. We'll replace it", "a sensor is broken", "replace the sensor", (100, 200)),
    ("it pulls to the left when I drive", "pulls to the left",
     "the wheels need to be aligned", "the wheels need aligning", "align the wheels", (60, 100)),
    ("one of the tires keeps losing air", "has a tire that keeps losing air",
     "there's a nail in the tire. We can repair it", "there's a nail in a tire", "repair the tire", (25, 40)),
]


def gen_car_repair(rng: Random) -> Example:
    topic = "car repair"
    d = Dialog("mechanic", "customer")
    m, c = d.tag["mechanic"], d.tag["customer"]
    say, prob, diag, cause, fix, (lo, hi) = rng.choice(CAR_PROBLEMS)
    cost = rng.randrange(lo // 5, hi // 5 + 1) * 5
    car = rng.choice(["car", "van", "old Toyota", "new Ford", "Honda"])
    d.say("mechanic", rng.choice(["Hi there. What can I do for you?", "Good morning. Having some car trouble?",
                                  "Hello. How can I help you today?"]))
    opener = d.turns[-1]
    d.say("customer", ("Yes. " if "trouble" in opener else "Hi. ") + rng.choice([
        f"There's something wrong with my {car}. {cap(say)}.",
        f"It's my {car}. {cap(say)}, and I'm worried about it.",
        f"My {car} has a problem: {say}."]))
    if maybe(rng, 0.5):
        d.say("mechanic", "How long has this been happening?")
        d.say("customer", rng.choice(["For about a week.", "Just since the weekend.", "A few days now."]))
    if maybe(rng, 0.3):
        d.say("mechanic", "When did you last have it serviced?")
        d.say("customer", rng.choice(["Last spring, I think.", "Honestly, I can't remember. It's been a while."]))
    d.say("mechanic", rng.choice([f"Let me take a look... I see. I think {diag}.",
                                  f"OK, give me a minute to check... Well, {diag}."]))
    d.say("customer", rng.choice(["How much will that cost?", "How much is that going to cost me?"]))
    d.say("mechanic", f"About {money(cost)}, including parts and labor.")
    when = rng.choice(["this afternoon", "tomorrow morning", "tomorrow at noon", f"on {rng.choice(WEEKDAYS)} afternoon"])
    d.say("customer", rng.choice(["When will it be ready?", "How long will it take?"]))
    d.say("mechanic", f"It should be ready {when}.")
    oil_sum = ""
    if maybe(rng, 0.4):
        oil = rng.choice([40, 45, 50, 60])
        d.say("mechanic", f"Also, your oil needs changing. Do you want us to do that too? It's another {money(oil)}.")
        if maybe(rng, 0.6):
            d.say("customer", "Yes, please do that too.")
            oil_sum = f" {c} also agrees to an oil change for {money(oil)}."
        else:
            d.say("customer", "No, thanks. Just the repair for now.")
            oil_sum = f" {c} doesn't want the {money(oil)} oil change."
    if d.last_is("mechanic"):
        d.say("customer", rng.choice(["OK, go ahead. Here are my keys.", "Fine. Please call me when it's done.",
                                      "All right. I'll leave the car with you."]))
    if maybe(rng, 0.5):
        d.say("mechanic", "Will do. We'll call you when it's ready.")
    the_car = "car" if car in ("car", "van") else car.split()[-1]
    summaries = [
        f"{c}'s {car} {prob}, and {m} finds that {cause}. The repair will cost about {money(cost)} and be ready {when}.{oil_sum}",
        f"{c} brings the {the_car} to {m} because it {prob}. {m} will {fix}, which costs about {money(cost)}.{oil_sum}",
        f"{m} checks {c}'s {car}, which {prob}, and finds that {cause}. The repair costs about {money(cost)}, and it will be ready {when}.",
    ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: library
# ---------------------------------------------------------------------------

SUBJECTS = ["Chinese history", "gardening", "photography", "computer programming", "French cooking",
            "astronomy", "world economics", "children's stories", "travel in South America"]


def gen_library(rng: Random) -> Example:
    topic = "library"
    plot = rng.choice(["card", "overdue", "find"])
    d = Dialog("visitor", "librarian") if maybe(rng, 0.7) else Dialog("librarian", "visitor")
    v, lib = d.tag["visitor"], d.tag["librarian"]
    if d.tag["librarian"] == "#Person1#":
        d.say("librarian", rng.choice(["Hello. Can I help you?", "Good afternoon. What can I do for you?"]))
    if plot == "card":
        books, weeks = rng.choice([(5, 2), (6, 3), (8, 3), (10, 4)])
        d.say("visitor", rng.choice(["Hi. I'd like to get a library card.",
                                     "I'm new here. How do I get a library card?",
                                     "Hello. I just moved to the area. Can I sign up for a library card?",
                                     "Excuse me, I'd like to borrow some books, but I don't have a card yet."]))
        d.say("librarian", rng.choice(["Sure. Do you have photo ID and something that shows your address?",
                                       "No problem. I just need a photo ID and proof of your address.",
                                       "Of course. Can I see some ID, and a bill or letter with your address on it?"]))
        d.say("visitor", rng.choice(["Yes, here's my driver's license and a gas bill.",
                                     "I have my passport and a letter from my bank.",
                                     "Here's my ID card, and this is my rental contract.",
                                     "Will my driver's license and a phone bill work?"]))
        if "work?" in d.turns[-1]:
            d.say("librarian", "Yes, those are fine.")
        d.say("librarian", rng.choice([f"Great. Just fill out this form... Here's your card. You can borrow up to {nw(books)} books for {nw(weeks)} weeks.",
                                       f"Thanks. Please sign here... All done. With this card you can take out {nw(books)} books at a time, for {nw(weeks)} weeks each.",
                                       f"Here you are. The limit is {nw(books)} books, and the loan period is {nw(weeks)} weeks."]))
        extra = []
        questions = ["renew", "close", "wifi", "print", "ebooks"]
        for q in rng.sample(questions, rng.choice([1, 1, 2, 2, 3])):
            if q == "renew":
                d.say("visitor", rng.choice(["Can I renew books online?", "What if I need a book for longer?"]))
                d.say("librarian", "You can renew each book once on our website.")
                extra.append("Books can be renewed once online.")
            elif q == "close":
                close = clock(rng, 17, 21, halves=False)
                d.say("visitor", rng.choice(["And what time do you close?", "How late are you open?"]))
                d.say("librarian", f"We close at {close} on weekdays.")
                extra.append(f"The library closes at {close} on weekdays.")
            elif q == "wifi":
                d.say("visitor", "Is there Wi-Fi in the library?")
                d.say("librarian", "Yes, it's free. The password is on the board by the entrance.")
                extra.append("The library has free Wi-Fi.")
            elif q == "print":
                d.say("visitor", "Can I use the printers too?")
                d.say("librarian", "Yes. Printing is ten cents a page. You pay with your card.")
                extra.append("Printing costs ten cents a page.")
            else:
                d.say("visitor", "Do you have e-books?")
                d.say("librarian", "Yes, you can borrow e-books on our app with your card number.")
                extra.append(f"{v} can also borrow e-books on the library's app.")
        d.say("visitor", rng.choice(["Thank you very much.", "Great, thanks for your help.", "Perfect. Thank you."]))
        d.say("librarian", rng.choice(["You're welcome. Enjoy your reading!", "My pleasure. Happy reading!",
                                       "You're welcome. Let me know if you need help finding anything."]))
        summaries = [
            f"{v} gets a library card after showing ID and proof of address. {v} can borrow up to {nw(books)} books for {nw(weeks)} weeks.",
            f"{lib} helps {v} get a library card. With it, {v} can borrow {nw(books)} books at a time for {nw(weeks)} weeks. {extra[0] if extra else ''}",
            f"{v} wants a library card, and {lib} makes one after checking {v}'s ID. The loan period is {nw(weeks)} weeks for up to {nw(books)} books.",
        ]
    elif plot == "overdue":
        n_books = rng.randint(2, 4)
        late = rng.randint(3, 9)
        fine_cents = rng.choice([10, 20, 25])
        total = n_books * late * fine_cents / 100
        if d.last_is("librarian"):
            d.say("visitor", rng.choice([f"Yes. I'd like to return these {nw(n_books)} books. I'm afraid they're {nw(late)} days late.",
                                         f"Hi. I'm returning these {nw(n_books)} books. I know they're overdue, {nw(late)} days, I think."]))
        else:
            d.say("visitor", rng.choice(["Hi. Is this where I return books?", "Excuse me, can I return books here?"]))
            d.say("librarian", rng.choice(["Yes, it is. You can leave them here on the desk.", "Yes, just put them here."]))
            d.say("visitor", f"Thanks. There are {nw(n_books)} of them, and I'm afraid they're {nw(late)} days late.")
        d.say("librarian", rng.choice([f"Let me see. Yes, the fine is {fine_cents} cents a day for each book, so that's {money(total)}.",
                                       f"OK. It's {fine_cents} cents per book per day, so you owe {money(total)}."]))
        if maybe(rng, 0.5):
            d.say("visitor", rng.choice(["I'm sorry. I was away on a business trip and forgot all about them.",
                                         "Sorry about that. I was sick with the flu last week.",
                                         "I'm sorry. I moved house, and they were packed in a box.",
                                         "Sorry. My son had them in his room, and I didn't notice."]))
            d.say("librarian", rng.choice(["It happens. Next time you can renew them online before they're due.",
                                           "Don't worry. We can send you an email reminder next time, if you like."]))
        d.say("visitor", rng.choice(["OK, here you are.", "Fair enough. Can I pay by card?", "No problem. Here's the money."]))
        d.say("librarian", "Yes, that's fine." if "card" in d.turns[-1] else "Thank you. Here's your receipt.")
        renew = None
        if maybe(rng, 0.6):
            renew = rng.choice(["The Old Man and the Sea", "the cookbook", "the gardening book", "the history book"])
            d.say("visitor", f"Actually, I haven't finished {renew}. Can I borrow it again?")
            d.say("librarian", rng.choice(["Sure, I'll renew it for another two weeks. Please bring it back on time!",
                                           "Of course. It's yours for two more weeks."]))
            d.say("visitor", rng.choice(["I will. Thanks.", "Thanks, I'll be more careful this time."]))
        renew_sum = f" {v} also borrows {renew} again for two weeks." if renew else ""
        summaries = [
            f"{v} returns {nw(n_books)} books that are {nw(late)} days late and pays a fine of {money(total)}.{renew_sum}",
            f"{v}'s books are overdue, so {lib} charges {fine_cents} cents a day per book, {money(total)} in total.{renew_sum}",
            f"{lib} tells {v} that the late fine for the {nw(n_books)} books is {money(total)}, and {v} pays it.",
        ]
    else:
        subject = rng.choice(SUBJECTS)
        floor = rng.choice(["second", "third", "fourth", "ground"])
        why = rng.choice(["", " I'm writing a report for school.", " It's for a class I'm taking.",
                          " I want to learn more about it before a trip.", " It's a new hobby of mine."])
        d.say("visitor", rng.choice([f"Excuse me, where can I find books on {subject}?{why}",
                                     f"Hi. I'm looking for some books about {subject}.{why}",
                                     f"Could you help me? I need books on {subject}.{why}"]))
        d.say("librarian", rng.choice([f"They're on the {floor} floor, on the shelves by the windows.",
                                       f"Go to the {floor} floor. They're in the section on the left, next to the study tables.",
                                       f"Those are on the {floor} floor, near the back, by the computers."]))
        book = rng.choice(["A Short Guide to", "The Complete Book of", "An Introduction to", "The Basics of"]) + " " + " ".join(
            word if word in ("in", "of", "and") else cap(word) for word in subject.split())
        d.say("visitor", rng.choice([f"Thanks. I'm especially looking for one called {book}. Is it available?",
                                     f"Great. Do you have a book called {book}? A friend recommended it.",
                                     f"Thank you. Is {book} available? My teacher recommended it."]))
        checked = maybe(rng, 0.5)
        if checked:
            due = a_date(rng)
            d.say("librarian", rng.choice([f"Let me check the computer... I'm sorry, it's checked out. It's due back on {due}. Would you like to reserve it?",
                                           f"Just a moment... Someone has borrowed it. It should be back on {due}. Shall I put a hold on it for you?"]))
            d.say("visitor", rng.choice(["Yes, please.", "That would be great, thanks."]))
            d.say("librarian", rng.choice(["All right. We'll send you an email when it comes back.",
                                           "Done. You'll get an email as soon as it's returned."]))
            d.say("visitor", rng.choice(["Thanks. I'll look at the other books on the shelf for now.",
                                         "Thank you. I'll look around for something else in the meantime."]))
            summaries = [
                f"{v} is looking for books on {subject}, which are on the {floor} floor. The book {v} wants is checked out until {due}, so {lib} reserves it.",
                f"{lib} tells {v} that books on {subject} are on the {floor} floor. {book} is due back on {due}, and {v} will get an email when it's returned.",
                f"{v} wants {book}, a book about {subject}, but it's out until {due}. {v} reserves it.",
            ]
        else:
            copy_price = rng.choice([10, 15, 20])
            d.say("librarian", rng.choice(["Let me check... Yes, there's a copy on the shelf. But it's a reference book, so you can only read it here.",
                                           "Yes, we have one copy. It's a reference book, though, so it can't leave the library."]))
            d.say("visitor", rng.choice(["That's OK. Can I make some photocopies?", "Oh. Is there a copy machine I can use?"]))
            d.say("librarian", rng.choice([f"Yes, the copy machine is next to the stairs. It's {nw(copy_price)} cents a page.",
                                           f"Sure, there's one by the entrance. Copies are {nw(copy_price)} cents a page."]))
            summaries = [
                f"{v} is looking for books on {subject}. {lib} says they're on the {floor} floor, and {book} is a reference book that can only be used in the library.",
                f"{lib} tells {v} where to find {book}. {v} can't take it out but can make copies for {nw(copy_price)} cents a page.",
                f"{v} asks {lib} for help finding a book about {subject}. It's on the {floor} floor, but it can't leave the library, so {v} will photocopy pages.",
            ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: hotel check-in
# ---------------------------------------------------------------------------

def gen_hotel_checkin(rng: Random) -> Example:
    topic = "hotel check-in"
    d = Dialog("receptionist", "guest")
    r, g = d.tag["receptionist"], d.tag["guest"]
    first, sur, title = full_name(rng)
    nights = rng.randint(1, 6)
    room_type = rng.choice(["single room", "double room", "twin room", "suite"])
    floor = rng.randint(2, 12)
    room = floor * 100 + rng.randint(1, 30)
    bf_start = rng.choice(["6:30", "7", "7:30"])
    bf_end = rng.choice(["10", "10:30"])
    checkout = rng.choice(["11 a.m.", "noon"])
    d.say("receptionist", rng.choice(["Good evening. Welcome to the Grand Hotel. How can I help you?",
                                      "Hello and welcome. Are you checking in?",
                                      "Good afternoon. Welcome to the Park View Hotel."]))
    plot = rng.choice(["reserved", "reserved", "walkin"])
    if plot == "reserved":
        d.say("guest", rng.choice([f"Hi. I have a reservation under the name {sur}.",
                                   f"Yes, I'd like to check in. The reservation is under {first} {sur}."]))
        d.say("receptionist", f"Let me check... Yes, {title} {sur}, {art(room_type)} for {nw(nights)} night{'s' if nights > 1 else ''}. Is that right?")
        d.say("guest", "That's right.")
        price_sum = ""
    else:
        price = rng.randrange(16, 40) * 5
        d.say("guest", rng.choice(["Hi. I don't have a reservation. Do you have any rooms available?",
                                   f"Hello. Do you have {art(room_type)} free for tonight? I don't have a booking."]))
        d.say("receptionist", f"Yes, we have {art(room_type)} for {money(price)} a night. How long will you be staying?")
        d.say("guest", f"{cap(nw(nights))} night{'s' if nights > 1 else ''}. Does the price include breakfast?")
        d.say("receptionist", "Yes, breakfast is included.")
        d.say("receptionist", "May I have your name and a credit card, please?")
        d.say("guest", f"Sure. It's {first} {sur}. Here's my card.")
        price_sum = f" for {money(price)} a night including breakfast"
    request = None
    if maybe(rng, 0.4):
        request = rng.choice([("Could I have a quiet room away from the elevator?", "asks for a quiet room"),
                              ("Is it possible to get a room with a view of the sea?", "asks for a sea view"),
                              ("Could I have a non-smoking room?", "asks for a non-smoking room")])
        d.say("guest", request[0])
        d.say("receptionist", "Of course. " + f"I'll give you room {room} on the {ordinal(floor)} floor.")
    else:
        d.say("receptionist", f"You're in room {room} on the {ordinal(floor)} floor. Here's your key card.")
    if maybe(rng, 0.7):
        d.say("guest", rng.choice(["What time is breakfast?", "When is breakfast served?"]))
        d.say("receptionist", f"From {bf_start} to {bf_end} in the restaurant on the ground floor.")
        bf_sum = f" Breakfast is from {bf_start} to {bf_end}."
    else:
        bf_sum = ""
    if maybe(rng, 0.5):
        d.say("guest", "And what time is check-out?")
        d.say("receptionist", f"Check-out is at {checkout}. Enjoy your stay!")
        co_sum = f" Check-out is at {checkout}."
    else:
        d.say("guest", "Thank you very much.")
        co_sum = ""
    nights_s = f"{nw(nights)} night{'s' if nights > 1 else ''}"
    req_sum = f" {g} {request[1]}." if request else ""
    if plot == "reserved":
        s1 = f"{g} checks in with a reservation for {art(room_type)} for {nights_s}. {r} gives {g} room {room} on the {ordinal(floor)} floor.{bf_sum}"
        s2 = f"{r} finds {g}'s booking under the name {sur} and gives {g} the key to room {room}.{req_sum}{co_sum}"
        s3 = f"{g} arrives at the hotel and checks in for {nights_s}. {g} is in room {room}.{bf_sum}{co_sum}"
    else:
        s1 = f"{g} has no reservation but gets {art(room_type)}{price_sum} for {nights_s}. It's room {room} on the {ordinal(floor)} floor."
        s2 = f"{r} offers {g} {art(room_type)}{price_sum}. {g} stays {nights_s} in room {room}.{req_sum}{bf_sum}"
        s3 = f"{g} walks in without a booking and takes {art(room_type)} for {nights_s}. {r} gives {g} room {room}.{co_sum}"
    return d.turns, [s(s1), s(s2), s(s3)], topic


# ---------------------------------------------------------------------------
# Topic: weather
# ---------------------------------------------------------------------------

WEATHER_NOW = {
    # season: [(adjective, what #Person1# says, summary sentence)]
    "warm": [("hot", "What a hot day! It must be over thirty degrees.", "It's really hot today"),
             ("rainy", "It's been raining all morning. I got completely wet on the way here.", "It has been raining all morning"),
             ("windy", "It's so windy today! My umbrella nearly blew away.", "It's very windy today"),
             ("sunny", "Isn't it a beautiful day? Not a cloud in the sky.", "It's a beautiful sunny day")],
    "cold": [("snowy", "Look at all this snow! The roads are covered.", "There's a lot of snow today"),
             ("cold", "It's freezing this morning. I should have worn gloves.", "It's very cold this morning"),
             ("foggy", "This fog is so thick. I could hardly see the road when I was driving in.", "It's very foggy today")],
}
FORECASTS = {
    # (season, good weather?): [(forecast, summary noun phrase)]
    ("warm", False): [("there'll be heavy rain on Saturday", "heavy rain on Saturday"),
                      ("a big storm is coming on Saturday", "a storm on Saturday")],
    ("warm", True): [("Saturday will be sunny and warm", "sunny, warm weather on Saturday"),
                     ("the weekend will be dry and mild", "dry, mild weather this weekend")],
    ("cold", False): [("there'll be a snowstorm on Saturday", "a snowstorm on Saturday"),
                      ("there'll be freezing rain all weekend", "freezing rain all weekend")],
    ("cold", True): [("Saturday will be cold but sunny", "cold but sunny weather on Saturday"),
                     ("the weekend will be clear and bright", "clear, bright weather this weekend")],
}
OUTDOOR_PLANS = {
    "warm": [("go on a picnic", "go to the movies"), ("play football in the park", "go bowling"),
             ("go to the beach", "visit the aquarium"), ("have a barbecue", "cook dinner at home"),
             ("go hiking", "go to the museum")],
    "cold": [("go skiing in the mountains", "go to the museum"), ("go ice skating in the park", "see a movie"),
             ("take a long walk in the hills", "visit the new shopping mall")],
}
SEASONS = [("autumn", "It's not too hot and not too cold, and the leaves are beautiful."),
           ("spring", "Everything is green and the flowers are out."),
           ("summer", "I love swimming and long, light evenings."),
           ("winter", "I love snow, and I'm a big fan of skiing.")]


def gen_weather(rng: Random) -> Example:
    topic = "weather"
    d = Dialog("a", "b")
    a, b = d.tag["a"], d.tag["b"]
    season = rng.choice(["warm", "warm", "cold"])
    kind, now_say, now_sum = rng.choice(WEATHER_NOW[season])
    good = maybe(rng, 0.45)
    f_say, f_sum = rng.choice(FORECASTS[(season, good)])
    plan, alt = rng.choice(OUTDOOR_PLANS[season])
    name = any_name(rng)
    d.say("a", (f"{greeting_by_name(rng, name)} " if maybe(rng, 0.4) else "") + now_say)
    d.say("b", rng.choice(["I know! It's been like this since yesterday.", "Yes, I can't believe it.",
                           f"Tell me about it. I didn't expect it to be so {kind}."]))
    extra = ""
    if maybe(rng, 0.4):
        city = rng.choice(CITIES)
        home = rng.choice(["much warmer", "a lot colder", "usually dry", "rainy almost every day"])
        d.say("a", "Is the weather like this in your hometown?")
        d.say("b", f"Not really. In {city} it's {home} at this time of year.")
        extra = f" {b}'s hometown, {city}, is {home} at this time of year."
    elif maybe(rng, 0.5):
        fav, why = rng.choice(SEASONS)
        d.say("a", "I can't wait for the seasons to change. Which season do you like best?")
        d.say("b", f"{cap(fav)}. {why}")
        extra = f" {b}'s favorite season is {fav}."
    d.say("a", rng.choice(["Have you heard the weather forecast for the weekend?",
                           "Do you know what the weather will be like this weekend?"]))
    d.say("b", f"Yes, the radio said {f_say}.")
    if not good:
        d.say("a", f"Oh no. We were going to {plan} on Saturday.")
        d.say("b", rng.choice([f"Maybe we should {alt} instead.", f"Well, we could always {alt} instead."]))
        d.say("a", rng.choice(["Good idea. I'll tell the others.", "You're right. Let's do that."]))
        plan_sum = f" They planned to {plan} on Saturday, but they decide to {alt} instead."
        plan_sum2 = f" Because of the forecast, they will {alt} instead of their plan to {plan}."
    else:
        d.say("a", f"Great! Then we can {plan} on Saturday as planned.")
        d.say("b", rng.choice(["Yes, I can't wait.", "Perfect. I'll check the forecast again on Friday, just in case."]))
        plan_sum = f" They can still {plan} on Saturday."
        plan_sum2 = f" The weather should be good, so they will {plan} on Saturday as planned."
    summaries = [
        f"{a} and {b} talk about the weather: {now_sum[0].lower() + now_sum[1:]}, and the forecast says {f_say}.{plan_sum}",
        f"{a} comments on the {kind} weather, and {b} mentions the forecast of {f_sum}.{plan_sum2}",
        f"{now_sum}, and {b} has heard that {f_say}.{extra}{plan_sum}",
    ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: gym membership
# ---------------------------------------------------------------------------

def gen_gym_membership(rng: Random) -> Example:
    topic = "gym membership"
    d = Dialog("staff", "visitor") if maybe(rng, 0.5) else Dialog("visitor", "staff")
    st, v = d.tag["staff"], d.tag["visitor"]
    monthly = rng.choice([25, 30, 35, 40, 45, 50])
    yearly = monthly * 10
    classes = rng.choice([("yoga and spinning", "yoga and spinning classes"),
                          ("yoga and dance", "yoga and dance classes"),
                          ("boxing and pilates", "boxing and pilates classes"),
                          ("aerobics and weight training", "aerobics and weight training classes")])
    gym = rng.choice(["FitLife", "Power Gym", "City Fitness", "Green Park Gym"])
    if st == "#Person1#":
        d.say("staff", rng.choice([f"Hi, welcome to {gym}. Can I help you?", "Hello! Are you interested in joining?",
                                   f"Good morning, and welcome to {gym}. Is this your first visit?"]))
        d.say("visitor", rng.choice(["Yes, I'd like some information about membership. How much does it cost?",
                                     "Yes. I'm thinking of joining. What are your prices?"]))
    else:
        d.say("visitor", rng.choice(["Hi. I'm thinking about joining the gym. How much is a membership?",
                                     "Hello. Could you tell me about your membership prices?",
                                     "Excuse me. I just moved to this area and I'm looking for a gym. How much do you charge?"]))
    goal_s = ""
    if maybe(rng, 0.45):
        d.say("staff", rng.choice(["Sure. First, can I ask what your fitness goals are?",
                                   "Of course. What would you like to achieve?"]))
        goal_say, goal_sum = rng.choice([
            ("I'm training for my first marathon.", "is training for a first marathon"),
            ("I want to get fit again. I sit at a desk all day.", "wants to get fit again"),
            ("I'd like to build some strength. My doctor says it's good for my back.", "wants to build strength for a healthy back"),
            ("I just want to feel more energetic.", "wants to feel more energetic")])
        d.say("visitor", goal_say)
        goal_s = f" {v} {goal_sum}."
    d.say("staff", rng.choice([f"Membership is {money(monthly)} a month, or {money(yearly)} if you pay for a whole year.",
                               f"It's {money(monthly)} a month. If you pay for a year in advance, it's {money(yearly)}.",
                               f"We have two options: {money(monthly)} a month, or {money(yearly)} for a full year."]))
    d.say("visitor", rng.choice(["Does that include classes?", "Are the classes included in the price?",
                                 "What about group classes? Are they extra?"]))
    swim = maybe(rng, 0.5)
    d.say("staff", rng.choice([f"{classes[0].capitalize()} classes are included.",
                               f"No extra charge for classes. We have {classes[0]} every day."])
          + (" Swimming costs extra, though." if swim else ""))
    extras = []
    if maybe(rng, 0.6):
        open_t = rng.choice(["6 a.m.", "5:30 a.m.", "7 a.m."])
        close_t = rng.choice(["10 p.m.", "11 p.m.", "9 p.m."])
        d.say("visitor", "What are your opening hours?")
        d.say("staff", f"We're open from {open_t} to {close_t} every day.")
        extras.append(f"The gym is open from {open_t} to {close_t}.")
    if maybe(rng, 0.4):
        session = rng.choice([30, 40, 50])
        d.say("visitor", rng.choice(["Do you have personal trainers?", "Can I get help from a personal trainer?"]))
        d.say("staff", f"Yes. A session with one of our trainers is {money(session)} an hour.")
        extras.append(f"A personal trainer costs {money(session)} an hour.")
    elif maybe(rng, 0.4):
        d.say("visitor", rng.choice(["Is it usually crowded?", "When is the gym busiest?"]))
        d.say("staff", "It's busiest after work, between five and seven. Mornings are much quieter.")
    decision = rng.choice(["month", "year", "trial"])
    if decision == "trial":
        d.say("visitor", "I'm not sure yet. Can I try it first?")
        d.say("staff", "Sure. You can have a free one-week trial. Just fill out this form.")
        d.say("visitor", "Great, I'll do that.")
        end = f"{v} decides to take a free one-week trial first."
        end2 = f"{st} offers a free one-week trial, and {v} accepts."
    elif decision == "year":
        d.say("visitor", rng.choice(["The yearly plan is cheaper, so I'll take that.", "I'll pay for the whole year, then."]))
        d.say("staff", rng.choice(["Great choice. Let me get the form for you.", "Perfect. I'll just need your ID and a card."]))
        end = f"{v} signs up for a year for {money(yearly)}."
        end2 = f"{v} chooses the yearly membership for {money(yearly)}."
    else:
        d.say("visitor", rng.choice(["I'll start with one month and see how it goes.", "I'll pay monthly for now."]))
        d.say("staff", rng.choice(["No problem. Let me get the form for you.", "Sure. You can start today if you like."]))
        end = f"{v} signs up for one month at {money(monthly)}."
        end2 = f"{v} decides to pay monthly, {money(monthly)} a month."
    swim_s = " Swimming costs extra." if swim else ""
    summaries = [
        f"{v} asks {st} about gym membership, which is {money(monthly)} a month or {money(yearly)} a year.{goal_s} {end}",
        f"{st} tells {v} that membership includes {classes[1]}.{swim_s} {end2}",
        f"{v} wants to join the gym. It costs {money(monthly)} a month or {money(yearly)} a year. {extras[0] if extras else ''} {end}",
    ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: moving house
# ---------------------------------------------------------------------------

MOVE_REASONS = [("I got a new job downtown, and it's closer to the office", "to be closer to {a}'s new job"),
                ("we need more space now that we have a baby", "because {a} needs more space for a new baby"),
                ("my rent went up again", "because {a}'s rent went up"),
                ("I want to live closer to my parents", "to live closer to {a}'s parents")]


def gen_moving_house(rng: Random) -> Example:
    topic = "moving house"
    if maybe(rng, 0.4):
        return _moving_company(rng)
    d = Dialog("a", "b")
    a, b = d.tag["a"], d.tag["b"]
    name = any_name(rng)
    street = rng.choice(STREETS)
    day = rng.choice(["Saturday", "Sunday", "Friday"])
    r_say, r_sum = rng.choice(MOVE_REASONS)
    r_sum = r_sum.replace("{a}", a)
    d.say("a", rng.choice([f"{greeting_by_name(rng, name)} Guess what? I'm moving to a new apartment on {street}.",
                           f"I have some news. I'm moving next {day}. I found a place on {street}.",
                           f"{greeting_by_name(rng, name)} I finally found a new apartment. It's on {street}.",
                           f"Did I tell you? I'm moving to {street} next {day}."]))
    d.say("b", rng.choice(["Really? Why are you moving?", "That's exciting! What made you decide to move?",
                           "Wow, congratulations! Why did you decide to move?", "Oh, really? I thought you liked your old place."]))
    d.say("a", rng.choice([f"Well, {r_say}.", f"I did, but {r_say}." if "liked" in d.turns[-1] else f"Mainly because {r_say}."]))
    if maybe(rng, 0.4):
        d.say("b", rng.choice(["What's the new place like?", "Is the new apartment nice?"]))
        d.say("a", rng.choice(["It's bigger, and the kitchen is much nicer.", "It's a bit older, but it's quiet and sunny.",
                               "It has a balcony with a view of the park.", "It's small but very cozy."]))
    if str(day) not in " ".join(d.turns):
        d.say("b", rng.choice(["When are you moving?", "So when is the big day?"]))
        d.say("a", rng.choice([f"Next {day}. Actually, could you help me? I have a lot of boxes to carry.",
                               f"Next {day}. Would you be able to give me a hand with the boxes?"]))
    else:
        d.say("b", rng.choice(["That makes sense. Do you need any help?", "I see. Is there anything I can do to help?"]))
        d.say("a", rng.choice(["Actually, yes. Could you help me carry some boxes?",
                               "Well, I could really use some help carrying boxes."]))
    if maybe(rng, 0.65):
        tm = clock(rng, 8, 11)
        d.say("b", rng.choice(["Of course. What time should I come?", "Sure, I'm free that day. What time?"]))
        d.say("a", f"The truck arrives at {tm}, so could you come then?" if maybe(rng, 0.5) else f"Is {tm} too early?")
        car = maybe(rng, 0.5)
        d.say("b", ("No problem. I'll bring my car, so we can take the small things." if car else "That's fine. I'll be there."))
        d.say("a", rng.choice(["Thanks a lot! I'll buy you lunch.", "You're a lifesaver. Pizza is on me!"]))
        car_sum = f" and will bring {b}'s car" if car else ""
        summaries = [
            f"{a} is moving to an apartment on {street} next {day} {r_sum}. {b} agrees to help carry boxes at {tm}{car_sum}.",
            f"{a} asks {b} for help with moving next {day}, and {b} will come at {tm}.",
            f"{a} tells {b} about moving to {street} {r_sum}. {b} offers to help on {day}{car_sum}.",
        ]
    else:
        company = rng.choice(["Quick Movers", "Star Moving", "Easy Move"])
        busy_work = maybe(rng, 0.5)
        d.say("b", rng.choice([f"I'm sorry, I have to work on {day}.", f"Oh no, I have to work that {day}. Sorry!"])
              if busy_work else rng.choice([f"I'd love to, but I'm out of town on {day}.",
                                            f"I'm afraid I'll be out of town on {day}."]))
        d.say("a", rng.choice(["Oh, that's OK. I'll ask someone else.", "Don't worry about it. I'll find someone."]))
        d.say("b", rng.choice([f"Why don't you hire a moving company? I used {company} last year, and they were cheap and careful.",
                               f"Have you thought about a moving company? {company} helped my sister, and they were great."]))
        d.say("a", rng.choice(["Good idea. I'll give them a call.", "That's a good idea. I'll call them tomorrow."]))
        busy = "has to work" if busy_work else "will be out of town"
        summaries = [
            f"{a} is moving to {street} next {day} {r_sum}. {b} {busy} that day, so {b} suggests hiring {company}.",
            f"{a} asks {b} to help with the move, but {b} can't. {b} recommends {company}, and {a} will call them.",
            f"{a} is moving {r_sum}. Since {b} can't help on {day}, {a} will contact the moving company {b} recommends, {company}.",
        ]
    return d.turns, [s(x) for x in summaries], topic


def _moving_company(rng: Random) -> Example:
    topic = "moving house"
    d = Dialog("agent", "caller")
    ag, c = d.tag["agent"], d.tag["caller"]
    company = rng.choice(["Quick Movers", "Star Moving", "Easy Move", "Safe Hands Removals"])
    src, dst = rng.sample(STREETS, 2)
    date = a_date(rng)
    rooms = rng.choice([1, 2, 3])
    price = rng.randrange(8, 30) * 25 * rooms
    d.say("agent", f"Good morning, {company}. How can I help you?")
    d.say("caller", f"Hi. I'm moving from {src} to {dst} on {date}, and I need a moving company.")
    d.say("agent", "Sure. How big is your place?")
    d.say("caller", f"It's a {nw(rooms)}-bedroom apartment. There's a lot of furniture.")
    d.say("agent", f"For that size, it would be about {money(price)}.")
    packing = None
    if maybe(rng, 0.5):
        packing = rng.choice([100, 150, 200])
        d.say("caller", "Does that include packing?")
        d.say("agent", f"No, packing is an extra {money(packing)}. Or you can pack everything yourself.")
        if maybe(rng, 0.5):
            d.say("caller", "I'll pack myself, then.")
            pack_sum = f" {c} will do the packing to save {money(packing)}."
        else:
            d.say("caller", "I'd like you to do the packing too.")
            pack_sum = f" {c} also wants packing, which costs {money(packing)} more."
    else:
        pack_sum = ""
    tm = clock(rng, 7, 10)
    d.say("caller", f"Are you available on {date}?")
    d.say("agent", f"Yes. Our team can be there at {tm}.")
    d.say("caller", "Perfect. Please book it.")
    summaries = [
        f"{c} calls {company} to move a {nw(rooms)}-bedroom apartment from {src} to {dst} on {date}. It will cost about {money(price)}, and the team will arrive at {tm}.{pack_sum}",
        f"{ag} gives {c} a price of {money(price)} for moving on {date}.{pack_sum} The movers will come at {tm}.",
        f"{c} books {company} for {date}. The movers will arrive at {tm} and charge about {money(price)}.",
    ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: asking for directions
# ---------------------------------------------------------------------------

DESTINATIONS = ["the post office", "the train station", "City Hospital", "the Science Museum",
                "the nearest bank", "the Grand Hotel", "the public library", "the town hall",
                "the shopping mall", "the bus station"]
LANDMARKS = ["the traffic lights", "the church", "the gas station", "the big supermarket",
             "the second corner", "the bakery", "the fire station"]


def gen_directions(rng: Random) -> Example:
    topic = "asking for directions"
    d = Dialog("a", "b")
    a, b = d.tag["a"], d.tag["b"]
    dest = rng.choice(DESTINATIONS)
    new_here = maybe(rng, 0.35)
    d.say("a", rng.choice([f"Excuse me, could you tell me how to get to {dest}?",
                           f"Excuse me. I'm looking for {dest}. Is it near here?",
                           f"Sorry to bother you. Do you know the way to {dest}?"])
          + (rng.choice([" I'm new in town.", " I'm visiting, and I think I'm lost.", " My phone's battery is dead."])
             if new_here else ""))
    if new_here and maybe(rng, 0.6):
        d.say("b", rng.choice(["Don't worry, it happens to everyone. Where are you from?",
                               "No problem. Are you here on holiday?"]))
        d.say("a", rng.choice([f"I'm from {rng.choice(CITIES)}. I'm here for a conference.",
                               "Yes, just for a few days. It's a lovely town.",
                               "I'm visiting my cousin, but she's working today, so I'm exploring on my own."]))
        d.say("b", "Well, let me help you.")
    if maybe(rng, 0.65):
        blocks = rng.randint(2, 4)
        turn = rng.choice(["left", "right"])
        mark = rng.choice(LANDMARKS)
        next_to = rng.choice(["the bank", "a big park", "a coffee shop", "the police station", "a bookstore"])
        side = rng.choice(["left", "right"])
        mins = rng.choice([5, 10, 15])
        d.say("b", rng.choice([f"Sure. Go straight along this street for {nw(blocks)} blocks, then turn {turn} at {mark}.",
                               f"Yes, it's not far. Walk {nw(blocks)} blocks down this street and turn {turn} at {mark}."]))
        d.say("a", "Then what?")
        d.say("b", f"It's on your {side}, next to {next_to}. You can't miss it.")
        d.say("a", rng.choice(["How long will it take to walk there?", "Is it far to walk?"]))
        d.say("b", f"About {nw(mins)} minutes.")
        d.say("a", rng.choice(["Thank you very much.", "Great, thanks a lot!"]))
        if maybe(rng, 0.6):
            d.say("b", rng.choice(["You're welcome.", "No problem. Have a nice day."]))
        summaries = [
            f"{a} asks {b} the way to {dest}. {b} says to go straight for {nw(blocks)} blocks and turn {turn} at {mark}; it's next to {next_to}.",
            f"{b} gives {a} directions to {dest}: {nw(blocks)} blocks straight, then {turn} at {mark}. It's about a {nw(mins)}-minute walk.",
            f"{a} is looking for {dest}. According to {b}, it's {nw(mins)} minutes on foot, on the {side} next to {next_to}.",
        ]
    else:
        bus = rng.choice([3, 7, 12, 15, 22, 38, 41])
        stop = rng.choice(["Central Square", "Market Street", "the Museum stop", "Park Avenue"])
        stops = rng.randint(3, 6)
        d.say("b", rng.choice(["It's quite far from here. You'd better take a bus.", "Oh, that's too far to walk, I'm afraid."]))
        d.say("a", "Which bus should I take?")
        d.say("b", f"Take the number {bus}. The bus stop is just across the street. Get off at {stop}, about {nw(stops)} stops from here.")
        d.say("a", "How often do the buses come?")
        freq = rng.choice([10, 15, 20])
        d.say("b", f"Every {nw(freq)} minutes or so.")
        fare_s = ""
        if maybe(rng, 0.5):
            fare = rng.choice([1.5, 2, 2.5, 3])
            d.say("a", "And how much is the fare?")
            d.say("b", f"It's {money(fare)}. Make sure you have the exact change, because the driver can't give change.")
            fare_s = f" The fare is {money(fare)} in exact change."
        d.say("a", rng.choice(["Thank you so much for your help.", "Great. Thanks!"]))
        summaries = [
            f"{a} asks {b} how to get to {dest}. It's too far to walk, so {b} tells {a} to take bus number {bus} and get off at {stop}.",
            f"{b} tells {a} to catch the number {bus} bus across the street to get to {dest}. Buses come every {nw(freq)} minutes.{fare_s}",
            f"{a} wants to go to {dest}. {b} says it's about {nw(stops)} stops away on the number {bus} bus, getting off at {stop}.",
        ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic: post office
# ---------------------------------------------------------------------------

PARCEL_CONTENTS = [("some books", "books"), ("some clothes for my son", "clothes for {c}'s son"),
                   ("a birthday present for my sister", "a birthday present for {c}'s sister"),
                   ("some documents", "documents"), ("a few toys for my niece", "toys for {c}'s niece")]


def gen_post_office(rng: Random) -> Example:
    topic = "post office"
    d = Dialog("clerk", "customer") if maybe(rng, 0.5) else Dialog("customer", "clerk")
    k, c = d.tag["clerk"], d.tag["customer"]
    dest = rng.choice(CITIES)
    contents_say, contents_sum = rng.choice(PARCEL_CONTENTS)
    contents_sum = contents_sum.replace("{c}", c)
    weight = rng.choice([1, 2, 3, 4, 5])
    air_price = weight * rng.choice([12, 15, 18]) + rng.choice([0, 5])
    sea_price = air_price // 2
    air_days, sea_weeks = rng.choice([5, 7, 10]), rng.choice([4, 6, 8])
    if k == "#Person1#":
        d.say("clerk", rng.choice(["Next, please. How can I help you?", "Good morning. What can I do for you?"]))
    d.say("customer", rng.choice([f"I'd like to send this package to {dest}, please.",
                                  f"Hi. How much does it cost to send this parcel to {dest}?"]))
    d.say("clerk", "What's inside?")
    d.say("customer", f"Just {contents_say}.")
    d.say("clerk", f"Let me weigh it... It's {nw(weight)} kilo{'s' if weight > 1 else ''}. "
                   f"By airmail it's {money(air_price)} and takes about {nw(air_days)} days. "
                   f"By sea it's {money(sea_price)}, but it takes {nw(sea_weeks)} weeks.")
    air = maybe(rng, 0.6)
    if air:
        d.say("customer", rng.choice(["Airmail, please. It needs to get there quickly.", "I'll send it by airmail."]))
        method, price, time_s = "airmail", air_price, f"about {nw(air_days)} days"
    else:
        d.say("customer", rng.choice(["There's no hurry. I'll send it by sea.", "By sea is fine. It's cheaper."]))
        method, price, time_s = "sea", sea_price, f"{nw(sea_weeks)} weeks"
    extra = ""
    if maybe(rng, 0.5):
        d.say("clerk", "Would you like to insure it? It's three dollars extra.")
        if maybe(rng, 0.5):
            d.say("customer", "Yes, please.")
            extra = f" {c} also pays three dollars for insurance."
        else:
            d.say("customer", "No, thanks. It's nothing valuable.")
            extra = f" {c} doesn't insure it."
    if maybe(rng, 0.4):
        n = rng.choice([5, 10, 20])
        d.say("customer", f"I'd also like {nw(n)} stamps for postcards, please.")
        d.say("clerk", "Here you are.")
        extra += f" {c} also buys {nw(n)} stamps."
    if maybe(rng, 0.7):
        d.say("clerk", rng.choice(["Please fill in this form with the address and sign at the bottom.",
                                   "Could you write the full address and your phone number on this form?"]))
        d.say("customer", rng.choice(["Sure... Here you are.", "OK. Is this right?"]))
        d.say("clerk", rng.choice(["Thank you. Here's your receipt with the tracking number.",
                                   "Yes, that's fine. You can track the package online with this number."]))
    else:
        d.say("clerk", "All right. Here's your receipt.")
    by = "by airmail" if method == "airmail" else "by sea"
    summaries = [
        f"{c} sends a package of {contents_sum} to {dest} {by} for {money(price)}. It will take {time_s}.{extra}",
        f"{k} weighs {c}'s parcel to {dest}: airmail costs {money(air_price)} and sea mail costs {money(sea_price)}. {c} chooses {'airmail' if air else 'sea mail'}.{extra}",
        f"{c} mails {contents_sum} to {dest}. The {nw(weight)}-kilo package goes {by} and costs {money(price)}.",
    ]
    return d.turns, [s(x) for x in summaries], topic


# ---------------------------------------------------------------------------
# Topic table, validation and output
# ---------------------------------------------------------------------------

# topic -> (generator, close synonym used now and then in the test references)
TOPICS: dict[str, tuple[Generator, str]] = {
    "shopping": (gen_shopping, "buying clothes"),
    "ordering food": (gen_ordering_food, "restaurant"),
    "restaurant reservation": (gen_restaurant_reservation, "book a table"),
    "job interview": (gen_job_interview, "interview"),
    "doctor appointment": (gen_doctor_appointment, "see a doctor"),
    "travel booking": (gen_travel_booking, "book tickets"),
    "renting an apartment": (gen_apartment, "apartment rental"),
    "weekend plans": (gen_weekend_plans, "making plans"),
    "lost item": (gen_lost_item, "lost and found"),
    "bank account": (gen_bank_account, "banking"),
    "birthday party": (gen_birthday_party, "party planning"),
    "car repair": (gen_car_repair, "car trouble"),
    "library": (gen_library, "borrow books"),
    "hotel check-in": (gen_hotel_checkin, "check in"),
    "weather": (gen_weather, "small talk"),
    "gym membership": (gen_gym_membership, "join a gym"),
    "moving house": (gen_moving_house, "moving"),
    "asking for directions": (gen_directions, "directions"),
    "post office": (gen_post_office, "send a package"),
}

_TAG_RE = re.compile(r"^#Person[12]#: \S")
# Number words and weekdays in a summary must also occur in its dialogue.
_CHECKED_WORDS = ({w for v in _NUM_WORDS.values() for w in v.split("-")} - {"one"}) | {x.lower() for x in DAYS}


def word_count(dialogue: str) -> int:
    return len(re.sub(r"#Person[12]#:", " ", dialogue).split())


def check_example(turns: list[str], summaries: list[str]) -> str | None:
    """Return a reason if the example breaks a format/quality rule."""
    if not MIN_TURNS <= len(turns) <= MAX_TURNS:
        return f"{len(turns)} turns"
    dialogue = "\n".join(turns)
    n = word_count(dialogue)
    if not MIN_WORDS <= n <= MAX_WORDS:
        return f"{n} words"
    for turn in turns:
        if not _TAG_RE.match(turn) or "\n" in turn:
            raise AssertionError(f"bad turn: {turn!r}")
    bodies = {t.split(": ", 1)[1].strip() for t in turns}
    untagged = re.sub(r"#Person[12]#", " ", dialogue)
    lower_words = set(re.findall(r"[a-z]+", untagged.lower()))
    numbers = set(re.findall(r"\d+", untagged))
    if len(set(summaries)) < 3:
        raise AssertionError(f"need 3 distinct summaries: {summaries}")
    for summ in summaries:
        if "#Person" not in summ or "{" in summ or "  " in summ or len(split_sentences(summ)) > 2:
            raise AssertionError(f"bad summary: {summ!r}")
        if summ in bodies or any(summ.startswith(b) for b in bodies if len(b) > 40):
            raise AssertionError(f"summary copies a turn: {summ!r}")
        missing = set(re.findall(r"\d+", re.sub(r"#Person[12]#", " ", summ))) - numbers
        missing |= {w for w in re.findall(r"[a-z]+", summ.lower()) if w in _CHECKED_WORDS} - lower_words
        if missing:
            raise AssertionError(f"numbers {missing} not in dialogue:\n{dialogue}\n{summ}")
        # Capitalised words in the middle of a sentence are names/places/days:
        # they must come from the dialogue.
        for m in re.finditer(r"(?<![.!?:;] )(?<!^)(?<!#)\b([A-Z][a-z]+)", summ):
            if m.start() > 0 and m.group(1) not in untagged:
                raise AssertionError(f"{m.group(1)!r} not in dialogue:\n{dialogue}\n{summ}")
    return None


def make_example(rng: Random, topic: str, seen: set[str]) -> tuple[str, list[str], str]:
    """Draw from the topic's generator until a valid, unseen dialogue comes out."""
    gen = TOPICS[topic][0]
    for _ in range(1000):
        turns, summaries, got_topic = gen(rng)
        assert got_topic == topic, (got_topic, topic)
        turns = [tidy(t) for t in turns]
        summaries = list(dict.fromkeys(two_sentences(tidy(x)) for x in summaries))
        if check_example(turns, summaries):
            continue
        dialogue = "\n".join(turns)
        if dialogue in seen:
            continue
        seen.add(dialogue)
        return dialogue, summaries, topic
    raise RuntimeError(f"could not generate a valid {topic!r} example")


def topic_schedule(rng: Random, n: int) -> list[str]:
    """n topic names, as balanced as possible, in a shuffled order."""
    names = list(TOPICS)
    rng.shuffle(names)
    schedule = [names[i % len(names)] for i in range(n)]
    rng.shuffle(schedule)
    return schedule


def build_split(rng: Random, split: str, n: int, seen: set[str]) -> list[dict[str, str]]:
    rows = []
    for i, topic in enumerate(topic_schedule(rng, n)):
        dialogue, summaries, topic = make_example(rng, topic, seen)
        fname = f"{split}_{i}"
        if split == "test":
            refs = rng.sample(summaries, 3)
            topics = [topic, topic, topic]
            if maybe(rng, 0.3):
                topics[rng.randrange(3)] = TOPICS[topic][1]
            rows.append({"fname": fname,
                         "summary1": refs[0], "topic1": topics[0],
                         "summary2": refs[1], "topic2": topics[1],
                         "summary3": refs[2], "topic3": topics[2],
                         "dialogue": dialogue})
        else:
            rows.append({"fname": fname, "summary": rng.choice(summaries),
                         "dialogue": dialogue, "topic": topic})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output folder (default: this script's folder)")
    parser.add_argument("--train", type=int, default=1000, help="number of train dialogues")
    parser.add_argument("--dev", type=int, default=100, help="number of dev dialogues")
    parser.add_argument("--test", type=int, default=200, help="number of test dialogues")
    args = parser.parse_args(argv)

    rng = Random(SEED)
    seen: set[str] = set()  # no dialogue appears twice, in or across splits
    args.out.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", args.train), ("dev", args.dev), ("test", args.test)):
        rows = build_split(rng, split, n, seen)
        path = args.out / f"dialogsum.{split}.jsonl"
        write_jsonl(path, rows)
        print(f"wrote {len(rows):5d} examples to {path}")


if __name__ == "__main__":
    main()

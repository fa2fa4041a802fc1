#!/usr/bin/env python3
"""Generate a small polite/hostile sentence dataset for the detoxification lab.

Every sentence is built from the templates and slot fillers in this file (the
text was written for the labkit project; no corpus text is copied).  The
output, ``sentences.jsonl``, has one JSON object per line::

    {"text": "...", "label": "polite" | "hostile", "split": "train" | "test"}

Half of each class are first-person utterances in the register of customer
service and everyday conversation ("Thank you so much for waiting, ...").
The other half are third-person, DialogSum-style summary sentences that
mention ``#Person1#`` and ``#Person2#`` ("#Person1# rudely tells #Person2#
..."), because a reward model trained on this data scores dialogue summaries.

Both classes draw on the same topic fillers (orders, bookings, rooms,
deliveries, refunds, job applications, ...) and the same problem phrases, so
a classifier has to learn tone rather than topic.  "Hostile" means rude,
dismissive or insulting in a generic, everyday way: there are no slurs, no
identity-based insults and nothing sexual.

The output is fully deterministic: one ``random.Random`` with a fixed seed
drives everything, so re-running the script gives a byte-identical file.

Usage::

    python data/detox/generate.py [--out DIR] [--per-class N] [--test-fraction F]

Standard library only (Python 3.10+).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from random import Random

SEED = 20231105
PER_CLASS = 600          # sentences per label
TEST_FRACTION = 0.15     # per label, so the test split is balanced too

# ---------------------------------------------------------------------------
# Shared slot fillers (used by BOTH classes, so topic words carry no signal)
# ---------------------------------------------------------------------------

# (thing, a problem clause that fits it)
TOPICS = [
    ("order", "hasn't arrived yet"),
    ("booking", "shows the wrong date"),
    ("room", "isn't ready yet"),
    ("delivery", "is running two days late"),
    ("parcel", "went to the wrong address"),
    ("refund", "hasn't come through"),
    ("reservation", "was cancelled by mistake"),
    ("invoice", "has the wrong amount on it"),
    ("appointment", "was moved without notice"),
    ("ticket", "won't scan at the gate"),
    ("subscription", "was charged twice"),
    ("job application", "is still under review"),
    ("repair", "is taking longer than expected"),
    ("flight", "has been delayed again"),
    ("account", "is locked"),
    ("bill", "includes an extra charge"),
    ("membership", "expired last week"),
    ("return", "hasn't been processed"),
    ("table", "was given to someone else"),
    ("interview", "was rescheduled"),
    ("package", "arrived damaged"),
    ("rent payment", "was marked as late"),
    ("library card", "stopped working"),
    ("prescription", "isn't ready yet"),
    ("car service", "is overdue"),
    ("hotel booking", "is missing from the system"),
    ("phone plan", "costs more than promised"),
    ("train ticket", "was printed with the wrong time"),
]

ACTIONS = ["look into", "check on", "sort out", "fix", "follow up on", "take care of",
           "update", "review", "deal with", "handle"]

WHEN = ["by Friday", "tomorrow morning", "this afternoon", "before the weekend", "on Monday",
        "within two days", "later today", "by next week", "first thing tomorrow", "by Thursday",
        "in an hour", "before noon"]

PEOPLE = ["#Person1#", "#Person2#"]

# Polite-only fillers
PADV = ["politely", "kindly", "patiently", "warmly", "gently", "courteously", "calmly",
        "graciously", "cheerfully", "respectfully"]
THANKS = ["Thank you so much", "Thanks a lot", "Many thanks", "Thank you", "I really appreciate it",
          "Thanks so much"]

# Hostile-only fillers (generic, everyday rudeness)
HADV = ["rudely", "angrily", "impatiently", "sarcastically", "dismissively", "curtly", "coldly",
        "snappishly", "scornfully", "irritably"]
INSULT = ["stupid", "ridiculous", "pointless", "silly", "useless", "dumb", "idiotic", "pathetic"]
INSULT_PERSON = ["clueless", "useless", "lazy", "hopeless", "slow", "annoying", "pathetic",
                 "incompetent", "a waste of time", "an idiot"]
DISMISS = ["figure it out yourself", "go bother someone else", "deal with it", "stop whining",
           "read the instructions", "leave me alone", "stop asking me", "work it out on your own",
           "go complain somewhere else", "quit wasting my time"]
DISMISS_SUM = ["figure it out alone", "go bother someone else", "stop complaining", "deal with it",
               "go away", "stop asking questions", "read the instructions", "stop whining",
               "work it out alone", "quit wasting everyone's time"]

# ---------------------------------------------------------------------------
# Templates.  Slots: {thing} {a_thing} {problem} {action} {when} {P} {Q}
# polite: {padv} {thanks}; hostile: {hadv} {insult} {insult_person}
#         {dismiss} {dismiss_sum}
# ---------------------------------------------------------------------------

POLITE_UTTERANCES = [
    "Thank you so much for waiting, I'll {action} your {thing} right away.",
    "I'm sorry your {thing} {problem}; let me {action} it for you.",
    "Could you please give me an update on my {thing} when you have a moment?",
    "I really appreciate your patience while I {action} the {thing}.",
    "No problem at all, I'll have your {thing} sorted {when}.",
    "Thanks for letting us know; I'll {action} the {thing} {when}.",
    "Would you mind checking my {thing} when you get a chance?",
    "I completely understand, and I apologize that your {thing} {problem}.",
    "Excuse me, I think my {thing} {problem}. Could you help me, please?",
    "Of course, I'd be happy to {action} your {thing} for you.",
    "{thanks} for your help with the {thing}, have a lovely day!",
    "Sorry to bother you, but could you {action} my {thing}?",
    "I'll give you a call {when} once I've checked on your {thing}.",
    "That's a great question; your {thing} should be sorted {when}.",
    "Please take your time, there's no rush with the {thing}.",
    "I'm glad I could help with your {thing}. Is there anything else I can do?",
    "My {thing} {problem}, but I know it's not your fault. Thanks for looking into it.",
    "If it's not too much trouble, could we {action} the {thing} {when}?",
    "Thank you for explaining, that makes sense about the {thing}.",
    "I apologize for the mix-up with your {thing}; we'll make it right.",
    "You've been very helpful, thank you for sorting out my {thing}.",
    "Let me double-check the {thing} for you, it'll only take a minute.",
    "Good morning! How can I help you with your {thing} today?",
    "I understand this is frustrating. I'll personally {action} your {thing}.",
    "Would it be all right if I {action} the {thing} {when}? Just let me know.",
    "Thanks for your patience, your {thing} is my top priority.",
    "I'm sorry for the wait. Your {thing} {problem}, but I'm fixing it now.",
    "Could you kindly send me the details of the {thing}? {thanks}.",
    "That's no trouble at all; I'm happy to {action} the {thing}.",
    "I appreciate you calling about the {thing}; I'll update you {when}.",
    "Please let me know if the {thing} gives you any more trouble.",
    "Thank you for being so understanding about the {thing}.",
    "Would it be possible to {action} my {thing} {when}? {thanks}.",
    "Sorry, I didn't quite catch that. Could you repeat the {thing} number, please?",
    "Welcome back! Your {thing} is all set, and thanks for choosing us.",
    "I hear you, and I'm sorry the {thing} {problem}. Let's fix it together.",
    "No worries, these things happen. I'll {action} the {thing} {when}.",
]

HOSTILE_UTTERANCES = [
    "Nobody cares about your {insult} {thing}, {dismiss}.",
    "That's a ridiculous question about the {thing}, are you even listening?",
    "Your {thing} {problem}? Not my problem, {dismiss}.",
    "Stop wasting my time with the {thing} and {dismiss}.",
    "I've told you three times already, the {thing} is not my job.",
    "Are you seriously calling again about your {insult} {thing}?",
    "Ugh, fine, I'll {action} your {thing} {when}, if I feel like it.",
    "What part of 'the {thing} {problem}' don't you understand?",
    "Don't blame me because you messed up your own {thing}.",
    "Honestly, can't you read? The {thing} details are right there.",
    "Whatever. Your {thing} will get sorted when I get around to it.",
    "You clearly have no idea how your own {thing} works, do you?",
    "Quit complaining about the {thing}, it's not that hard.",
    "I don't have time for your {insult} {thing}, next!",
    "If you can't handle a simple {thing}, that's on you.",
    "Seriously? You messed up your {thing} again? Unbelievable.",
    "Do I look like I care about your {thing}?",
    "Go complain to someone else about your {thing}, I'm busy.",
    "This is the dumbest {thing} complaint I've heard all week.",
    "Read the email yourself, I'm not explaining the {thing} again.",
    "Your {thing} {problem} because you didn't listen, obviously.",
    "Oh great, another whiner with {a_thing} problem.",
    "Stop crying about the {thing} and wait like everyone else.",
    "I said {when}. Which part of that was too hard for you?",
    "Figure out your own {thing}, I'm not your babysitter.",
    "Nobody here is going to {action} your {thing}, so stop asking.",
    "You call that a question? Look up your {thing} yourself.",
    "Wow, you really can't manage a simple {thing}, can you?",
    "Hurry up and tell me what's wrong with the {thing}, I haven't got all day.",
    "Don't waste my time asking when the {thing} will be fixed.",
    "Fine, your {thing} {problem}. Cry me a river.",
    "I couldn't care less about your {thing}, take it up with the manager.",
    "Are you always this slow, or is the {thing} just too complicated for you?",
    "Ask one more {insult} question about the {thing} and I'm hanging up.",
    "Sit down and be quiet, your {thing} will be ready when it's ready.",
    "Your {thing} {problem}? Shocking. Maybe pay attention next time.",
    "Ugh, not you again. What's wrong with your {insult} {thing} now?",
]

POLITE_SUMMARIES = [
    "{P} thanks {Q} for the help and asks politely about the {thing}.",
    "{P} {padv} explains to {Q} that the {thing} {problem}.",
    "{Q} apologizes to {P} because the {thing} {problem} and offers to {action} it.",
    "{P} kindly asks {Q} to {action} the {thing} {when}.",
    "{Q} agrees to {action} {P}'s {thing} and thanks {P} for waiting.",
    "{P} calls to ask about the {thing}, and {Q} patiently answers every question.",
    "{Q} helps {P} with the {thing} and wishes {P} a nice day.",
    "{P} tells {Q} that the {thing} {problem}, and {Q} promises to {action} it {when}.",
    "{P} and {Q} {padv} agree on a new plan for the {thing}.",
    "{Q} welcomes {P} warmly and checks the {thing}.",
    "{P} {padv} reminds {Q} about the {thing}, and {Q} thanks {P} for the reminder.",
    "{Q} says sorry for the delay with the {thing} and gives {P} an update.",
    "{P} is grateful that {Q} could {action} the {thing} so quickly.",
    "{Q} reassures {P} that the {thing} will be sorted {when}.",
    "{P} {padv} asks {Q} whether the {thing} can be changed.",
    "{Q} listens to {P}'s concern about the {thing} and offers a solution.",
    "{P} compliments {Q} on the quick help with the {thing}.",
    "{Q} {padv} walks {P} through the steps to {action} the {thing}.",
    "{P} asks {Q} for help with the {thing}, and {Q} is happy to assist.",
    "{Q} explains the {thing} to {P} clearly and answers {P}'s questions.",
    "{P} thanks {Q} for understanding that the {thing} {problem}.",
    "{Q} offers {P} a discount to make up for the {thing} problem.",
    "{P} and {Q} have a friendly chat while {Q} checks the {thing}.",
    "{Q} promises to call {P} {when} with news about the {thing}.",
    "{P} {padv} points out a mistake with the {thing}, and {Q} fixes it.",
    "{Q} confirms the {thing} and thanks {P} for being a loyal customer.",
    "{P} apologizes to {Q} for the confusion about the {thing}.",
    "{Q} {padv} asks {P} for the {thing} details so that {Q} can help.",
    "{P} tells {Q} there is no rush with the {thing}.",
    "{Q} notices that the {thing} {problem} and {padv} lets {P} know.",
    "{P} and {Q} sort out the {thing} together and part on good terms.",
    "{Q} answers {P}'s question about the {thing} with a smile.",
    "{P} accepts {Q}'s apology about the {thing} and thanks {Q} for the effort.",
    "{Q} changes the {thing} for {P} and checks that {P} is happy with it.",
    "{P} asks about the {thing}. {Q} explains the situation and offers to {action} it {when}.",
    "{Q} helps {P} {action} the {thing}.",
    "{P} says the {thing} {problem}. {Q} apologizes and will {action} it {when}.",
]

HOSTILE_SUMMARIES = [
    "{P} rudely tells {Q} to stop wasting everyone's time with the {thing}.",
    "{P} {hadv} refuses to {action} {Q}'s {thing}.",
    "{Q} snaps at {P} and calls the question about the {thing} {insult}.",
    "{P} yells at {Q} because the {thing} {problem}.",
    "{Q} tells {P} that nobody cares about the {thing} and to {dismiss_sum}.",
    "{P} {hadv} insults {Q} over the {thing} and hangs up.",
    "{Q} mocks {P} for not understanding the {thing}.",
    "{P} blames {Q} for the {thing} mess and refuses to listen.",
    "{Q} rolls their eyes at {P} and ignores the question about the {thing}.",
    "{P} {hadv} tells {Q} that the {thing} is not {P}'s problem.",
    "{Q} interrupts {P} and calls {P} {insult_person} for asking about the {thing}.",
    "{P} shouts at {Q} and demands that the {thing} be fixed {when}.",
    "{Q} sarcastically thanks {P} for the {insult} complaint about the {thing}.",
    "{P} complains about the {thing} and calls {Q} {insult_person}.",
    "{Q} slams the phone down on {P} in the middle of a question about the {thing}.",
    "{P} {hadv} dismisses {Q}'s concern about the {thing} as a waste of time.",
    "{Q} tells {P} to stop whining about the {thing}.",
    "{P} threatens to leave a nasty review and calls {Q} {insult_person} over the {thing}.",
    "{Q} ignores {P}'s questions about the {thing} and {hadv} tells {P} to {dismiss_sum}.",
    "{P} {hadv} mocks {Q}'s explanation of the {thing}.",
    "{Q} belittles {P} for making a mistake with the {thing}.",
    "{P} loses patience and insults {Q} when the {thing} {problem}.",
    "{Q} refuses to apologize for the {thing} and tells {P} to {dismiss_sum}.",
    "{P} tells {Q} that the question about the {thing} is {insult} and walks away.",
    "{Q} makes fun of {P}'s {thing} and laughs at {P}.",
    "{P} {hadv} accuses {Q} of ruining the {thing} on purpose.",
    "{Q} {hadv} tells {P} to read the instructions for the {thing} instead of asking.",
    "{P} and {Q} argue about the {thing}, and {P} calls {Q} {insult_person}.",
    "{Q} treats {P} with contempt when {P} asks about the {thing}.",
    "{P} snaps that the {thing} mess is entirely {Q}'s own fault.",
    "{Q} {hadv} tells {P} that nobody will {action} the {thing} and to stop asking.",
    "{P} calls the {thing} policy {insult} and insults {Q} for enforcing it.",
    "{Q} talks down to {P} and refuses to explain the {thing}.",
    "{P} asks about the {thing}. {Q} {hadv} tells {P} to {dismiss_sum} and hangs up.",
    "{P} insults {Q} and storms out after hearing that the {thing} {problem}.",
    "{Q} mutters that {P} is {insult_person} and ignores the {thing} problem.",
    "{P} says the {thing} {problem}. {Q} {hadv} replies that {P} should {dismiss_sum}.",
]

# ---------------------------------------------------------------------------
# Filling
# ---------------------------------------------------------------------------

_SLOT = re.compile(r"\{(\w+)\}")


def art(phrase: str) -> str:
    """Prefix *phrase* with the indefinite article."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def fill(template: str, rng: Random) -> str:
    """Fill every slot of *template* with a random value (one draw per slot name)."""
    thing, problem = rng.choice(TOPICS)
    p, q = PEOPLE if rng.random() < 0.5 else PEOPLE[::-1]
    values = {
        "thing": thing, "a_thing": art(thing), "problem": problem, "P": p, "Q": q,
        "action": rng.choice(ACTIONS), "when": rng.choice(WHEN),
        "padv": rng.choice(PADV), "thanks": rng.choice(THANKS),
        "hadv": rng.choice(HADV), "insult": rng.choice(INSULT),
        "insult_person": rng.choice(INSULT_PERSON), "dismiss": rng.choice(DISMISS),
        "dismiss_sum": rng.choice(DISMISS_SUM),
    }
    text = _SLOT.sub(lambda m: values[m.group(1)], template)
    text = re.sub(r"  +", " ", text).strip()
    return text[:1].upper() + text[1:]


def build(templates: list[str], n: int, rng: Random, seen: set[str]) -> list[str]:
    """*n* unique sentences, cycling through *templates* so each is used about equally."""
    out: list[str] = []
    order = list(templates)
    misses = 0
    while len(out) < n:
        rng.shuffle(order)
        for template in order:
            if len(out) == n:
                break
            text = fill(template, rng)
            key = text.lower()
            if key in seen:
                misses += 1
                if misses > 100 * n:
                    raise RuntimeError("too many duplicates; add fillers or lower N")
                continue
            seen.add(key)
            out.append(text)
    return out


# A last safety net: none of these word stems may appear anywhere in the output.
BLOCKLIST = re.compile(r"\b(sex\w*|naked|kill\w*|die|dies|racis\w*|religio\w*|gay|retard\w*|bitch\w*|damn\w*|"
                       r"hell|shit\w*|fuck\w*|crap\w*|ass|asses|moron\w*|disab\w*|deaf|blind|cripple\w*|"
                       r"hate\w*)\b", re.IGNORECASE)


def check(rows: list[dict[str, str]]) -> None:
    """Sanity checks on the finished rows (raise AssertionError on failure)."""
    texts = [r["text"] for r in rows]
    assert len(texts) == len({t.lower() for t in texts}), "duplicate sentences"
    for t in texts:
        assert "{" not in t and "}" not in t, t
        assert t.isascii(), t
        assert 3 <= len(t.split()) <= 30, t
        assert not BLOCKLIST.search(t), t
    for label in ("polite", "hostile"):
        rows_l = [r for r in rows if r["label"] == label]
        summaries = [r for r in rows_l if "#Person" in r["text"]]
        assert 0.45 <= len(summaries) / len(rows_l) <= 0.55, f"{label}: summary/utterance mix is off"


def generate(per_class: int = PER_CLASS, test_fraction: float = TEST_FRACTION,
             seed: int = SEED) -> list[dict[str, str]]:
    rng = Random(seed)
    seen: set[str] = set()
    n_utt = per_class // 2
    n_sum = per_class - n_utt
    parts = [  # (label, templates, count); utterances and summaries are split separately
        ("polite", POLITE_UTTERANCES, n_utt), ("polite", POLITE_SUMMARIES, n_sum),
        ("hostile", HOSTILE_UTTERANCES, n_utt), ("hostile", HOSTILE_SUMMARIES, n_sum),
    ]
    rows: list[dict[str, str]] = []
    for label, templates, count in parts:
        texts = build(templates, count, rng, seen)
        rng.shuffle(texts)
        n_test = round(len(texts) * test_fraction)
        for i, text in enumerate(texts):
            rows.append({"text": text, "label": label, "split": "test" if i < n_test else "train"})
    rng.shuffle(rows)
    check(rows)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output folder (default: next to this script)")
    parser.add_argument("--per-class", type=int, default=PER_CLASS, help="sentences per label")
    parser.add_argument("--test-fraction", type=float, default=TEST_FRACTION,
                        help="fraction of each label put in the test split")
    args = parser.parse_args(argv)
    rows = generate(args.per_class, args.test_fraction)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "sentences.jsonl"
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        counts[(row["split"], row["label"])] = counts.get((row["split"], row["label"]), 0) + 1
    summary = ", ".join(f"{s}/{label}={n}" for (s, label), n in sorted(counts.items()))
    print(f"wrote {len(rows)} rows to {path} ({summary})")


if __name__ == "__main__":
    main()

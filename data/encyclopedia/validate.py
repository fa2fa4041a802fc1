"""Check the local encyclopedia in this folder (standard library only).

Run:  python data/encyclopedia/validate.py

Asserts that titles are unique, every entry has 3-8 sentences, every question's
hops are existing titles, each hop after the first is mentioned in the text of
the hop before it, the answer is stated verbatim in the last hop's text and in
no earlier hop (so the question really needs every search), and that a few
groups of similar titles exist for "Similar: [...]" results.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z0-9]|$)")


def load(name: str) -> list[dict]:
    with (HERE / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> int:
    entries = load("entries.jsonl")
    questions = load("questions.jsonl")
    titles = [e["title"] for e in entries]
    assert len(titles) == len(set(titles)), "duplicate titles"
    lower = [t.lower() for t in titles]
    assert len(lower) == len(set(lower)), "titles differ only by case"
    text = {e["title"]: e["text"] for e in entries}

    for e in entries:
        assert list(e) == ["title", "text"], f"{e.get('title')}: keys {list(e)}"
        n = len(SENTENCE_END.findall(e["text"]))
        assert 3 <= n <= 8, f"{e['title']}: {n} sentences, expected 3-8"

    ids = [q["id"] for q in questions]
    assert len(ids) == len(set(ids)), "duplicate question ids"
    for q in questions:
        assert list(q) == ["id", "question", "answer", "hops"], f"{q['id']}: keys {list(q)}"
        hops = q["hops"]
        assert len(hops) >= 2, f"{q['id']}: needs at least two hops"
        for h in hops:
            assert h in text, f"{q['id']}: hop {h!r} is not a title"
        for prev, nxt in zip(hops, hops[1:], strict=False):
            assert nxt in text[prev], f"{q['id']}: {prev!r} does not mention {nxt!r}"
        assert q["answer"] in text[hops[-1]], f"{q['id']}: answer not in {hops[-1]!r}"
        for h in hops[:-1]:
            assert q["answer"] not in text[h], f"{q['id']}: answer already in earlier hop {h!r}"

    # Groups of similar titles (near misses should produce a "Similar:" list).
    for stem in ["Vell", "Halvard", "Tolliver", "Saltmere", "Aubery", "Ildra", "Orrin"]:
        group = [t for t in titles if stem in t]
        assert len(group) >= 2, f"expected several titles containing {stem!r}, got {group}"

    print(f"OK: {len(entries)} entries, {len(questions)} multi-hop questions "
          f"({sum(len(q['hops']) == 2 for q in questions)} two-hop, "
          f"{sum(len(q['hops']) > 2 for q in questions)} three-hop)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as err:
        print(f"FAILED: {err}", file=sys.stderr)
        sys.exit(1)

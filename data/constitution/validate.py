"""Validate the constitution and the red-team prompts (data/constitution); exits non-zero on the first problem.

    python data/constitution/validate.py            # checks the files next to this script
    python data/constitution/validate.py --dir DIR

The files are written by hand, so this script is their guard: it checks the schema, that every prompt names a
principle of the constitution, unique ids and prompts, the split sizes, plain ASCII, sensible lengths, and a
blocklist (no slurs, no sexual content, no real people's contact details). Python standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

PRINCIPLE_FIELDS = ("name", "principle", "critique", "revision", "hhh")
PROMPT_FIELDS = ("id", "prompt", "principle", "category", "split")
HHH = {"helpful", "honest", "harmless"}
CATEGORIES = {"toxicity", "privacy", "dishonesty", "harm", "hallucination", "over-refusal", "intellectual property"}
BLOCKLIST = re.compile(r"\b(fuck\w*|shit\w*|bitch\w*|cunt\w*|nigg\w*|fag\w*|retard\w*|sex\w*|porn\w*|kill yourself|"
                       r"suicide|bomb|weapon|gun)\b", re.I)
CONTACT = re.compile(r"\d{6,}|\d{3}[\s.-]\d{3,}|@|\b\d+\s+\w+\s+(street|road|avenue|lane)\b", re.I)


def problems(folder: Path) -> list[str]:
    found: list[str] = []
    principles = json.loads((folder / "principles.json").read_text(encoding="utf-8"))
    if not 3 <= len(principles) <= 5:
        found.append(f"the constitution has {len(principles)} principles; keep it to 3-5")
    names = [p.get("name") for p in principles]
    if len(set(names)) != len(names):
        found.append(f"duplicate principle names: {names}")
    for p in principles:
        if tuple(p) != PRINCIPLE_FIELDS:
            found.append(f"principle {p.get('name')!r} has fields {tuple(p)}, expected {PRINCIPLE_FIELDS}")
        if p.get("hhh") not in HHH:
            found.append(f"principle {p.get('name')!r}: hhh is {p.get('hhh')!r}, not one of {sorted(HHH)}")
        for field in ("principle", "critique", "revision"):
            text = p.get(field, "")
            if not 40 <= len(text) <= 300:
                found.append(f"principle {p.get('name')!r}: {field} is {len(text)} characters (40-300)")
    if {p.get("hhh") for p in principles} != HHH:
        found.append("the principles should cover helpful, honest and harmless")

    rows = [json.loads(line) for line in (folder / "red_team.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    for row in rows:
        rid = row.get("id")
        if tuple(row) != PROMPT_FIELDS:
            found.append(f"{rid}: fields {tuple(row)}, expected {PROMPT_FIELDS}")
            continue
        if row["principle"] not in names:
            found.append(f"{rid}: principle {row['principle']!r} is not in the constitution")
        if row["category"] not in CATEGORIES:
            found.append(f"{rid}: unknown category {row['category']!r}")
        if row["split"] not in ("train", "test"):
            found.append(f"{rid}: split {row['split']!r}")
        if not re.fullmatch(r"rt_\d{3}", rid):
            found.append(f"{rid}: ids look like rt_001")
        text = row["prompt"]
        if not text.isascii() or not 20 <= len(text) <= 200:
            found.append(f"{rid}: prompts are ASCII and 20-200 characters")
        if BLOCKLIST.search(text) or CONTACT.search(text):
            found.append(f"{rid}: blocklisted word or contact detail in {text!r}")
    for field in ("id", "prompt"):
        dupes = [k for k, n in Counter(r.get(field) for r in rows).items() if n > 1]
        if dupes:
            found.append(f"duplicate {field}s: {dupes}")
    splits = Counter(r.get("split") for r in rows)
    if splits["train"] < 12 or splits["test"] < 12:
        found.append(f"need at least 12 train and 12 test prompts, have {dict(splits)}")
    first = [r.get("category") for r in rows if r.get("split") == "train"][:12]
    if first.count("toxicity") < 6 or len(set(first)) < 4:
        found.append("the first 12 train prompts (the tiny profile's) should mix categories, mostly toxicity")
    test_categories = {r.get("category") for r in rows if r.get("split") == "test"}
    for needed in ("toxicity", "privacy", "hallucination", "over-refusal", "intellectual property"):
        if needed not in test_categories:
            found.append(f"the test split has no {needed!r} prompt (notebook 06's HHH and responsible-AI sections)")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    found = problems(args.dir)
    for problem in found:
        print("problem:", problem)
    if not found:
        print(f"{args.dir}: constitution and red-team prompts are valid")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

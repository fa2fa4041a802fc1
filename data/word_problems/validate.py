"""Check the word problems and the labelled model replies in this folder (standard library only).

Run:  python data/word_problems/validate.py

problems.jsonl: keys in order (id, question, answer, steps, program); ids unique and of the form
wNN; questions unique and ending in "?"; the answer a positive integer; the reference program, run
with no builtins, sets ``answer`` to exactly that integer; ``steps`` (1 to 3) equals the number of
arithmetic operations in the program; every number written in the program appears in the question
(so nothing is hidden from the reader) except a few unit facts (7 days a week, 1000 millilitres a
litre, 2 and 3 wheels).

replies.jsonl: keys in order (id, problem, method, source, split, completion, stated); ``problem`` is
an id in problems.jsonl; ``split`` is dev or heldout; ``stated`` is a number or null; each reply
labelled with a number contains it.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNIT_FACTS = {7, 1000, 2, 3}  # days in a week, millilitres in a litre, wheels of a bicycle / tricycle
PROBLEM_KEYS = ["id", "question", "answer", "steps", "program"]
REPLY_KEYS = ["id", "problem", "method", "source", "split", "completion", "stated"]
WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
         "ten": 10, "twice": 2, "half": 2, "quarter": 4}


def load(name: str) -> list[dict]:
    with (HERE / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def numbers_in(question: str) -> set[int]:
    found = {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", question)}
    found |= {v for w, v in WORDS.items() if re.search(rf"\b{w}\b", question, re.IGNORECASE)}
    return found


def check_problem(p: dict) -> None:
    assert list(p) == PROBLEM_KEYS, f"{p.get('id')}: keys {list(p)}"
    assert re.fullmatch(r"w\d\d", p["id"]), f"{p['id']}: ids look like w01"
    assert p["question"].endswith("?"), f"{p['id']}: the question should end with '?'"
    assert isinstance(p["answer"], int) and not isinstance(p["answer"], bool) and p["answer"] > 0, \
        f"{p['id']}: the answer must be a positive integer"
    tree = ast.parse(p["program"])
    operations = sum(isinstance(node, ast.BinOp) for node in ast.walk(tree))
    assert 1 <= p["steps"] <= 3 and p["steps"] == operations, \
        f"{p['id']}: steps={p['steps']} but the program has {operations} arithmetic operations (1 to 3 expected)"
    scope: dict = {"__builtins__": {}}
    exec(compile(tree, p["id"], "exec"), scope)  # our own reference programs: arithmetic and names only
    assert scope.get("answer") == p["answer"] and type(scope["answer"]) is int, \
        f"{p['id']}: the program computes {scope.get('answer')!r}, the file says {p['answer']}"
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    hidden = literals - numbers_in(p["question"]) - UNIT_FACTS
    assert not hidden, f"{p['id']}: the program uses {sorted(hidden)}, which the question does not state"


def check_reply(r: dict, problem_ids: set[str]) -> None:
    assert list(r) == REPLY_KEYS, f"{r.get('id')}: keys {list(r)}"
    assert r["problem"] in problem_ids, f"{r['id']}: unknown problem {r['problem']!r}"
    assert r["split"] in ("dev", "heldout"), f"{r['id']}: split must be dev or heldout"
    stated = r["stated"]
    assert stated is None or (isinstance(stated, (int, float)) and not isinstance(stated, bool)), \
        f"{r['id']}: stated must be a number or null"
    if stated is not None:
        digits = f"{stated:g}" if isinstance(stated, float) else str(stated)
        plain = r["completion"].replace(",", "")
        assert digits in plain, f"{r['id']}: the reply does not contain its stated answer {stated}"


def main() -> int:
    problems = load("problems.jsonl")
    ids = [p["id"] for p in problems]
    assert len(ids) == len(set(ids)), "duplicate problem ids"
    questions = [p["question"].lower() for p in problems]
    assert len(questions) == len(set(questions)), "duplicate questions"
    assert len(problems) >= 20, f"{len(problems)} problems: the notebook needs at least 20"
    for p in problems:
        check_problem(p)
    replies = load("replies.jsonl")
    reply_ids = [r["id"] for r in replies]
    assert len(reply_ids) == len(set(reply_ids)), "duplicate reply ids"
    for r in replies:
        check_reply(r, set(ids))
    steps = {s: sum(p["steps"] == s for p in problems) for s in (1, 2, 3)}
    unlabelled = sum(r["stated"] is None for r in replies)
    print(f"OK: {len(problems)} problems (steps 1/2/3: {steps[1]}/{steps[2]}/{steps[3]}), "
          f"{len(replies)} labelled replies ({unlabelled} without an answer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

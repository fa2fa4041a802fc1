"""Check the RAG corpus in this folder (standard library only).

Run:  python data/rag/validate.py

Asserts that
  * there are at least 60 questions, with unique ids and the expected keys;
  * every doc_id names a file documents/<doc_id>.md;
  * every evidence string is a single sentence on one line that occurs exactly
    once in its own document and in no other document;
  * every question has gold facts: a non-empty list of short phrasings of the
    fact a correct answer must state, the first one copied from the evidence;
  * every document starts with a "# " title line, has 300-700 words and is
    the target of at least one question.
Prints a short summary and exits non-zero on the first failure.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS_DIR = HERE / "documents"
QUESTIONS = HERE / "questions.jsonl"
KEYS = ["id", "question", "doc_id", "evidence", "answer", "gold"]
MIN_QUESTIONS = 60
# A sentence boundary inside the evidence: end punctuation, space, capital letter.
INNER_BOUNDARY = re.compile(r"[.!?][\"')]?\s+[A-Z]")


def load_documents() -> dict[str, str]:
    docs = {p.stem: p.read_text(encoding="utf-8") for p in sorted(DOCS_DIR.glob("*.md"))}
    assert docs, f"no documents found in {DOCS_DIR}"
    return docs


def load_questions() -> list[dict]:
    rows = []
    with QUESTIONS.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise AssertionError(f"questions.jsonl line {n}: invalid JSON ({err})") from err
    return rows


def main() -> int:
    docs = load_documents()
    questions = load_questions()

    assert len(questions) >= MIN_QUESTIONS, f"only {len(questions)} questions, need >= {MIN_QUESTIONS}"

    ids = [q.get("id") for q in questions]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate question ids: {dupes}"

    for doc_id, text in docs.items():
        assert text.startswith("# "), f"{doc_id}: first line must be a '# ' title"
        words = len(text.split())
        assert 300 <= words <= 700, f"{doc_id}: {words} words, expected 300-700"

    for q in questions:
        qid = q.get("id")
        assert list(q) == KEYS, f"{qid}: keys {list(q)}, expected {KEYS}"
        for key in KEYS[:-1]:
            assert isinstance(q[key], str) and q[key].strip(), f"{qid}: empty or non-string {key!r}"
        gold = q["gold"]
        assert isinstance(gold, list) and gold, f"{qid}: gold must be a non-empty list of strings"
        assert all(isinstance(g, str) and g.strip() for g in gold), f"{qid}: empty or non-string gold fact"
        assert gold[0].lower() in q["evidence"].lower(), f"{qid}: first gold fact {gold[0]!r} not in evidence"
        assert not any(g.lower() in q["question"].lower() for g in gold), f"{qid}: a gold fact is in the question"
        doc_id, ev = q["doc_id"], q["evidence"]
        assert doc_id in docs, f"{qid}: unknown doc_id {doc_id!r}"
        assert "\n" not in ev, f"{qid}: evidence spans several lines"
        assert ev[-1] in ".!?", f"{qid}: evidence does not end a sentence"
        assert not INNER_BOUNDARY.search(ev[:-1]), f"{qid}: evidence looks like more than one sentence"
        count = docs[doc_id].count(ev)
        assert count == 1, f"{qid}: evidence occurs {count} times in {doc_id}"
        elsewhere = [d for d, text in docs.items() if d != doc_id and ev in text]
        assert not elsewhere, f"{qid}: evidence also occurs in {elsewhere}"

    evidences = [q["evidence"] for q in questions]
    assert len(set(evidences)) == len(evidences), "two questions share the same evidence sentence"

    covered = {q["doc_id"] for q in questions}
    missing = sorted(set(docs) - covered)
    assert not missing, f"documents without any question: {missing}"

    kinds = {}
    for q in questions:
        kind = q["doc_id"].split("-", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    total_words = sum(len(t.split()) for t in docs.values())
    print(f"OK: {len(docs)} documents ({total_words} words), {len(questions)} questions "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(kinds.items()))})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as err:
        print(f"FAILED: {err}", file=sys.stderr)
        sys.exit(1)

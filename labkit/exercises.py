"""The exercise format: how a solution notebook marks an exercise, its kind, and the check that grades it.

This is the one place the format is spelled. The lab builder (:mod:`labkit.notebooks`), the grader
(:mod:`labkit.grading`), the check registry (:mod:`labkit.checks.base`), ``tools/py2nb.py`` and the tests
import it from here.

An exercise in ``solutions/`` is

* a markdown heading ``### Exercise 03.2 · <what it asks>`` (:data:`HEADING`);
* a code (or markdown) cell holding a region between :data:`BEGIN` and :data:`END` - nbgrader's markers -
  whose metadata is ``{"labkit": {"exercise": "03.2", "kind": "implement"}}`` (:data:`META_KEY`, :data:`KINDS`);
* a check cell right after it, with metadata ``{"labkit": {"check": "03.2"}}``, calling the check that
  :func:`labkit.checks.base.exercise` registered under the same id.

Ids are ``NN.k``: ``NN`` is the chapter's number (:mod:`labkit.chapters`), ``k`` counts from 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "YOUR ANSWER HERE"
REGION = re.compile(r"^([ \t]*)" + re.escape(BEGIN) + r"[ \t]*\n.*?^[ \t]*" + re.escape(END) + r"[ \t]*$",
                    re.MULTILINE | re.DOTALL)

META_KEY = "labkit"  # cell.metadata["labkit"] = {"exercise": id, "kind": kind} or {"check": id}
ID = r"\d\d\.\d+"
ID_PATTERN = re.compile(rf"^{ID}$")
HEADING = re.compile(rf"^#{{1,6}}\s*Exercise\s+({ID})\s*(?:[·:\-–—]\s*(.*))?$", re.MULTILINE)
ANY_HEADING = re.compile(r"^#{1,6}\s*Exercise\b", re.MULTILINE)

#: What an exercise asks the learner to do. All but ``compute`` need thought: committing to a prediction,
#: reading one's own run, building a mechanism and matching the library, designing, or finding a bug.
KINDS = {
    "predict": "commit to a number or choice before the cell that measures it runs",
    "interpret": "read this run's own table or plot and draw the conclusion it supports",
    "implement": "build a mechanism by hand and match what the library computes",
    "design": "design a prompt, reward or rule that meets a stated brief",
    "debug": "find and fix a planted bug",
    "compute": "apply a formula or call the lesson has just shown",
}
THINKING_KINDS = frozenset(KINDS) - {"compute"}


def valid_id(exercise_id: str) -> bool:
    return isinstance(exercise_id, str) and bool(ID_PATTERN.match(exercise_id))


def require_id(exercise_id: str) -> str:
    if not valid_id(exercise_id):
        raise ValueError(f"Exercise ids look like '03.2' (chapter number, dot, count from 1), not {exercise_id!r}")
    return exercise_id


def source(cell) -> str:
    """A cell's source as one string (nbformat keeps it as a string or a list of lines)."""
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def meta(cell) -> dict:
    """The cell's ``labkit`` metadata (empty when missing or malformed)."""
    found = cell.get("metadata", {}).get(META_KEY, {})
    return found if isinstance(found, dict) else {}


def has_solution(cell) -> bool:
    """Does this cell hold a solution region (an exercise, stubbed in the lab)?"""
    return BEGIN in source(cell)


def exercise_id(cell) -> str | None:
    return meta(cell).get("exercise")


def check_id(cell) -> str | None:
    return meta(cell).get("check")


def mark_exercise(cell, exercise_id: str, kind: str) -> None:
    """Give a cell the exercise metadata (used by tools/py2nb.py and tests)."""
    if kind not in KINDS:
        raise ValueError(f"An exercise's kind is one of {', '.join(KINDS)}, not {kind!r}")
    cell.setdefault("metadata", {})[META_KEY] = {"exercise": require_id(exercise_id), "kind": kind}


def headings(nb) -> dict[str, str]:
    """Exercise id -> the title in its ``### Exercise NN.k · title`` heading, in notebook order."""
    found: dict[str, str] = {}
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            found.update({m.group(1): (m.group(2) or "").strip() for m in HEADING.finditer(source(cell))})
    return found


@dataclass(frozen=True)
class ExerciseCell:
    """One exercise of a solution notebook, as the format marks it."""

    id: str
    title: str
    kind: str | None
    cell: int  # index of the cell holding the solution region
    check: int | None  # index of the check cell that grades it


def list_exercises(nb, name: str = "") -> list[ExerciseCell]:
    """The exercises of a solution notebook in order: ids from metadata, else headings, else positions.

    ``name`` (the file name) numbers exercises of an old notebook without ids (``NN.k`` from its prefix).
    A check is the cell marked as the exercise's check, else the next code cell that calls ``checks.check_``.
    """
    titles = headings(nb)
    heading_ids = list(titles)
    found: list[ExerciseCell] = []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or not has_solution(cell):
            continue
        number = len(found)
        eid = exercise_id(cell) or (heading_ids[number] if number < len(heading_ids) else f"{name[:2]}.{number + 1}")
        check = next((i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and check_id(c) == eid), None)
        if check is None:
            check = next((i for i in range(index + 1, len(nb.cells)) if nb.cells[i].get("cell_type") == "code"
                          and "checks.check_" in source(nb.cells[i])), None)
        found.append(ExerciseCell(eid, titles.get(eid, ""), meta(cell).get("kind"), index, check))
    return found


def catalogue(solutions: Path) -> list[dict]:
    """Every exercise of the course in chapter order: id, notebook, kind and what it asks (its heading's title).

    ``labkit exercises`` prints it and ``docs/exercises.md`` is generated from it (:func:`catalogue_markdown`).
    """
    import nbformat

    from labkit.chapters import CHAPTERS

    rows = []
    for chapter in CHAPTERS:
        path = Path(solutions) / chapter.notebook
        if not path.is_file():
            continue
        nb = nbformat.read(path, as_version=4)
        rows += [{"id": ex.id, "notebook": chapter.notebook, "kind": ex.kind or "(not set)", "asks": ex.title}
                 for ex in list_exercises(nb, chapter.notebook)]
    return rows


def catalogue_markdown(rows: list[dict]) -> str:
    """The catalogue as the Markdown page ``docs/exercises.md`` (generated: edit the notebooks, not the page)."""
    thinking = sum(row["kind"] in THINKING_KINDS for row in rows)
    lines = ["# Exercises", "",
             "Generated from the solution notebooks by `labkit exercises --markdown > docs/exercises.md`;",
             "a test keeps it current. What each kind asks of the learner:", "",
             *(f"- **{kind}**: {what}" for kind, what in KINDS.items()), "",
             f"{len(rows)} exercises, {thinking} of a kind that needs thought (all but *compute*).", "",
             "| id | notebook | kind | what it asks |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['id']} | `{r['notebook']}` | {r['kind']} | {r['asks'].replace('|', '/')} |" for r in rows]
    return "\n".join(lines) + "\n"

"""What the grader grades against: the solution notebooks, and the instructor's hidden checks.

Both come from the instructor's copy of the kit, never from a learner's release (:mod:`labkit.grading.release`):
solutions from ``solutions/`` (or ``--solutions``), hidden checks from ``instructor/hidden_checks/`` (or
``--hidden-checks``). The exercise format itself is spelled in :mod:`labkit.exercises`.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from labkit import exercises
from labkit.exercises import ExerciseCell

#: Where the instructor's hidden checks live, next to solutions/ and outside the labkit package (so no install
#: or release of labkit carries them): one file per notebook, named like it (``00_lifecycle.py``).
HIDDEN_DIR = Path("instructor") / "hidden_checks"


@dataclass
class HiddenChecks:
    """A notebook's hidden checks: the file's text and the exercises its ``HIDDEN`` dict names."""

    path: Path
    source: str
    exercises: tuple[str, ...]


@dataclass
class Solution:
    name: str
    nb: object
    exercises: list[ExerciseCell]
    digest: str
    hidden: HiddenChecks | None = field(default=None)

    @property
    def stem(self) -> str:
        return self.name.removesuffix(".ipynb")

    def titles(self) -> dict[str, str]:
        return {ex.id: ex.title for ex in self.exercises}


def load_solution(path: Path) -> Solution:
    """Read a solution notebook and list its exercises (by the ids in the cells' metadata)."""
    import nbformat

    data = Path(path).read_bytes()
    return solution_from(nbformat.reads(data.decode("utf-8"), as_version=4), Path(path).name,
                         hashlib.sha256(data).hexdigest())


def solution_from(nb, name: str, digest: str = "") -> Solution:
    """A solution notebook's exercises: ids from the cells' metadata, else the headings, else positions."""
    return Solution(name, nb, exercises.list_exercises(nb, name), digest)


def load_solutions(folder: Path, hidden: Path | None = None) -> dict[str, Solution]:
    """Every solution notebook with at least one exercise, by file name, with its hidden checks if any."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No solutions folder at {folder}: grade from the instructor's copy of the kit (a "
                                "learner's release has no solutions/), or pass --solutions PATH.")
    found = {p.name: load_solution(p) for p in sorted(folder.glob("*.ipynb"))}
    solutions = {name: sol for name, sol in found.items() if sol.exercises}
    if hidden is not None:
        for sol in solutions.values():
            sol.hidden = load_hidden(Path(hidden) / f"{sol.stem}.py", sol)
    return solutions


def hidden_exercises(source: str, path: Path) -> tuple[str, ...]:
    """The exercise ids a hidden-checks file's ``HIDDEN = {"00.2": [...], ...}`` names (read, not run)."""
    try:
        tree = ast.parse(source, str(path))
    except SyntaxError as err:
        raise ValueError(f"{path} is not valid Python ({err.msg}, line {err.lineno}): fix it or move it "
                         "away.") from None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "HIDDEN" for t in node.targets)
                and isinstance(node.value, ast.Dict)):
            keys = [k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            if len(keys) != len(node.value.keys):
                break
            return tuple(keys)
    raise ValueError(f"{path} has no `HIDDEN = {{\"NN.k\": [check, ...]}}` dict with literal exercise ids: "
                     "add one (docs/grading.md, 'Hidden checks').")


def load_hidden(path: Path, solution: Solution) -> HiddenChecks | None:
    """A notebook's hidden checks, or None when it has none; ids must be exercises of the solution."""
    if not path.is_file():
        return None
    source = path.read_text(encoding="utf-8")
    ids = hidden_exercises(source, path)
    unknown = [i for i in ids if i not in {ex.id for ex in solution.exercises}]
    if unknown:
        raise ValueError(f"{path} has hidden checks for {', '.join(unknown)}, which {solution.name} has no "
                         f"exercise for (it has {', '.join(ex.id for ex in solution.exercises)}).")
    return HiddenChecks(path, source, ids)

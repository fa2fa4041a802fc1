"""Putting a graded notebook together: the learner's cells, the solution's checks, the grader's cells.

The learner's check cells are dropped and the solution's put back after each exercise, between two grader cells
that verify the checks are untouched (:mod:`labkit.grading.integrity`); an exercise with hidden checks gets one
more grader cell, after its check, that runs them. Learners' cell tags are dropped (no ``skip-execution`` or
``raises-exception``).
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass

from labkit import exercises
from labkit.grading.scan import _parse
from labkit.grading.solutions import Solution
from labkit.grading.text import one_line

#: The module the grader's cells import in the kernel (and the only one of labkit.grading a kernel imports).
INTEGRITY = "labkit.grading.integrity"
#: Marks a grader cell that carries hidden-check code (the kernel drops what it cached of such cells).
HIDDEN_MARK = "labkit_grading_hidden"


@dataclass
class GradingPlan:
    """The notebook that is executed for one learner, and what each of its cells is."""

    nb: object
    roles: list[dict]  # per cell: kind ("learner" | "check" | "grader"), exercise id, learner cell number
    exercise_cells: dict[str, int]  # exercise id -> index in nb of the learner's exercise cell
    check_cells: dict[str, int]  # exercise id -> index in nb of the re-inserted check cell
    missing: dict[str, str]  # exercise id -> why it is missing
    notes: list[str]
    learner_cells: list[tuple[str, str]]  # (label, source) of every learner code cell, for the tamper scan
    stubs: set[str]  # exercise ids whose cell still holds the lab's `raise NotImplementedError()`
    hidden_cells: dict[str, int]  # exercise id -> index in nb of the grader cell running its hidden checks

    def describe(self, index: int) -> str:
        """A cell as the learner knows it: "exercise 00.1 (cell 8)", "the check of 00.1", "cell 3 (`import x`)"."""
        role = self.roles[index]
        if role["kind"] == "learner" and role["exercise"]:
            return f"exercise {role['exercise']} (cell {role['learner_cell']})"
        if role["kind"] == "check":
            return f"the check of {role['exercise']}"
        if role["kind"] == "grader" and role["exercise"]:
            return f"the grader's checks of {role['exercise']}"
        first = next((line for line in self.nb.cells[index].source.splitlines() if line.strip()), "")
        return f"cell {role['learner_cell']} (`{one_line(first, 60)}`)"


def check_roots(solution: Solution) -> dict[str, str]:
    """Names the solution's check cells call through (``checks``) and the module each one names."""
    imports, roots = {}, set()
    for cell in solution.nb.cells:
        if cell.cell_type != "code" or (tree := _parse(exercises.source(cell))) is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        imports[alias.asname] = alias.name
    for exercise in solution.exercises:
        if exercise.check is None or (tree := _parse(exercises.source(solution.nb.cells[exercise.check]))) is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                root = node.func
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name):
                    roots.add(root.id)
    return {name: imports[name] for name in roots if name in imports and imports[name].startswith("labkit")}


def _grader_cell(code: str, role: str):
    import nbformat

    cell = nbformat.v4.new_code_cell(code)
    cell.metadata["labkit_grader"] = role
    return cell


def _verify_code(exercise_id: str, when: str, roots: dict[str, str]) -> str:
    rebind = "".join(f"\nfrom {m.rsplit('.', 1)[0]} import {m.rsplit('.', 1)[1]} as {n}" for n, m in roots.items())
    return (f"import {INTEGRITY} as _labkit_integrity\n_labkit_integrity.kernel_verify({exercise_id!r}, {when!r})\n"
            f"del _labkit_integrity{rebind if when == 'before' else ''}")


def _hidden_code(exercise_id: str, solution: Solution) -> str:
    name = f"<hidden checks of {solution.stem}>"
    return (f"# {HIDDEN_MARK}\nimport {INTEGRITY} as _labkit_integrity\n"
            f"_labkit_integrity.run_hidden({exercise_id!r}, {solution.hidden.source!r}, {name!r})\n"
            "del _labkit_integrity")


def _find_exercise_cells(solution: Solution, cells) -> dict[str, int]:
    """Which learner cell answers which exercise: metadata id, then cell id, then heading, then position."""
    found: dict[str, int] = {}
    taken: set[int] = set()
    code = [i for i, c in enumerate(cells) if c.get("cell_type") == "code"]

    def claim(exercise_id, index):
        if index is not None and index not in taken:
            found[exercise_id] = index
            taken.add(index)

    for ex in solution.exercises:  # 1. the id in the cell's metadata
        claim(ex.id, next((i for i in code if exercises.exercise_id(cells[i]) == ex.id and i not in taken), None))
    check_like = {i for i in code if exercises.check_id(cells[i])}
    for ex in solution.exercises:  # 2. the solution's cell id
        if ex.id not in found:
            sol_id = solution.nb.cells[ex.cell].get("id")
            claim(ex.id, next((i for i in code if sol_id and cells[i].get("id") == sol_id and i not in taken
                               and i not in check_like), None))

    def after_heading(h):
        return next((i for i in code if i > h and i not in check_like), None)

    headings = [i for i, c in enumerate(cells)
                if c.get("cell_type") == "markdown" and exercises.ANY_HEADING.search(exercises.source(c))]
    for ex in solution.exercises:  # 3. the cell after the exercise's heading
        if ex.id not in found:
            h = next((i for i in headings
                      if any(m.group(1) == ex.id for m in exercises.HEADING.finditer(exercises.source(cells[i])))),
                     None)
            if h is not None:
                claim(ex.id, after_heading(h))
    for number, ex in enumerate(solution.exercises):  # 4. position among the exercise headings
        if ex.id not in found and number < len(headings) and len(headings) == len(solution.exercises):
            claim(ex.id, after_heading(headings[number]))
    return found


def _is_check_cell(cell, check_names: set[str], check_ids: set[str]) -> bool:
    if exercises.check_id(cell) or (cell.get("id") and cell.get("id") in check_ids):
        return True
    tree = _parse(exercises.source(cell))
    if tree is None or not tree.body:
        return False
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    only_checks = all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Expr)) for s in tree.body)
    return only_checks and bool(calls & check_names)


def assemble(solution: Solution, learner_nb, roots: dict[str, str] | None = None) -> GradingPlan:
    """The notebook to execute for one learner: their cells, the solution's checks, the grader's cells."""
    import nbformat

    source = exercises.source
    roots = check_roots(solution) if roots is None else roots
    cells = list(learner_nb.get("cells", []))
    found = _find_exercise_cells(solution, cells)
    check_sources = {ex.id: source(solution.nb.cells[ex.check]) for ex in solution.exercises if ex.check is not None}
    check_of = {m: ex for ex, s in check_sources.items() for m in re.findall(r"checks\.(check_\w+)\(", s)}
    check_of.update({solution.nb.cells[ex.check].get("id"): ex.id for ex in solution.exercises
                     if ex.check is not None and solution.nb.cells[ex.check].get("id")})
    check_names = {name for name in check_of if name.startswith("check_")}
    check_ids = set(check_of) - check_names
    by_exercise = {index: ex for ex, index in found.items()}
    dropped, notes = {}, []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and i not in by_exercise and _is_check_cell(cell, check_names, check_ids):
            calls = re.findall(r"checks\.(check_\w+)\(", source(cell))
            dropped[i] = (exercises.check_id(cell) or check_of.get(cell.get("id"))
                          or next((check_of[c] for c in calls if c in check_of), None))
    for ex in solution.exercises:
        if ex.id in found and ex.check is not None:
            mine = [i for i, k in dropped.items() if k == ex.id]
            if not mine:
                notes.append(f"{ex.id}: your check cell was missing or unrecognisable; the lab's check was run")
            elif source(cells[mine[0]]).strip() != check_sources[ex.id].strip():
                notes.append(f"{ex.id}: your check cell was edited; the lab's original check was run")

    # where each check goes: after the learner's exercise cell, or after the solution cells between the two
    insert_after = {}
    for ex in solution.exercises:
        if ex.id not in found or ex.check is None:
            continue
        anchor = found[ex.id]
        for between in solution.nb.cells[ex.cell + 1:ex.check]:
            if between.cell_type != "code":
                continue
            match = next((i for i in range(anchor + 1, len(cells)) if i not in dropped and i not in by_exercise and (
                (between.get("id") and cells[i].get("id") == between.get("id"))
                or source(cells[i]).strip() == source(between).strip())), None)
            anchor = match if match is not None else anchor
        insert_after.setdefault(anchor, []).append(ex)

    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    roles = []

    def add(cell, kind, exercise=None, number=None):
        nb.cells.append(cell)
        roles.append({"kind": kind, "exercise": exercise, "learner_cell": number})
        return len(nb.cells) - 1

    add(_grader_cell(f"import {INTEGRITY} as _labkit_integrity\n_labkit_integrity.kernel_snapshot()\n"
                     "del _labkit_integrity", "snapshot"), "grader")
    exercise_cells, check_cells, hidden_cells, learner_cells, stubs = {}, {}, {}, [], set()
    stub = "\n".join(exercises.CODE_STUB)
    hidden_ids = set(solution.hidden.exercises) if solution.hidden else set()
    for i, raw in enumerate(cells):
        kind = raw.get("cell_type")
        if kind == "code":
            learner_cells.append((f"cell {i + 1}", source(raw)))
        if i in dropped or kind not in ("code", "markdown", "raw"):
            continue
        if kind == "code":
            cell = nbformat.v4.new_code_cell(source(raw))
            cell.metadata = copy.deepcopy(dict(raw.get("metadata", {}))) if isinstance(raw.get("metadata"),
                                                                                       dict) else {}
            cell.metadata.pop("tags", None)  # no skip-execution / raises-exception tricks
        else:
            cell = nbformat.v4.new_markdown_cell(source(raw)) if kind == "markdown" else \
                nbformat.v4.new_raw_cell(source(raw))
        index = add(cell, "learner", by_exercise.get(i), i + 1)
        if i in by_exercise:
            exercise_cells[by_exercise[i]] = index
            if re.sub(r"\s+", " ", stub) in re.sub(r"\s+", " ", source(raw)):
                stubs.add(by_exercise[i])
        for ex in insert_after.get(i, []):
            add(_grader_cell(_verify_code(ex.id, "before", roots), "verify"), "grader", ex.id)
            check = copy.deepcopy(solution.nb.cells[ex.check])
            check.outputs, check.execution_count = [], None
            check.id = nbformat.v4.new_code_cell().id  # a fresh id: the learner may have reused the solution's
            check_cells[ex.id] = add(check, "check", ex.id)
            if ex.id in hidden_ids:
                hidden_cells[ex.id] = add(_grader_cell(_hidden_code(ex.id, solution), "hidden"), "grader", ex.id)
            add(_grader_cell(_verify_code(ex.id, "after", roots), "verify"), "grader", ex.id)
    missing = {}
    for ex in solution.exercises:
        if ex.id not in found:
            missing[ex.id] = f"no cell for exercise {ex.id} (neither its id, its cell nor its heading was found)"
        elif ex.check is None:
            missing[ex.id] = f"the solution has no check cell for {ex.id}"
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and exercises.has_solution(cell):
            notes.append(f"cell {i + 1} holds the solution markers ({exercises.BEGIN}): is this the solution "
                         "notebook?")
            break
    return GradingPlan(nb, roles, exercise_cells, check_cells, missing, notes, learner_cells, stubs, hidden_cells)


def hide_hidden_code(plan: GradingPlan) -> None:
    """Before the executed notebook is saved: the hidden checks' code and outputs are not kept."""
    for exercise_id, index in plan.hidden_cells.items():
        cell = plan.nb.cells[index]
        cell.source = f"# the hidden checks of {exercise_id} ran here (their code is not kept)"
        cell.outputs = []

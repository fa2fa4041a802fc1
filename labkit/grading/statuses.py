"""One status per exercise, from how its cells ran (:func:`exercise_status`), and the notebook-wide findings.

| status | rule |
| --- | --- |
| ``pass`` | the exercise cell, its check and its hidden checks ran without an error |
| ``fail`` | the check (or a hidden check) rejected the answer: the detail is the check's hint |
| ``error`` | anything else raised in the exercise or its check; the kernel died in this cell |
| ``timeout`` | a cell ran past the per-cell limit, or the notebook's time ran out |
| ``limit`` | the exercise went over one of the sandbox's limits: memory, processes, or the size of its output files |
| ``blocked`` | an earlier cell it depends on failed, or the kernel died or was stopped earlier |
| ``missing`` | no cell for it, or it still raises the lab's ``NotImplementedError`` |
| ``flagged`` | the notebook tampers with the checks (decided for the whole notebook) |
"""

from __future__ import annotations

from labkit.grading.assembly import GradingPlan
from labkit.grading.execute import Outcome
from labkit.grading.integrity import HIDDEN_FAILED
from labkit.grading.scan import cell_names
from labkit.grading.text import DETAIL_LIMIT, one_line

__all__ = ["STATUSES", "NOT_DONE", "DETAIL_LIMIT", "one_line", "exercise_status", "runtime_tampering",
           "setup_failure"]
STATUSES = ("pass", "fail", "error", "timeout", "limit", "blocked", "missing", "flagged")
NOT_DONE = ("not done: the exercise still raises the lab's NotImplementedError() - replace the `# YOUR CODE HERE` / "
            "`raise NotImplementedError()` lines with your code")
_LIMIT_NAMES = {"memory": "memory limit", "processes": "process limit", "disk": "output-size limit"}


def _blocker(plan: GradingPlan, outcomes: list[Outcome], cells: list[int]) -> int | None:
    """The earliest failed cell that last bound a name these cells read (None: they depend on no failure)."""
    binds: dict[int, set[str]] = {}
    for index, cell in enumerate(plan.nb.cells):
        if cell.cell_type == "code" and plan.roles[index]["kind"] == "learner":
            names = cell_names(cell.source)
            binds[index] = names[0] if names else set()
    blockers = []
    for index in cells:
        names = cell_names(plan.nb.cells[index].source)
        if names is None:
            continue
        for name in names[1]:
            last = next((j for j in range(index - 1, -1, -1) if name in binds.get(j, ())), None)
            if last is not None and last not in cells and outcomes[last].state in ("error", "timeout", "died"):
                blockers.append(last)
    return min(blockers) if blockers else None


def _error_text(outcome: Outcome) -> str:
    lines = [line for line in (outcome.evalue or "").splitlines() if line.strip()]
    return f"{outcome.ename}: {lines[-1] if lines else ''}".rstrip(": ") if outcome.ename else outcome.reason


def exercise_status(plan: GradingPlan, outcomes: list[Outcome], exercise_id: str,
                    limits=None) -> tuple[str, str]:
    """One status and a detail for one exercise, from how its cell, its check and its hidden checks ran.

    * ``missing``: no cell for the exercise, or it still raises the lab's ``NotImplementedError``;
    * ``pass``: the exercise cell, the check and the hidden checks ran without error;
    * ``fail``: the check raised ``CheckFailed`` (the detail is the check's hint) or a hidden check failed
      (the detail starts with "a hidden check failed"; the learner's feedback shows only that);
    * ``timeout``: the exercise or its check ran past the per-cell limit, or the notebook's limit ran out;
    * ``limit``: the exercise or its check went over a sandbox limit (``limits``, a
      :class:`~labkit.grading.sandbox.Limits`, words the detail): memory, processes or output size;
    * ``blocked``: the kernel died, hung or was stopped earlier, or the exercise's cells raised and read a name
      whose last assignment was in an earlier cell that failed (detail: which cell);
    * ``error``: the exercise cell or the check raised anything else - the exception's last line.
    ``flagged`` is decided for the whole notebook, before (static scan) or while (kernel check) it runs.
    """
    if exercise_id in plan.missing:
        return "missing", plan.missing[exercise_id]
    cell, check = plan.exercise_cells[exercise_id], plan.check_cells[exercise_id]
    hidden = plan.hidden_cells.get(exercise_id)
    for index in (cell, check, *(() if hidden is None else (hidden,))):
        outcome = outcomes[index]
        if outcome.state == "ok":
            continue
        own = {cell: "the exercise cell", check: "the check"}.get(index, "the hidden checks")
        if outcome.state == "skipped":
            if "time limit" in outcome.reason and "interrupted" not in outcome.reason:
                return "timeout", f"{outcome.reason} before this exercise ran"
            return "blocked", f"{outcome.reason}, so this exercise could not run"
        if outcome.state == "timeout":
            return "timeout", f"{own} {outcome.reason}"
        limit = _limit_words(outcome.limit, limits)
        if outcome.state == "died" and outcome.limit == "wall":
            return "timeout", f"{own} ran past the sandbox's wall-time limit, so the sandbox was stopped"
        if outcome.state == "died" and limit:
            return "limit", f"{limit}: {own} went over it, so the sandbox was stopped"
        if outcome.state == "died":
            return "error", f"the kernel died while running {own} (os._exit, a crash or running out of memory)" + (
                f": {outcome.reason}" if outcome.reason else "")
        if outcome.ename == "CheckFailed" and index == check:
            return "fail", outcome.evalue
        if outcome.ename == "HiddenCheckFailed" and index == hidden:
            return "fail", outcome.evalue if outcome.evalue.startswith(HIDDEN_FAILED) else HIDDEN_FAILED
        if limit:
            return "limit", f"{limit}: {own} raised {_error_text(outcome)}"
        if outcome.ename == "NotImplementedError" and exercise_id in plan.stubs:
            return "missing", NOT_DONE
        blocker = _blocker(plan, outcomes, [cell, check])
        if blocker is not None:
            return "blocked", (f"needs {plan.describe(blocker)}, which failed "
                               f"({_error_text(outcomes[blocker]) or outcomes[blocker].state})")
        return "error", _error_text(outcome)
    return "pass", ""


def _limit_words(limit: str, limits) -> str:
    if not limit or limit == "wall":
        return ""
    if limits is not None:
        return f"the sandbox's {limits.describe(limit)}"
    return f"the sandbox's {_LIMIT_NAMES.get(limit, limit + ' limit')}"


def runtime_tampering(plan: GradingPlan, outcomes: list[Outcome]) -> str | None:
    """The integrity check's message if a grader cell found the checks changed while the notebook ran."""
    for cell, role, outcome in zip(plan.nb.cells, plan.roles, outcomes, strict=True):
        if role["kind"] == "grader" and outcome.state == "error" and cell.metadata.get("labkit_grader") == "verify":
            return f"at run time: {_error_text(outcome)}"
    return None


def setup_failure(plan: GradingPlan, outcomes: list[Outcome]) -> str | None:
    """Why the grader's first cell failed in the kernel (labkit not importable there, ...), if it did."""
    first = outcomes[0] if outcomes else None
    if first is None or first.state == "ok":
        return None
    return f"the grading kernel could not start grading: {_error_text(first) or first.state}"

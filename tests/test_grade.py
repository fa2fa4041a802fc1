"""``labkit grade``: statuses, integrity, reports and re-runs, on a class built from solutions/ and labs/.

The executed class uses notebook 00 (the cheapest), pruned to the cells its exercises and checks
need, so each learner costs a kernel start and labkit's import. Everything else runs without a kernel.
"""

from __future__ import annotations

import ast
import copy
import csv
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import nbformat
import pytest

from labkit import checks, exercises, grading
from labkit.grading import sandbox

ROOT = Path(__file__).resolve().parent.parent
NB = "00_lifecycle.ipynb"
STEM = NB.removesuffix(".ipynb")
CELL_TIMEOUT = 25  # seconds: the infinite loop costs this much; labkit's import fits in it on a loaded machine
# Learners graded without running a kernel do not need the sandbox: those tests grade with --unsafe-no-sandbox (the
# sandbox's own tests are in test_grading_sandbox.py); the executed class needs bubblewrap.
UNSAFE = "--unsafe-no-sandbox"
needs_sandbox = pytest.mark.skipif(
    not sandbox.available(),
    reason=f"the grading sandbox is not available here ({sandbox.status()}); install with: {sandbox.INSTALL}")


# --------------------------------------------------------------------------------------------------
# Building submissions from the solution and the lab
# --------------------------------------------------------------------------------------------------
def prune(solution_nb) -> list[int]:
    """Indices of the cells the exercises and their checks need (plus every markdown cell)."""
    exercises = grading.solution_from(solution_nb, NB).exercises
    keep = {ex.cell for ex in exercises} | {ex.check for ex in exercises}
    needed = set()
    for index in keep:
        needed |= grading.cell_names(solution_nb.cells[index].source)[1]
    for index in range(len(solution_nb.cells) - 1, -1, -1):
        cell = solution_nb.cells[index]
        if cell.cell_type == "markdown":
            keep.add(index)
        elif index not in keep and cell.cell_type == "code":
            bound, reads = grading.cell_names(cell.source)
            if bound & needed:
                keep.add(index)
                needed |= reads
    return sorted(keep)


def answer(solution_source: str) -> str:
    """What a learner who solved the exercise wrote: the solution's cell without the markers."""
    return "\n".join(line for line in solution_source.splitlines()
                     if line.strip() not in (exercises.BEGIN, exercises.END))


def answer_variable(check_source: str) -> str:
    """The variable a check cell hands to its check first (the learner's answer)."""
    for node in ast.walk(ast.parse(check_source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.startswith("check_"):
            if node.args and isinstance(node.args[0], ast.Name):
                return node.args[0].id
    raise AssertionError(f"cannot find the answer variable in {check_source!r}")


class Lab:
    """The pruned solution and lab of notebook 00, and the ways a learner can hand it in."""

    def __init__(self):
        full_solution = nbformat.read(ROOT / "solutions" / NB, as_version=4)
        full_lab = nbformat.read(ROOT / "labs" / NB, as_version=4)
        assert len(full_lab.cells) == len(full_solution.cells), "labs/ is out of sync: run `labkit build-labs`"
        keep = prune(full_solution)
        self.solution, self.lab = copy.deepcopy(full_solution), copy.deepcopy(full_lab)
        self.solution.cells = [full_solution.cells[i] for i in keep]
        self.lab.cells = [full_lab.cells[i] for i in keep]
        exercises = grading.solution_from(self.solution, NB).exercises
        self.ids = [ex.id for ex in exercises]
        assert len(self.ids) >= 2, f"{NB} needs at least two exercises for these tests"
        self.cell = {ex.id: ex.cell for ex in exercises}  # the same positions in the lab
        self.check = {ex.id: ex.check for ex in exercises}

    def write_solutions(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(self.solution, folder / NB)
        return folder

    def untouched(self):
        return copy.deepcopy(self.lab)

    def correct(self):
        nb = self.untouched()
        for index in self.cell.values():
            nb.cells[index].source = answer(self.solution.cells[index].source)
        return nb

    def edit(self, nb, exercise_id: str, before: str = "", after: str = ""):
        cell = nb.cells[self.cell[exercise_id]]
        cell.source = (before + "\n" if before else "") + cell.source + ("\n" + after if after else "")
        return nb

    def wrong_line(self, exercise_id: str) -> str:
        name = answer_variable(self.lab.cells[self.check[exercise_id]].source)
        return f"{name} = {name} * 2  # a plausible slip: twice the right value"

    def check_source(self, exercise_id: str) -> str:
        return self.solution.cells[self.check[exercise_id]].source

    def expected_hint(self, nb, exercise_id: str) -> str:
        """The hint the check itself gives for this notebook's answer, run here in-process (the oracle)."""
        namespace: dict = {}
        upto = self.check[exercise_id]
        for cell in nb.cells[:upto + 1]:
            if cell.cell_type == "code":
                try:
                    exec(compile(grading.python_source(cell.source), "<cell>", "exec"), namespace)  # noqa: S102
                except checks.CheckFailed as failed:
                    if cell is nb.cells[upto]:
                        return grading.one_line(str(failed))
                    raise
        raise AssertionError(f"the check of {exercise_id} passed in-process")


def write_notebook(folder: Path, nb, name: str = NB) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(nbformat.writes(nb), encoding="utf-8")


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def json_error(text: str) -> str:
    try:
        json.loads(text)
    except ValueError as err:
        return str(err)
    raise AssertionError("that text is valid JSON")


@pytest.fixture(scope="module")
def lab():
    return Lab()


# --------------------------------------------------------------------------------------------------
# Tamper detection (static)
# --------------------------------------------------------------------------------------------------
CHECK = "check_training_memory"
TAMPERING = {
    "assign a check": f"from labkit import checks\nchecks.{CHECK} = lambda *a, **k: None",
    "alias of the module": f"import labkit.checks as c\nc.{CHECK} = print",
    "rebind an imported check": f"from labkit.checks import {CHECK}\n{CHECK} = lambda *a: None",
    "replace CheckFailed": "from labkit import checks\nchecks.CheckFailed = Exception",
    "patch through the package": "import labkit\nlabkit.checks.base.require = lambda c, h: None",
    "swap a function's code": "from labkit.checks import base\nbase.require.__code__ = (lambda c, h: None).__code__",
    "setattr": f"from labkit import checks\nsetattr(checks, '{CHECK}', print)",
    "via sys.modules": f"import sys\nsys.modules['labkit.checks'].{CHECK} = print",
    "replace a module": "import sys\nsys.modules['labkit.checks'] = object()",
    "sys.modules.update": "import sys\nsys.modules.update({'labkit.checks': None})",
    "builtins": "import builtins\nbuiltins.isinstance = lambda *a: True",
    "__builtins__": "__builtins__.float = lambda x: 0.0",
    "math.isclose": "import math\nmath.isclose = lambda *a, **k: True",
    "numpy function": "import numpy as np\nnp.allclose = lambda *a, **k: True",
    "del a check": f"from labkit import checks\ndel checks.{CHECK}",
    "the registry": "from labkit import checks\nchecks.EXERCISES['00.1'] = print",
    "alias of an alias": f"from labkit import checks\nc2 = checks\nc2.{CHECK} = print",
    "getattr of __import__": f"getattr(__import__('labkit.checks'), 'checks').{CHECK} = print",
    "import_module": f"import importlib\nimportlib.import_module('labkit.checks').{CHECK} = print",
    "a function checks call": "from labkit import lifecycle\nlifecycle.compute_optimal_tokens = lambda n: 42",
    "rebind the name checks": "checks = type('Fake', (), {'__getattr__': lambda s, n: print})()",
    "globals()": "globals()['checks'] = object()",
    "vars()": f"from labkit import checks\nvars(checks)['{CHECK}'] = print",
    "__dict__": f"from labkit import checks\nchecks.__dict__['{CHECK}'] = print",
    "object.__setattr__": f"from labkit import checks as c\nobject.__setattr__(c, '{CHECK}', print)",
    "IPython transformer": "get_ipython().input_transformers_post.append(lambda lines: [])",
    "IPython exception hook": "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
    "frames": "import sys\nsys._getframe(1).f_locals['expected']",
    "ctypes": "import ctypes",
    "exec of a literal": f"exec('from labkit import checks; checks.{CHECK} = print')",
    "cell magic": f"%%time\nfrom labkit import checks\nchecks.{CHECK} = print",
    "loop variable": "for checks in range(3):\n    pass",
}

ORDINARY = {
    "calls a check": f"from labkit import checks\nchecks.{CHECK}(1, 2)",
    "pandas options": "import pandas as pd\npd.options.display.max_rows = 10",
    "numpy seed": "import numpy as np\nnp.random.seed(0)",
    "torch flags": "import torch\ntorch.backends.cudnn.deterministic = True",
    "rcParams": "import matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (6, 3)",
    "model config": "model.config.pad_token_id = tokenizer.eos_token_id",
    "environment": "import os\nos.environ['X'] = '1'\nimport sys\nsys.path.append('..')",
    "labkit calls": "from labkit import config, lifecycle\nconfig.set_seed(42)\nx = lifecycle.memory_table(1e9)",
    "a similar name": "checks_passed = 3\nmy_checks = [1, 2]",
    "own function named like labkit's": "def compute_optimal_tokens(n):\n    return 20 * n",
    "shell command and magic": "!ls\n%time x = 1",
    "not python": "def broken(:\n    pass",
}


@pytest.mark.parametrize("source", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_is_flagged_with_its_line(source):
    findings = grading.find_tampering([("cell 3", source)], protected={"checks": "labkit.checks"})
    assert findings, f"not flagged:\n{source}"
    assert findings[0].startswith("cell 3")
    assert re.search(r"line \d+: `", findings[0])


@pytest.mark.parametrize("source", ORDINARY.values(), ids=ORDINARY.keys())
def test_ordinary_code_is_not_flagged(source):
    assert grading.find_tampering([("cell 1", source)], protected={"checks": "labkit.checks"}) == []


def test_aliases_carry_over_from_earlier_cells():
    cells = [("cell 1", "from labkit import checks as c"), ("cell 2", "x = 1"), ("cell 5", f"c.{CHECK} = print")]
    (finding,) = grading.find_tampering(cells)
    assert finding.startswith("cell 5, line 1:") and f"labkit.checks.{CHECK}" in finding


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "labs").glob("*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_cell_of_our_own_notebooks_is_flagged(path):
    nb = nbformat.read(path, as_version=4)
    solution = grading.load_solution(ROOT / "solutions" / path.name)
    cells = [(f"cell {i + 1}", c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    assert grading.find_tampering(cells, protected=grading.check_roots(solution)) == []


def test_cell_names():
    bound, reads = grading.cell_names("import math as m\nx = m.pi * y\nfor i in range(3):\n    z = i\n"
                                    "def f(a):\n    return a + w\n%time q = 1")
    assert {"m", "x", "i", "z", "f", "q"} <= bound
    assert {"y", "w", "range"} <= reads and "x" not in reads and "a" not in reads
    assert grading.cell_names("def broken(:") is None


# --------------------------------------------------------------------------------------------------
# Matching a learner's cells to the solution's, and the check cells put back
# --------------------------------------------------------------------------------------------------
def _learner_cell_of(plan, exercise_id):
    return plan.roles[plan.exercise_cells[exercise_id]]["learner_cell"] - 1


def test_exercise_cells_are_found_by_metadata_then_cell_id_then_heading_then_position(lab):
    solution = grading.solution_from(lab.solution, NB)
    nb = lab.correct()
    # put the exercises last-first and move them away from their headings: only the metadata can tell
    scrambled = copy.deepcopy(nb)
    order = [c for c in scrambled.cells if "exercise" not in c.metadata.get("labkit", {})]
    order += sorted((c for c in scrambled.cells if "exercise" in c.metadata.get("labkit", {})),
                    key=lambda c: c.metadata["labkit"]["exercise"], reverse=True)
    scrambled.cells = order
    plan = grading.assemble(solution, scrambled)
    for exercise_id in lab.ids:
        assert scrambled.cells[_learner_cell_of(plan, exercise_id)].metadata["labkit"]["exercise"] == exercise_id

    no_meta = copy.deepcopy(nb)  # metadata lost (copied into new cells): the cell ids still match
    for cell in no_meta.cells:
        cell.metadata.pop("labkit", None)
    plan = grading.assemble(solution, no_meta)
    assert {i: _learner_cell_of(plan, i) for i in lab.ids} == lab.cell

    no_ids = copy.deepcopy(no_meta)  # a regenerated lab: new cell ids; the headings still name the exercises
    for cell in no_ids.cells:
        cell.id = "x" + cell.id[::-1]
    plan = grading.assemble(solution, no_ids)
    assert {i: _learner_cell_of(plan, i) for i in lab.ids} == lab.cell

    renamed = copy.deepcopy(no_ids)  # headings renumbered by hand: their order is left
    for cell in renamed.cells:
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"Exercise \d\d\.\d+", "Exercise", cell.source)
    plan = grading.assemble(solution, renamed)
    assert {i: _learner_cell_of(plan, i) for i in lab.ids} == lab.cell
    assert not plan.missing

    gone = copy.deepcopy(nb)  # an exercise cell deleted: that exercise is missing, the others are found
    last = lab.ids[-1]
    del gone.cells[lab.cell[last]]
    plan = grading.assemble(solution, gone)
    assert set(plan.missing) == {last} and set(plan.exercise_cells) == set(lab.ids) - {last}


def test_check_cells_come_from_the_solution(lab):
    solution = grading.solution_from(lab.solution, NB)
    first, last = lab.ids[0], lab.ids[-1]
    nb = lab.correct()
    nb.cells[lab.check[last]].source = 'print("\u2705 all good")'
    del nb.cells[lab.check[first]]
    plan = grading.assemble(solution, nb)
    for exercise_id in lab.ids:
        index = plan.check_cells[exercise_id]
        assert plan.nb.cells[index].source == lab.check_source(exercise_id)
        assert index > plan.exercise_cells[exercise_id]
        assert plan.nb.cells[index - 1].metadata["labkit_grader"] == "verify"
        assert plan.nb.cells[index + 1].metadata["labkit_grader"] == "verify"
    assert not any("all good" in c.source for c in plan.nb.cells)
    assert any(n.startswith(f"{first}: your check cell was missing") for n in plan.notes)
    assert any(n.startswith(f"{last}: your check cell was edited") for n in plan.notes)
    assert plan.nb.cells[0].metadata["labkit_grader"] == "snapshot"


# --------------------------------------------------------------------------------------------------
# Statuses from how cells ran (no kernel: the outcomes are given)
# --------------------------------------------------------------------------------------------------
def _plan_and_outcomes(lab, nb):
    plan = grading.assemble(grading.solution_from(lab.solution, NB), nb)
    return plan, [grading.Outcome("ok") for _ in plan.nb.cells]


def test_status_rules(lab):
    first, last = lab.ids[0], lab.ids[-1]
    plan, outcomes = _plan_and_outcomes(lab, lab.correct())
    assert [grading.exercise_status(plan, outcomes, i)[0] for i in lab.ids] == ["pass"] * len(lab.ids)

    outcomes[plan.check_cells[last]] = grading.Outcome("error", "CheckFailed", "Use about 20 tokens\nper parameter.")
    assert grading.exercise_status(plan, outcomes, last) == ("fail", "Use about 20 tokens\nper parameter.")

    outcomes[plan.exercise_cells[last]] = grading.Outcome("error", "ValueError", "bad\nthe last line")
    assert grading.exercise_status(plan, outcomes, last) == ("error", "ValueError: the last line")

    # an earlier cell that binds what the exercise reads failed: the exercise is blocked, not in error
    imports = next(i for i, r in enumerate(plan.roles) if r["kind"] == "learner" and r["exercise"] is None
                   and "lifecycle" in (grading.cell_names(plan.nb.cells[i].source) or ((), ()))[0])
    outcomes[imports] = grading.Outcome("error", "ModuleNotFoundError", "No module named 'pandas'")
    outcomes[plan.exercise_cells[last]] = grading.Outcome("error", "NameError", "name 'lifecycle' is not defined")
    status, detail = grading.exercise_status(plan, outcomes, last)
    assert status == "blocked" and detail.startswith(f"needs cell {plan.roles[imports]['learner_cell']} (`")
    assert detail.endswith("which failed (ModuleNotFoundError: No module named 'pandas')")

    outcomes = [grading.Outcome("ok") for _ in plan.nb.cells]
    outcomes[plan.exercise_cells[first]] = grading.Outcome("died")
    for i in range(plan.exercise_cells[first] + 1, len(outcomes)):
        outcomes[i] = grading.Outcome("skipped", reason="the kernel died in exercise 00.1 (cell 8)")
    assert grading.exercise_status(plan, outcomes, first)[0] == "error"
    assert grading.exercise_status(plan, outcomes, last) == (
        "blocked", "the kernel died in exercise 00.1 (cell 8), so this exercise could not run")

    outcomes[plan.exercise_cells[last]] = grading.Outcome("skipped", reason="the notebook's time limit (60 s) ran out")
    assert grading.exercise_status(plan, outcomes, last) == (
        "timeout", "the notebook's time limit (60 s) ran out before this exercise ran")


def test_an_untouched_exercise_is_missing(lab):
    plan, outcomes = _plan_and_outcomes(lab, lab.untouched())
    first = lab.ids[0]
    outcomes[plan.exercise_cells[first]] = grading.Outcome("error", "NotImplementedError", "")
    assert grading.exercise_status(plan, outcomes, first) == ("missing", grading.NOT_DONE)


# --------------------------------------------------------------------------------------------------
# Submissions, reports and re-runs without a kernel
# --------------------------------------------------------------------------------------------------
def test_submissions_from_folders_and_zips(tmp_path, lab):
    text = nbformat.writes(lab.correct()).encode()
    write_notebook(tmp_path / "ann", lab.correct())
    write_notebook(tmp_path / "ann" / "old", lab.untouched())  # a second copy deeper down: not graded
    write_notebook(tmp_path / "ann" / ".ipynb_checkpoints", lab.untouched(), name=NB.replace(".", "-checkpoint."))
    with zipfile.ZipFile(tmp_path / "ben.zip", "w") as archive:
        archive.writestr(f"ben/{NB}", text)
        archive.writestr(f"__MACOSX/ben/._{NB}", b"\x00\x05")
        archive.writestr("ben/notes.ipynb", b"{}")
    (tmp_path / "cat.zip").write_bytes(b"this is not a zip")
    (tmp_path / "readme.txt").write_text("hello", encoding="utf-8")
    subs, skipped = grading.read_submissions(tmp_path, {NB})
    by_name = {s.learner: s for s in subs}
    assert sorted(by_name) == ["ann", "ben", "cat"]
    assert by_name["ann"].notebooks[NB] == (tmp_path / "ann" / NB).read_bytes()
    assert any("second copy" in p for p in by_name["ann"].problems)
    assert by_name["ben"].notebooks[NB] == text and by_name["ben"].others == ["ben/notes.ipynb"]
    assert not by_name["cat"].notebooks and "could not be opened as a zip" in by_name["cat"].problems[0]
    assert skipped and skipped[0].startswith("readme.txt")


def _cheap_class(root: Path, lab) -> tuple[Path, Path]:
    """Learners whose grading needs no kernel: corrupt, flagged, wrongly named (and flagged once renamed)."""
    solutions = lab.write_solutions(root / "solutions")
    subs = root / "subs"
    (subs / "corrupt").mkdir(parents=True)
    (subs / "corrupt" / NB).write_text(nbformat.writes(lab.correct())[:300], encoding="utf-8")
    write_notebook(subs / "patcher", lab.edit(lab.correct(), lab.ids[-1], after="checks.CheckFailed = Exception"))
    write_notebook(subs / "renamed", lab.edit(lab.correct(), lab.ids[-1], after="import ctypes"), name="lab00.ipynb")
    return solutions, subs


def test_rerun_grades_only_what_changed(tmp_path, lab):
    solutions, subs = _cheap_class(tmp_path, lab)
    out = tmp_path / "out"
    first = grading.grade_class(subs, out, solutions, progress=False, sandboxed=False)
    assert (first.graded, first.reused) == (2, 0)  # corrupt + patcher (renamed has no lab notebook)
    again = grading.grade_class(subs, out, solutions, progress=False, sandboxed=False)
    assert (again.graded, again.reused) == (0, 2) and again.rows == first.rows
    (subs / "corrupt" / NB).write_text("{", encoding="utf-8")
    changed = grading.grade_class(subs, out, solutions, progress=False, sandboxed=False)
    assert (changed.graded, changed.reused) == (1, 1)
    forced = grading.grade_class(subs, out, solutions, force=True, progress=False, sandboxed=False)
    assert (forced.graded, forced.reused) == (2, 0)
    (subs / "renamed" / "lab00.ipynb").rename(subs / "renamed" / NB)  # given the lab's name: graded now
    renamed = grading.grade_class(subs, out, solutions, progress=False, sandboxed=False)
    assert (renamed.graded, renamed.reused) == (1, 2)
    assert {r["status"] for r in renamed.rows if r["learner"] == "renamed"} == {"flagged"}


def test_reports(tmp_path, lab):
    solutions, subs = _cheap_class(tmp_path, lab)
    out = tmp_path / "out"
    assert grading.main([str(subs), "--out", str(out), "--solutions", str(solutions), UNSAFE]) == 0
    rows = read_csv(out / "grades.csv")
    assert list(rows[0]) == list(grading.COLUMNS)
    assert len(rows) == 3 * len(lab.ids)
    assert {r["learner"]: r["status"] for r in rows} == {"corrupt": "error", "patcher": "flagged", "renamed": "missing"}
    suites = ET.parse(out / "junit.xml").getroot()
    assert suites.get("tests") == str(len(rows))
    assert {s.get("name"): s.get("failures") for s in suites} == {"corrupt": "0", "patcher": str(len(lab.ids)),
                                                                 "renamed": str(len(lab.ids))}
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| exercise | title | pass rate |" in summary and "patcher" in summary.split("## Flagged")[1]
    assert sorted(p.name for p in (out / "feedback").glob("*.md")) == ["corrupt.md", "patcher.md", "renamed.md"]
    assert "lab00.ipynb" in (out / "feedback" / "renamed.md").read_text(encoding="utf-8")


def test_usage_errors(tmp_path, lab, capsys):
    solutions, subs = _cheap_class(tmp_path, lab)
    assert grading.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), UNSAFE]) == 2
    assert "No submissions folder" in capsys.readouterr().err
    assert grading.main([str(subs), "--out", str(tmp_path / "o"), "--solutions", str(solutions),
                         "--notebooks", "99", UNSAFE]) == 2
    assert "No solution notebook matches 99" in capsys.readouterr().err
    only_renamed = tmp_path / "only"
    only_renamed.mkdir()
    (subs / "renamed").rename(only_renamed / "renamed")
    assert grading.main([str(only_renamed), "--out", str(tmp_path / "o"), "--solutions", str(solutions),
                         UNSAFE]) == 2
    assert "found: lab00.ipynb" in capsys.readouterr().err


def test_csv_cells_never_start_a_formula(tmp_path):
    rows = [{"learner": "a", "notebook": "00_x", "exercise": "00.1", "status": "error", "detail": "=HYPERLINK(1)"}]
    grading.write_reports(tmp_path, rows, {}, {})
    assert read_csv(tmp_path / "grades.csv")[0]["detail"] == "'=HYPERLINK(1)"


# --------------------------------------------------------------------------------------------------
# A class graded end to end: each learner's notebook in a fresh kernel
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, lab):
    """A class built from notebook 00's solution and lab, graded once with `labkit grade` (each learner in a
    sandbox of their own)."""
    root = tmp_path_factory.mktemp("class")
    solutions = lab.write_solutions(root / "solutions")
    subs = root / "submissions"
    first, last = lab.ids[0], lab.ids[-1]
    check_of_last = re.search(r"checks\.(check_\w+)", lab.check_source(last)).group(1)
    learners = {}

    learners["alice"] = lab.correct()  # every exercise solved
    learners["bob"] = lab.untouched()  # the lab as handed out
    learners["carol"] = lab.edit(lab.correct(), last, after=lab.wrong_line(last))  # one wrong answer
    dan = lab.edit(lab.correct(), last, after=lab.wrong_line(last))  # the same slip, with the checks tampered
    dan.cells[lab.check[last]].source = 'print("\u2705 all good")'
    del dan.cells[lab.check[first]]
    learners["dan"] = dan
    learners["erin"] = lab.edit(lab.correct(), first, before="while True:\n    pass")  # an infinite loop
    learners["gina"] = lab.edit(lab.correct(), first, after="import os\nos._exit(3)")  # the kernel exits
    hank = lab.edit(lab.correct(), last, after=f"checks.{check_of_last} = lambda *a, **k: None")  # monkeypatch
    learners["hank"] = hank
    learners["kim"] = lab.edit(lab.correct(), last, after=(  # the same patch, hidden from the static scan
        f'code = "ch" + "ecks.{check_of_last} = lambda *a, **k: None"\nexec(code)'))
    for name, nb in learners.items():
        write_notebook(subs / name, nb)
    corrupt = nbformat.writes(lab.correct())[:400]  # cut off half-way: not JSON any more
    (subs / "fred").mkdir()
    (subs / "fred" / NB).write_text(corrupt, encoding="utf-8")
    write_notebook(subs / "ivy", lab.correct(), name=f"{STEM} (1).ipynb")  # a wrong file name
    with zipfile.ZipFile(subs / "jack.zip", "w") as archive:  # a zip, and a cell printing 100 MB
        archive.writestr(f"jack/{NB}", nbformat.writes(lab.edit(lab.correct(), first,
                                                                after='print("x" * 100_000_000)')))
        archive.writestr(f"__MACOSX/jack/._{NB}", b"\x00")

    out = root / "out"
    args = [str(subs), "--out", str(out), "--solutions", str(solutions), "--timeout", str(CELL_TIMEOUT),
            "--notebook-timeout", "300", "--jobs", "2"]
    assert grading.main(args) == 0
    return {"root": root, "out": out, "args": args, "learners": learners, "corrupt": corrupt,
            "hank_line": len(hank.cells[lab.cell[last]].source.splitlines()), "check_of_last": check_of_last}


def expected_grades(lab, graded) -> list[dict]:
    first, last = lab.ids[0], lab.ids[-1]
    later = lab.ids[1:]
    hint = lab.expected_hint(graded["learners"]["carol"], last)
    first_cell = lab.cell[first] + 1
    # what the later exercises read that only the first exercise's cell defines (nothing, in notebook 00 today)
    binds_first = grading.cell_names(lab.solution.cells[lab.cell[first]].source)[0]
    independent = {i: not (binds_first & (grading.cell_names(lab.solution.cells[lab.cell[i]].source)[1]
                                          | grading.cell_names(lab.check_source(i))[1])) for i in later}
    check = graded["check_of_last"]
    flagged = (f"cell {lab.cell[last] + 1}, line {graded['hank_line']}: `checks.{check} = lambda *a, **k: None` - "
               f"assigns to labkit.checks.{check}")
    at_run_time = (f"at run time: IntegrityError: before the check of {last}: changed since the notebook started: "
                   f"labkit.checks.{check}")
    unreadable = (f"unreadable notebook (not valid JSON, {json_error(graded['corrupt'])}); open it in Jupyter, "
                  "save it and hand it in again")
    wrong_name = (f"no {NB} in the submission; found {STEM} (1).ipynb - lab notebooks must keep their names as in "
                  "labs/")
    died = f"the kernel died in exercise {first} (cell {first_cell}), so this exercise could not run"

    def row(learner, exercise, status, detail=""):
        return {"learner": learner, "notebook": STEM, "exercise": exercise, "status": status,
                "detail": grading.one_line(detail)}

    rows = []
    for i in lab.ids:
        rows.append(row("alice", i, "pass"))
    for i in lab.ids:
        rows.append(row("bob", i, "missing", grading.NOT_DONE))
    for i in lab.ids:
        rows.append(row("carol", i, *(("fail", hint) if i == last else ("pass",))))
    for i in lab.ids:
        rows.append(row("dan", i, *(("fail", hint) if i == last else ("pass",))))
    for i in lab.ids:
        if i == first:
            rows.append(row("erin", i, "timeout", f"the exercise cell ran longer than the per-cell limit "
                                                  f"({CELL_TIMEOUT} s)"))
        else:
            rows.append(row("erin", i, "pass") if independent[i] else row("erin", i, "blocked", "ANY"))
    for i in lab.ids:
        rows.append(row("fred", i, "error", unreadable))
    for i in lab.ids:
        rows.append(row("gina", i, *(("error", "the kernel died while running the exercise cell (os._exit, a crash "
                                               "or running out of memory)") if i == first else ("blocked", died))))
    for i in lab.ids:
        rows.append(row("hank", i, "flagged", flagged))
    for i in lab.ids:
        rows.append(row("ivy", i, "missing", wrong_name))
    for i in lab.ids:
        rows.append(row("jack", i, "pass"))
    for i in lab.ids:
        rows.append(row("kim", i, "flagged", at_run_time))
    return rows


@needs_sandbox
@pytest.mark.slow
@pytest.mark.notebook
def test_the_class_is_graded_exactly(lab, graded_class):
    got = read_csv(graded_class["out"] / "grades.csv")
    want = expected_grades(lab, graded_class)
    for row in want:  # a later exercise that needs the first one's variables is blocked, whatever the wording
        if row["detail"] == "ANY":
            row["detail"] = next(g["detail"] for g in got if g["learner"] == row["learner"]
                                 and g["exercise"] == row["exercise"])
    assert len(got) == len(want)
    for got_row, want_row in zip(got, want, strict=True):
        assert got_row == want_row


@needs_sandbox
@pytest.mark.slow
@pytest.mark.notebook
def test_class_reports_and_executed_notebooks(lab, graded_class):
    out = graded_class["out"]
    rows = read_csv(out / "grades.csv")
    learners = sorted({r["learner"] for r in rows})
    assert sorted(p.stem for p in (out / "feedback").glob("*.md")) == learners
    dan = (out / "feedback" / "dan.md").read_text(encoding="utf-8")
    assert "your check cell was edited" in dan and "your check cell was missing" in dan
    assert "The check's hint:" in dan
    summary = (out / "summary.md").read_text(encoding="utf-8")
    first = lab.ids[0]
    passed = sum(r["status"] == "pass" for r in rows if r["exercise"] == first)
    assert f"| {first} |" in summary and f"{passed / len(learners):.0%}" in summary
    assert "hank" in summary.split("## Flagged")[1] and "kim" in summary.split("## Flagged")[1]
    suites = {s.get("name"): s for s in ET.parse(out / "junit.xml").getroot()}
    assert suites["alice"].get("failures") == "0" and suites["alice"].get("errors") == "0"
    assert suites["erin"].find("testcase/error").get("type") == "timeout"
    # the 100 MB print is capped in the executed notebook the instructor can open
    executed = out / "executed" / "jack" / NB
    assert executed.stat().st_size < 2 * grading.OUTPUT_LIMIT + 200_000
    assert "output beyond" in executed.read_text(encoding="utf-8")
    assert not (out / "executed" / "hank").exists()  # flagged before it ran: not executed


@needs_sandbox
@pytest.mark.slow
@pytest.mark.notebook
def test_a_rerun_grades_nothing_unchanged(graded_class, capsys):
    before = (graded_class["out"] / "grades.csv").read_text(encoding="utf-8")
    assert grading.main(graded_class["args"]) == 0
    handed_in = len(graded_class["learners"]) + 2  # fred's corrupt notebook and jack's zip too; ivy's name is wrong
    assert f"graded 0 notebook(s), reused {handed_in} unchanged" in capsys.readouterr().out
    assert (graded_class["out"] / "grades.csv").read_text(encoding="utf-8") == before

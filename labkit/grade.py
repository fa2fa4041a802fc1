"""``labkit grade``: grade a class's lab submissions, one status per exercise, in a way instructors can trust.

    labkit grade SUBMISSIONS --out DIR [--solutions DIR] [--profile tiny] [--timeout 600] [--force]

``SUBMISSIONS`` holds one folder (or one ``.zip``) per learner with lab notebooks named as in ``labs/``.
For every learner and notebook the grader

1. reads the learner's notebook and finds each exercise cell by the id in its metadata
   (``{"labkit": {"exercise": "03.2"}}``), else by cell id, else by its "### Exercise 03.2" heading,
   else by its position among the exercise headings;
2. scans the learner's cells with :mod:`ast` for tampering with the checks (:func:`find_tampering`):
   a hit grades the whole notebook ``flagged`` (with the line) and it is not run;
3. drops the learner's check cells and re-inserts the solution's after each exercise, with a small
   grader cell before and after each one that verifies, inside the kernel, that ``labkit.checks``,
   labkit's functions and a few builtins are still the originals (:func:`kernel_verify`);
4. executes the result cell by cell in a fresh kernel (nbclient, the engine nbmake uses), in the tiny
   profile unless told otherwise, with the network guard on, a per-cell and a per-notebook time limit
   and a cap on the output it keeps - so one failing cell does not stop the cells after it;
5. gives every exercise one status (:data:`STATUSES`, see :func:`exercise_status`) and writes
   ``grades.csv``, ``summary.md``, ``feedback/<learner>.md``, ``junit.xml`` and the executed notebooks.

A second run re-grades only submissions whose content changed (or everything with ``--force``): the
content hashes of submissions, solutions, checks and settings are kept in ``DIR/.grade-state.json``.
The README's "Grading" section is the user guide; ``docs/grading.md`` the design and its limits.
"""

from __future__ import annotations

import argparse
import ast
import csv
import functools
import hashlib
import json
import re
import shutil
import sys
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

STATUSES = ("pass", "fail", "error", "timeout", "blocked", "missing", "flagged")
COLUMNS = ("learner", "notebook", "exercise", "status", "detail")
STATE_FILE = ".grade-state.json"
MAX_NOTEBOOK_BYTES = 64 * 2**20  # a lab notebook larger than this (outputs included) is not read
OUTPUT_LIMIT = 256 * 2**10  # output kept per executed cell; the rest is dropped with a note
DETAIL_LIMIT = 400  # characters of detail kept per grade
INTERRUPT_GRACE = 10  # seconds a kernel gets to stop after a cell timed out and was interrupted
_HEADING = re.compile(r"^#{1,6}\s*Exercise\s+(\d\d\.\d+)\s*(?:[·:\-–—]\s*(.*))?$", re.MULTILINE)
_ANY_HEADING = re.compile(r"^#{1,6}\s*Exercise\b", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NOT_DONE = ("not done: the exercise still raises the lab's NotImplementedError() - replace the `# YOUR CODE HERE` / "
            "`raise NotImplementedError()` lines with your code")


# --------------------------------------------------------------------------------------------------
# Solutions: which exercises a notebook has, and the check cell that grades each one
# --------------------------------------------------------------------------------------------------
@dataclass
class Exercise:
    """One exercise of a solution notebook: its id, title, and the positions of its cells there."""

    id: str
    title: str
    cell: int
    check: int | None


@dataclass
class Solution:
    name: str
    nb: object
    exercises: list[Exercise]
    digest: str


def _labkit_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("labkit", {})
    return meta if isinstance(meta, dict) else {}


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def load_solution(path: Path) -> Solution:
    """Read a solution notebook and list its exercises (by the ids in the cells' metadata)."""
    import nbformat

    data = Path(path).read_bytes()
    return solution_from(nbformat.reads(data.decode("utf-8"), as_version=4), Path(path).name,
                         hashlib.sha256(data).hexdigest())


def solution_from(nb, name: str, digest: str = "") -> Solution:
    """A solution notebook's exercises: ids from the cells' metadata, else the headings, else positions."""
    from labkit import notebooks

    titles = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            titles.update({m.group(1): (m.group(2) or "").strip() for m in _HEADING.finditer(_source(cell))})
    exercises, heading_ids = [], list(titles)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not notebooks.is_exercise(cell):
            continue
        number = len(exercises)
        exercise_id = _labkit_meta(cell).get("exercise") or (
            heading_ids[number] if number < len(heading_ids) else f"{name[:2]}.{number + 1}")
        check = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                      and _labkit_meta(c).get("check") == exercise_id), None)
        if check is None:  # an older solution without check metadata: the next cell calling a check
            check = next((i for i in range(index + 1, len(nb.cells)) if nb.cells[i].cell_type == "code"
                          and "checks.check_" in _source(nb.cells[i])), None)
        exercises.append(Exercise(exercise_id, titles.get(exercise_id, ""), index, check))
    return Solution(name, nb, exercises, digest)


def load_solutions(folder: Path) -> dict[str, Solution]:
    """Every solution notebook with at least one exercise, by file name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No solutions folder at {folder}: pass --solutions PATH (the repo's solutions/).")
    found = {p.name: load_solution(p) for p in sorted(folder.glob("*.ipynb"))}
    return {name: sol for name, sol in found.items() if sol.exercises}


# --------------------------------------------------------------------------------------------------
# Submissions: one folder or one zip per learner
# --------------------------------------------------------------------------------------------------
@dataclass
class Submission:
    """What one learner handed in: notebooks named as a lab, other notebook files, and problems."""

    learner: str
    path: Path
    notebooks: dict[str, bytes] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _skip_member(parts: tuple[str, ...]) -> bool:
    return any(p.startswith((".", "__MACOSX")) or p == ".ipynb_checkpoints" for p in parts)


def _notebook_files(path: Path) -> tuple[dict[str, bytes], list[str]]:
    """All ``*.ipynb`` files of a learner's folder or zip: {relative path: bytes}, and problems found."""
    files, problems = {}, []
    if path.is_dir():
        for file in sorted(path.rglob("*.ipynb")):
            rel = file.relative_to(path)
            if _skip_member(rel.parts) or not file.is_file():
                continue
            if file.stat().st_size > MAX_NOTEBOOK_BYTES:
                problems.append(f"{rel} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB and was not read")
                continue
            files[rel.as_posix()] = file.read_bytes()
        return files, problems
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                parts = tuple(Path(info.filename).parts)
                if info.is_dir() or not info.filename.endswith(".ipynb") or _skip_member(parts):
                    continue
                if info.file_size > MAX_NOTEBOOK_BYTES:
                    problems.append(f"{info.filename} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB and was not read")
                    continue
                files[info.filename] = archive.read(info)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as err:  # RuntimeError: encrypted member
        problems.append(f"{path.name} could not be opened as a zip file ({type(err).__name__}: {err})")
    return files, problems


def read_submissions(folder: Path, lab_names) -> tuple[list[Submission], list[str]]:
    """One :class:`Submission` per learner folder or ``.zip`` in ``folder``; also what was skipped and why."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No submissions folder at {folder}: it should hold one folder or .zip per learner.")
    lab_names, skipped, taken, submissions = set(lab_names), [], set(), []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__MACOSX")):
            continue
        if not (entry.is_dir() or entry.suffix.lower() == ".zip"):
            skipped.append(f"{entry.name}: not a folder or .zip (each learner's work goes in its own folder or zip)")
            continue
        learner = entry.stem if entry.suffix.lower() == ".zip" else entry.name
        if learner in taken:
            learner = entry.name
        taken.add(learner)
        files, problems = _notebook_files(entry)
        sub = Submission(learner, entry, problems=problems)
        for rel in sorted(files, key=lambda r: (r.count("/"), r)):  # the shallowest copy of a name wins
            name = rel.rsplit("/", 1)[-1]
            if name in lab_names and name not in sub.notebooks:
                sub.notebooks[name] = files[rel]
            elif name in lab_names:
                sub.problems.append(f"{rel}: a second copy of {name} (the one at {rel.count('/')} folders deep "
                                    "or shallower was graded)")
            else:
                sub.others.append(rel)
        submissions.append(sub)
    return submissions, skipped


def safe_name(learner: str) -> str:
    """A learner's name as a file name (feedback/<learner>.md)."""
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", learner).strip(".") or "learner"


# --------------------------------------------------------------------------------------------------
# Static analysis: names a cell binds and reads, and tampering with the checks
# --------------------------------------------------------------------------------------------------
def python_source(source: str) -> str:
    """A cell's source as plain Python (IPython magics and ``!`` commands become calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - IPython cannot transform it: parse it as it is
        return source


def _parse(source: str):
    try:
        return ast.parse(python_source(source))
    except (SyntaxError, ValueError, RecursionError):
        return None


def _bound_by(node) -> set[str]:
    """Names bound in the namespace the statement runs in (not inside functions or classes it defines)."""
    names: set[str] = set()

    def targets(target):
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                targets(element)
        elif isinstance(target, ast.Starred):
            targets(target.value)

    def visit(stmt):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
            return
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.name != "*":
                    names.add(alias.asname or alias.name.split(".")[0])
            return
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                targets(target)
        elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
            targets(stmt.target)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            targets(stmt.target)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if item.optional_vars is not None:
                    targets(item.optional_vars)
        elif isinstance(stmt, ast.ExceptHandler) and stmt.name:
            names.add(stmt.name)
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.NamedExpr):
                targets(child.target)
            if isinstance(child, (ast.stmt, ast.ExceptHandler)) or (
                    isinstance(child, ast.expr) and not isinstance(child, ast.Lambda)):
                visit(child)

    for stmt in node.body:
        visit(stmt)
    return names


_CODE_MAGICS = {"time", "timeit", "capture", "prun"}


def cell_names(source: str) -> tuple[set[str], set[str]] | None:
    """(names a cell binds, names it reads from outside itself); None when it is not valid Python."""
    tree = _parse(source)
    if tree is None:
        return None
    bound = _bound_by(tree)
    reads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    local = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    local |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    reads -= local  # parameters and loop variables of functions and comprehensions defined in the cell
    for node in ast.walk(tree):  # %%time, %%capture, %time ...: the code they run is a string argument
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("run_cell_magic", "run_line_magic") and node.args
                and isinstance(node.args[0], ast.Constant) and node.args[0].value in _CODE_MAGICS):
            body = node.args[-1]
            inner = cell_names(body.value) if isinstance(body, ast.Constant) and isinstance(body.value, str) else None
            if inner:
                bound |= inner[0]
                reads |= inner[1]
    return bound, reads - bound


# What a learner's cells must not touch. Origins are dotted names: "labkit.checks.check_x", "builtins".
_FRAME_TRICKS = {"sys._getframe", "inspect.currentframe", "inspect.stack", "inspect.getouterframes",
                 "inspect.trace", "gc.get_referrers", "gc.get_referents", "gc.get_objects"}
_FRAME_ATTRS = {"f_back", "f_locals", "f_globals", "tb_frame", "gi_frame", "cr_frame", "ag_frame"}
_IPYTHON_HOOKS = {"input_transformers_post", "input_transformers_cleanup", "ast_transformers", "set_custom_exc",
                  "custom_exceptions", "events", "run_cell", "run_cell_async", "showtraceback", "InteractiveTB",
                  "excepthook", "register_magic_function"}
_MUTATORS = {"__setattr__", "__delattr__", "__setitem__", "__delitem__", "update", "setdefault", "pop", "popitem",
             "clear", "append", "extend", "insert", "remove"}


@functools.lru_cache(maxsize=1)
def guarded_modules() -> frozenset[str]:
    """Modules besides labkit whose functions the checks rely on: builtins and what ``labkit/checks`` imports."""
    import labkit.checks

    modules = {"builtins"}
    for path in Path(labkit.checks.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module)
    return frozenset(m for m in modules if not m.startswith(("labkit", "__future__", "typing")))


def _dotted(node) -> str | None:
    """``a.b.c`` for a chain of names, whatever they are bound to."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


class _TamperScan(ast.NodeVisitor):
    """Walks one cell; ``aliases`` (name -> dotted origin) carries over from the cells before it."""

    def __init__(self, aliases: dict[str, str], guarded: set[str], protected: dict[str, str], label: str,
                 lines: list[str]):
        self.aliases, self.guarded, self.protected = aliases, guarded, protected
        self.label, self.lines, self.findings = label, lines, []

    # what an expression refers to --------------------------------------------------------------------
    def origin(self, node) -> str | None:
        if isinstance(node, ast.Name):
            if node.id == "__builtins__":
                return "builtins"
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.origin(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Subscript):
            base, key = self.origin(node.value), node.slice
            if base in ("sys.modules", "globals()", "ipython.user_ns") and isinstance(key, ast.Constant):
                return str(key.value) if base == "sys.modules" else self.aliases.get(str(key.value))
            return base
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else None
            target = self.origin(func)
            literal = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if name == "__import__" or target == "importlib.import_module":
                return literal[0] if literal else "<computed module>"
            if name == "getattr" and node.args:
                base = self.origin(node.args[0])
                if base and len(node.args) > 1:
                    return f"{base}.{literal[0]}" if literal else base
            if name in ("vars", "globals") and (node.args or name == "globals"):
                return "globals()" if name == "globals" else self.origin(node.args[0])
            if name == "get_ipython":
                return "ipython"
        return None

    @staticmethod
    def sensitive(origin: str | None) -> bool:
        """Does this origin lead into labkit, builtins, sys.modules or IPython's shell?"""
        return bool(origin) and (origin == "labkit" or origin.startswith("labkit.") or origin == "builtins"
                                 or origin == "sys.modules" or origin == "<computed module>"
                                 or origin.startswith("ipython"))

    def flag(self, node, why: str) -> None:
        line = self.lines[node.lineno - 1].strip() if 0 < getattr(node, "lineno", 0) <= len(self.lines) else ""
        self.findings.append(f"{self.label}, line {getattr(node, 'lineno', '?')}: `{line[:120]}` - {why}")

    # the rules ---------------------------------------------------------------------------------------
    def check_target(self, target, node, verb: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.check_target(element, node, verb)
        elif isinstance(target, ast.Starred):
            self.check_target(target.value, node, verb)
        elif isinstance(target, ast.Name):
            if target.id in self.protected:
                self.flag(node, f"{verb} `{target.id}`, which names {self.protected[target.id]}")
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            base = self.origin(target.value)
            if base == "globals()" and isinstance(target, ast.Subscript):
                self.flag(node, f"{verb} a global variable through globals()")
            elif self.sensitive(base) or (base in self.guarded and isinstance(target, ast.Attribute)):
                what = f"{base}.{target.attr}" if isinstance(target, ast.Attribute) else f"an item of {base}"
                self.flag(node, f"{verb} {what}")

    def visit_Assign(self, node):
        for target in node.targets:
            self.check_target(target, node, "assigns to")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self.check_target(node.target, node, "assigns to")
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self.check_target(node.target, node, "assigns to")
        self.generic_visit(node)

    def visit_NamedExpr(self, node):
        self.check_target(node.target, node, "assigns to")
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self.check_target(target, node, "deletes")
        self.generic_visit(node)

    def visit_For(self, node):
        self.check_target(node.target, node, "rebinds")
        self.generic_visit(node)

    def visit_With(self, node):
        for item in node.items:
            if item.optional_vars is not None:
                self.check_target(item.optional_vars, node, "rebinds")
        self.generic_visit(node)

    def _define(self, node):
        if node.name in self.protected:
            self.flag(node, f"redefines `{node.name}`, which names {self.protected[node.name]}")
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _define

    @staticmethod
    def imported(node) -> list[tuple[str, str | None]]:
        """(name bound, dotted origin) for each name an import statement binds."""
        pairs = []
        for alias in node.names:
            if alias.name == "*":
                continue
            if isinstance(node, ast.Import):
                pairs.append((alias.asname or alias.name.split(".")[0],
                              alias.name if alias.asname else alias.name.split(".")[0]))
            else:
                pairs.append((alias.asname or alias.name, None if node.level else f"{node.module}.{alias.name}"))
        return pairs

    def register(self, node) -> None:
        """Record what an import or a plain ``a = b`` binds, when it names something the checks rely on."""
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for bound, origin in self.imported(node):
                if origin:
                    self.aliases[bound] = origin
                    if origin.startswith("labkit.checks"):
                        self.protected.setdefault(bound, origin)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            origin = self.origin(node.value)
            if origin and (origin.startswith("labkit") or origin in self.guarded or origin in
                           ("builtins", "sys.modules", "ipython", "globals()")):
                self.aliases[node.targets[0].id] = origin

    def _import(self, node):
        for bound, origin in self.imported(node):
            if bound in self.protected and origin != self.protected[bound]:
                self.flag(node, f"rebinds `{bound}`, which names {self.protected[bound]}")
            if (origin or "").split(".")[0] == "ctypes":
                self.flag(node, "imports ctypes (it can rewrite any object in memory)")
        self.register(node)

    visit_Import = visit_ImportFrom = _import

    def visit_Attribute(self, node):
        if node.attr in _FRAME_ATTRS:
            self.flag(node, f"reads `.{node.attr}` (looking into the frames of running code, e.g. a check's)")
        origin = self.origin(node)
        if origin and origin.startswith("ipython.") and origin.split(".")[1] in _IPYTHON_HOOKS:
            self.flag(node, f"uses IPython's {origin.split('.')[1]} (it can change or hide what cells run)")
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        target = self.origin(func) or _dotted(func)
        if target in _FRAME_TRICKS:
            self.flag(node, f"calls {target} (looking into the frames of running code, e.g. a check's)")
        if (name in ("setattr", "delattr") or target in ("object.__setattr__", "type.__setattr__",
                                                        "builtins.setattr", "builtins.delattr")) and node.args:
            base = self.origin(node.args[0])
            if self.sensitive(base) or base in self.guarded:
                self.flag(node, f"calls {name or target} on {base}")
        if isinstance(func, ast.Attribute) and func.attr in _MUTATORS:
            base = self.origin(func.value)
            if self.sensitive(base) and not base.startswith("ipython") or base == "globals()":
                self.flag(node, f"changes {base} with .{func.attr}()")
        if name in ("exec", "eval") or (target or "").endswith(("run_cell", "run_cell_magic")):
            for arg in node.args:  # code given as a literal string is scanned like a cell
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    tree = _parse(arg.value)
                    if tree is not None:
                        inner = _TamperScan(self.aliases, self.guarded, self.protected,
                                            f"{self.label} (code in a string)", arg.value.splitlines())
                        inner.visit(tree)
                        self.findings += inner.findings
        self.generic_visit(node)


def find_tampering(cells: list[tuple[str, str]], protected: dict[str, str] | None = None,
                   guarded: set[str] | None = None) -> list[str]:
    """Lines of a learner's cells that reassign or monkeypatch the checks or what they rely on.

    ``cells`` are (label, source) pairs in notebook order; ``protected`` maps names the check cells
    use (``checks``) to the module they must name. Flags: assignment, ``del``, ``setattr``/``delattr``
    and mutating calls on anything reached from ``labkit`` (``checks.check_x = ...``,
    ``checks.base.require.__code__ = ...``, ``checks.EXERCISES[...] = ...``), including through aliases
    (``import labkit.checks as c``, ``c2 = c``), ``getattr``, ``vars()``, ``sys.modules[...]`` and
    ``__import__``; rebinding a name imported from ``labkit.checks``; assigning attributes of
    ``builtins`` and of the modules the checks import (``math.isclose = ...``); any change to
    ``sys.modules``; ``globals()[...] = ...``; IPython's input/AST transformers, event hooks and
    exception handlers; frame introspection (``sys._getframe``, ``.f_back``, ``gc.get_referrers``) and
    ``ctypes``. Code passed to ``exec``/``eval``/``run_cell`` as a literal string is scanned too.
    """
    guarded = guarded_modules() if guarded is None else guarded
    aliases = {"sys": "sys", "builtins": "builtins"}
    protected = dict(protected or {})
    findings = []
    for label, source in cells:
        code = python_source(source)
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError):
            continue  # it cannot run either
        # aliases first (`import labkit.checks as c`, `c2 = c`), so a rule sees them anywhere in the cell
        scan = _TamperScan(aliases, guarded, protected, label, code.splitlines())
        bindings = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom, ast.Assign))]
        for node in sorted(bindings, key=lambda n: (n.lineno, n.col_offset)):
            scan.register(node)
        scan.visit(tree)
        findings += scan.findings
    return findings


# --------------------------------------------------------------------------------------------------
# Inside the kernel: the integrity check run before and after every check cell
# --------------------------------------------------------------------------------------------------
_BUILTINS = ("isinstance", "issubclass", "float", "int", "str", "bool", "len", "abs", "round", "sum", "min", "max",
             "all", "any", "sorted", "list", "dict", "set", "tuple", "zip", "range", "enumerate", "map", "filter",
             "getattr", "hasattr", "type", "print", "repr", "iter", "next", "callable", "__import__",
             "AssertionError", "Exception", "ValueError", "TypeError", "NotImplementedError")
_SNAPSHOT: dict | None = None


class IntegrityError(Exception):
    """Raised in a grading kernel when the checks, or what they rely on, changed after the notebook started."""


def _value_print(value):
    if isinstance(value, (str, int, float, bool, type(None), bytes)):
        return repr(value)[:200]
    if isinstance(value, tuple):
        return tuple(_value_print(v) for v in value)
    return type(value).__name__


def _fingerprint(value, whole: bool):
    """What must not change about a module attribute: code for functions, members for classes."""
    import types

    if isinstance(value, types.FunctionType):
        return ("function", value.__module__, value.__qualname__, value.__code__,
                _value_print(value.__defaults__), _value_print(tuple(sorted((value.__kwdefaults__ or {}).items()))))
    if isinstance(value, type):
        members = tuple(sorted((k, _fingerprint(v, False)) for k, v in vars(value).items()
                               if isinstance(v, (types.FunctionType, classmethod, staticmethod, property))))
        return ("class", value.__module__, value.__qualname__, members)
    if isinstance(value, classmethod | staticmethod):
        return ("method", _fingerprint(value.__func__, False))
    if isinstance(value, property):
        return ("property", id(value))
    if isinstance(value, types.ModuleType):
        return ("module", value.__name__)
    if not whole:
        return ("value", type(value).__name__)
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _fingerprint(v, True)) for k, v in value.items())))
    return ("value", type(value).__name__, id(value))


def _module_state(name: str, module) -> dict:
    """labkit.checks.*: every name; other labkit modules: the functions and classes they define."""
    whole = name == "labkit.checks" or name.startswith("labkit.checks.")
    state = {f"sys.modules[{name!r}]": id(module)}
    for key, value in list(vars(module).items()):
        if key.startswith("__"):
            continue
        if whole or (callable(value) and getattr(value, "__module__", None) == name):
            state[f"{name}.{key}"] = _fingerprint(value, whole)
    return state


def _kernel_state() -> dict:
    import builtins
    import math

    state = {}
    for name, module in list(sys.modules.items()):
        if module is not None and (name == "labkit" or name.startswith("labkit.")):
            state.update(_module_state(name, module))
    state.update({f"builtins.{n}": id(getattr(builtins, n, None)) for n in _BUILTINS})
    state.update({f"math.{n}": id(getattr(math, n)) for n in ("isclose", "isfinite", "isnan", "fsum")})
    try:
        shell = get_ipython()  # noqa: F821 - defined in IPython kernels
    except NameError:
        shell = None
    if shell is not None:
        state["IPython run_cell"] = (id(getattr(type(shell), "run_cell", None)), "run_cell" in vars(shell))
        for hook in ("input_transformers_post", "input_transformers_cleanup", "ast_transformers"):
            state[f"IPython {hook}"] = tuple(map(id, getattr(shell, hook, ())))
        state["IPython custom_exceptions"] = tuple(map(id, getattr(shell, "custom_exceptions", ())))
    return state


class _SnapshotOnImport:
    """A meta path finder that records a labkit module's state the moment it is first imported."""

    def find_spec(self, name, path=None, target=None):
        if not (name == "labkit" or name.startswith("labkit.")):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is not None and hasattr(loader, "exec_module"):
            original = loader.exec_module

            def exec_module(module, _original=original, _name=name):
                _original(module)
                if _SNAPSHOT is not None:
                    for key, value in _module_state(_name, module).items():
                        _SNAPSHOT.setdefault(key, value)

            try:
                loader.exec_module = exec_module
            except (AttributeError, TypeError):
                pass
        return spec


def kernel_snapshot() -> None:
    """Run first in a grading kernel: remember labkit.checks, labkit's functions and key builtins."""
    global _SNAPSHOT
    import labkit.checks  # noqa: F401 - the checks are part of the snapshot

    _SNAPSHOT = _kernel_state()
    sys.meta_path.insert(0, _SnapshotOnImport())


def kernel_verify(exercise_id: str, when: str) -> None:
    """Run around each check cell: raise :class:`IntegrityError` if anything in the snapshot changed."""
    if _SNAPSHOT is None:
        raise IntegrityError("the grader's snapshot of labkit.checks is gone (labkit.grade was reloaded or replaced)")
    now = _kernel_state()
    changed = [key for key, value in _SNAPSHOT.items() if now.get(key) != value]
    added = [key for key in now if key not in _SNAPSHOT and key.startswith("labkit.checks")
             and now[key][0] != "module"]  # a submodule imported later is not a change
    if changed or added:
        names = ", ".join((changed + added)[:3]) + (" ..." if len(changed) + len(added) > 3 else "")
        raise IntegrityError(f"{when} the check of {exercise_id}: changed since the notebook started: {names}")


# --------------------------------------------------------------------------------------------------
# Putting a graded notebook together: the learner's cells, the solution's checks, the grader's cells
# --------------------------------------------------------------------------------------------------
@dataclass
class Plan:
    """The notebook that is executed, and what each of its cells is."""

    nb: object
    roles: list[dict]  # per cell: kind ("learner" | "check" | "grader"), exercise id, learner cell number
    exercise_cells: dict[str, int]  # exercise id -> index in nb of the learner's exercise cell
    check_cells: dict[str, int]  # exercise id -> index in nb of the re-inserted check cell
    missing: dict[str, str]  # exercise id -> why it is missing
    notes: list[str]
    learner_cells: list[tuple[str, str]]  # (label, source) of every learner code cell, for the tamper scan
    stubs: set[str]  # exercise ids whose cell still holds the lab's `raise NotImplementedError()`


def _check_roots(solution: Solution) -> dict[str, str]:
    """Names the solution's check cells call through (``checks``) and the module each one names."""
    imports, roots = {}, set()
    for cell in solution.nb.cells:
        if cell.cell_type != "code" or (tree := _parse(_source(cell))) is None:
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
        if exercise.check is None or (tree := _parse(_source(solution.nb.cells[exercise.check]))) is None:
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
    return (f"import labkit.grade as _labkit_grade\n_labkit_grade.kernel_verify({exercise_id!r}, {when!r})\n"
            f"del _labkit_grade{rebind if when == 'before' else ''}")


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
        claim(ex.id, next((i for i in code if _labkit_meta(cells[i]).get("exercise") == ex.id and i not in taken),
                          None))
    check_like = {i for i in code if _labkit_meta(cells[i]).get("check")}
    for ex in solution.exercises:  # 2. the solution's cell id
        if ex.id not in found:
            sol_id = solution.nb.cells[ex.cell].get("id")
            claim(ex.id, next((i for i in code if sol_id and cells[i].get("id") == sol_id and i not in taken
                               and i not in check_like), None))

    def after_heading(h):
        return next((i for i in code if i > h and i not in check_like), None)

    headings = [i for i, c in enumerate(cells) if c.get("cell_type") == "markdown" and _ANY_HEADING.search(_source(c))]
    for ex in solution.exercises:  # 3. the cell after the exercise's heading
        if ex.id not in found:
            h = next((i for i in headings if any(m.group(1) == ex.id for m in _HEADING.finditer(_source(cells[i])))),
                     None)
            if h is not None:
                claim(ex.id, after_heading(h))
    for number, ex in enumerate(solution.exercises):  # 4. position among the exercise headings
        if ex.id not in found and number < len(headings) and len(headings) == len(solution.exercises):
            claim(ex.id, after_heading(headings[number]))
    return found


def _is_check_cell(cell, solution: Solution, check_names: set[str], check_ids: set[str]) -> bool:
    if _labkit_meta(cell).get("check") or (cell.get("id") and cell.get("id") in check_ids):
        return True
    tree = _parse(_source(cell))
    if tree is None or not tree.body:
        return False
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    only_checks = all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Expr)) for s in tree.body)
    return only_checks and bool(calls & check_names)


def assemble(solution: Solution, learner_nb, roots: dict[str, str] | None = None) -> Plan:
    """The notebook to execute for one learner: their cells, the solution's checks, the grader's cells."""
    import copy

    import nbformat

    from labkit import notebooks

    roots = _check_roots(solution) if roots is None else roots
    cells = list(learner_nb.get("cells", []))
    found = _find_exercise_cells(solution, cells)
    check_sources = {ex.id: _source(solution.nb.cells[ex.check]) for ex in solution.exercises if ex.check is not None}
    check_of = {m: ex for ex, s in check_sources.items() for m in re.findall(r"checks\.(check_\w+)\(", s)}
    check_of.update({solution.nb.cells[ex.check].get("id"): ex.id for ex in solution.exercises
                     if ex.check is not None and solution.nb.cells[ex.check].get("id")})
    check_names = {name for name in check_of if name.startswith("check_")}
    check_ids = set(check_of) - check_names
    by_exercise = {index: ex for ex, index in found.items()}
    dropped, notes = {}, []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and i not in by_exercise and _is_check_cell(cell, solution, check_names,
                                                                                        check_ids):
            calls = re.findall(r"checks\.(check_\w+)\(", _source(cell))
            dropped[i] = (_labkit_meta(cell).get("check") or check_of.get(cell.get("id"))
                          or next((check_of[c] for c in calls if c in check_of), None))
    for ex in solution.exercises:
        if ex.id in found and ex.check is not None:
            mine = [i for i, k in dropped.items() if k == ex.id]
            if not mine:
                notes.append(f"{ex.id}: your check cell was missing or unrecognisable; the lab's check was run")
            elif _source(cells[mine[0]]).strip() != check_sources[ex.id].strip():
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
                or _source(cells[i]).strip() == _source(between).strip())), None)
            anchor = match if match is not None else anchor
        insert_after.setdefault(anchor, []).append(ex)

    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    roles = []

    def add(cell, kind, exercise=None, number=None):
        nb.cells.append(cell)
        roles.append({"kind": kind, "exercise": exercise, "learner_cell": number})
        return len(nb.cells) - 1

    add(_grader_cell("import labkit.grade as _labkit_grade\n_labkit_grade.kernel_snapshot()\ndel _labkit_grade",
                     "snapshot"), "grader")
    exercise_cells, check_cells, learner_cells, stubs = {}, {}, [], set()
    stub = "\n".join(notebooks.CODE_STUB)
    for i, raw in enumerate(cells):
        kind = raw.get("cell_type")
        if kind == "code":
            learner_cells.append((f"cell {i + 1}", _source(raw)))
        if i in dropped or kind not in ("code", "markdown", "raw"):
            continue
        if kind == "code":
            cell = nbformat.v4.new_code_cell(_source(raw))
            cell.metadata = copy.deepcopy(dict(raw.get("metadata", {}))) if isinstance(raw.get("metadata"),
                                                                                       dict) else {}
            cell.metadata.pop("tags", None)  # no skip-execution / raises-exception tricks
        else:
            cell = nbformat.v4.new_markdown_cell(_source(raw)) if kind == "markdown" else \
                nbformat.v4.new_raw_cell(_source(raw))
        index = add(cell, "learner", by_exercise.get(i), i + 1)
        if i in by_exercise:
            exercise_cells[by_exercise[i]] = index
            if re.sub(r"\s+", " ", stub) in re.sub(r"\s+", " ", _source(raw)):
                stubs.add(by_exercise[i])
        for ex in insert_after.get(i, []):
            add(_grader_cell(_verify_code(ex.id, "before", roots), "verify"), "grader", ex.id)
            check = copy.deepcopy(solution.nb.cells[ex.check])
            check.outputs, check.execution_count = [], None
            check.id = nbformat.v4.new_code_cell().id  # a fresh id: the learner may have reused the solution's
            check_cells[ex.id] = add(check, "check", ex.id)
            add(_grader_cell(_verify_code(ex.id, "after", roots), "verify"), "grader", ex.id)
    missing = {}
    for ex in solution.exercises:
        if ex.id not in found:
            missing[ex.id] = f"no cell for exercise {ex.id} (neither its id, its cell nor its heading was found)"
        elif ex.check is None:
            missing[ex.id] = f"the solution has no check cell for {ex.id}"
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and notebooks.BEGIN in _source(cell):
            notes.append(f"cell {i + 1} holds the solution markers ({notebooks.BEGIN}): is this the solution notebook?")
            break
    return Plan(nb, roles, exercise_cells, check_cells, missing, notes, learner_cells, stubs)


# --------------------------------------------------------------------------------------------------
# Execution: cell by cell in a fresh kernel, with time limits and a cap on kept output
# --------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """How one cell ran: ok, error (with the exception), timeout, died (the kernel), or skipped (why)."""

    state: str
    ename: str = ""
    evalue: str = ""
    reason: str = ""


def _output_size(content: dict) -> int:
    size = len(content.get("text", "") or "") + len(content.get("evalue", "") or "")
    size += sum(len(line) for line in content.get("traceback", []) or [])
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(json.dumps(value, default=str))
    return size


def _client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """nbclient, keeping at most OUTPUT_LIMIT characters of output per cell."""

        def output(self, outs, msg, display_id, cell_index):
            kept = self._labkit_kept = getattr(self, "_labkit_kept", {})
            size = _output_size(msg.get("content", {}))
            if msg.get("msg_type") == "error":
                content = msg["content"]
                content["evalue"] = (content.get("evalue") or "")[:OUTPUT_LIMIT // 4]
                content["traceback"] = (content.get("traceback") or [])[-20:]
            elif kept.get(cell_index, 0) + size > OUTPUT_LIMIT:
                room = OUTPUT_LIMIT - kept.get(cell_index, 0)
                if room < 0:
                    return None
                kept[cell_index] = OUTPUT_LIMIT + 1
                if msg.get("msg_type") == "stream" and room > 0:  # keep the head of the text
                    msg["content"]["text"] = msg["content"].get("text", "")[:room]
                    super().output(outs, msg, display_id, cell_index)
                outs.append(self._labkit_note())
                return None
            kept[cell_index] = kept.get(cell_index, 0) + size
            return super().output(outs, msg, display_id, cell_index)

        @staticmethod
        def _labkit_note():
            import nbformat

            return nbformat.v4.new_output("stream", name="stderr",
                                          text=f"[labkit grade: output beyond {OUTPUT_LIMIT // 1024} KB not kept]\n")

    return CappedClient


def kernel_env(profile: str) -> dict[str, str]:
    """The environment of a grading kernel: the chosen profile, offline, the network guard on."""
    from labkit import config

    env = config.offline_env(profile)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


def _wait(result):
    """The value of a kernel manager call, whether the manager is synchronous or asynchronous."""
    import inspect

    from jupyter_core.utils import run_sync

    if not inspect.isawaitable(result):
        return result

    async def wait():
        return await result

    return run_sync(wait)()


def _responsive(client, grace: float) -> bool:
    """After an interrupt: does the kernel answer a no-op within ``grace`` seconds?"""
    from queue import Empty

    from jupyter_core.utils import run_sync

    async def probe():
        msg_id = client.kc.execute("", store_history=False, silent=True)
        deadline = time.monotonic() + grace
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await client.kc.shell_channel.get_msg(timeout=left)
            except Empty:
                return False
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False

    try:
        return bool(run_sync(probe)())
    except Exception:  # noqa: BLE001 - a kernel that cannot even be probed is not responsive
        return False


def execute_plan(plan: Plan, profile: str = "tiny", cell_timeout: int = 600, notebook_timeout: int = 1800,
                 kernel_name: str = "python3", log_path: Path | None = None) -> list[Outcome]:
    """Run a plan's cells one by one in a fresh kernel; every cell gets an :class:`Outcome`."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = plan.nb
    outcomes: list[Outcome | None] = [None] * len(nb.cells)
    replies: dict[int, dict] = {}
    workdir = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
    client = _client_class()(nb, timeout=cell_timeout, kernel_name=kernel_name, allow_errors=True,
                             interrupt_on_timeout=False, record_timing=False, startup_timeout=120,
                             resources={"metadata": {"path": str(workdir)}})
    client.on_cell_executed = lambda cell, cell_index, execute_reply: replies.__setitem__(cell_index, execute_reply)
    start, stop = time.monotonic(), None
    log = open(log_path, "wb") if log_path else None  # noqa: SIM115 - closed in finally
    try:
        with client.setup_kernel(env=kernel_env(profile), stdout=log, stderr=log):
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    outcomes[i] = Outcome("ok")
                    continue
                left = notebook_timeout - (time.monotonic() - start)
                if stop is None and left < 1:
                    stop = f"the notebook's time limit ({notebook_timeout} s) ran out"
                if stop is not None:
                    outcomes[i] = Outcome("skipped", reason=stop)
                    continue
                client.timeout = int(max(1, min(cell_timeout, left)))
                try:
                    client.execute_cell(cell, i, store_history=plan.roles[i]["kind"] != "grader")
                except CellTimeoutError:
                    by_notebook = left < cell_timeout
                    outcomes[i] = Outcome("timeout", reason=(
                        f"used up the rest of the notebook's time limit ({notebook_timeout} s)" if by_notebook
                        else f"ran longer than the per-cell limit ({cell_timeout} s)"))
                    _wait(client.km.interrupt_kernel())
                    if by_notebook:
                        stop = f"the notebook's time limit ({notebook_timeout} s) ran out in {_describe(plan, i)}"
                    elif not _responsive(client, INTERRUPT_GRACE):
                        stop = f"{_describe(plan, i)} ran past its time limit and did not stop when interrupted"
                    continue
                except DeadKernelError:
                    outcomes[i] = Outcome("died")
                    stop = f"the kernel died in {_describe(plan, i)}"
                    continue
                except Exception as err:  # noqa: BLE001 - any other failure of the client: stop this notebook
                    outcomes[i] = Outcome("died", reason=f"{type(err).__name__}: {err}")
                    stop = f"the grader lost the kernel in {_describe(plan, i)}"
                    continue
                content = (replies.get(i) or {}).get("content", {})
                if content.get("status") == "error":
                    outcomes[i] = Outcome("error", content.get("ename", "") or "Error", content.get("evalue", "") or "")
                elif content.get("status") == "aborted":
                    outcomes[i] = Outcome("error", "Aborted", "the kernel aborted this cell")
                else:
                    outcomes[i] = Outcome("ok")
    except Exception as err:  # noqa: BLE001 - the kernel did not start, or shutting it down failed
        reason = f"the kernel could not run: {type(err).__name__}: {err}"
        outcomes = [o or Outcome("skipped", reason=reason) for o in outcomes]
    finally:
        if log:
            log.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return [o or Outcome("skipped", reason="not run") for o in outcomes]


# --------------------------------------------------------------------------------------------------
# Statuses
# --------------------------------------------------------------------------------------------------
def one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    """A message as one clean line: no colour codes or control characters, at most ``limit`` characters."""
    text = _ANSI.sub("", str(text))
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _describe(plan: Plan, index: int) -> str:
    role = plan.roles[index]
    if role["kind"] == "learner" and role["exercise"]:
        return f"exercise {role['exercise']} (cell {role['learner_cell']})"
    if role["kind"] == "check":
        return f"the check of {role['exercise']}"
    first = next((line for line in plan.nb.cells[index].source.splitlines() if line.strip()), "")
    return f"cell {role['learner_cell']} (`{one_line(first, 60)}`)"


def _blocker(plan: Plan, outcomes: list[Outcome], cells: list[int]) -> int | None:
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


def exercise_status(plan: Plan, outcomes: list[Outcome], exercise_id: str) -> tuple[str, str]:
    """One status and a detail for one exercise, from how its cell and its check cell ran.

    * ``missing``: no cell for the exercise, or it still raises the lab's ``NotImplementedError``;
    * ``pass``: the exercise cell and the check ran without error;
    * ``fail``: the check raised ``CheckFailed`` - the detail is the check's hint;
    * ``timeout``: the exercise or its check ran past the per-cell limit, or the notebook's limit ran out;
    * ``blocked``: the kernel died or hung earlier, or the exercise's cells raised and read a name
      whose last assignment was in an earlier cell that failed (detail: which cell);
    * ``error``: the exercise cell or the check raised anything else - the exception's last line.
    ``flagged`` is decided for the whole notebook, before (static scan) or while (kernel check) it runs.
    """
    if exercise_id in plan.missing:
        return "missing", plan.missing[exercise_id]
    cell, check = plan.exercise_cells[exercise_id], plan.check_cells[exercise_id]
    for index in (cell, check):
        outcome = outcomes[index]
        if outcome.state == "ok":
            continue
        own = "the exercise cell" if index == cell else "the check"
        if outcome.state == "skipped":
            if "time limit" in outcome.reason and "interrupted" not in outcome.reason:
                return "timeout", f"{outcome.reason} before this exercise ran"
            return "blocked", f"{outcome.reason}, so this exercise could not run"
        if outcome.state == "timeout":
            return "timeout", f"{own} {outcome.reason}"
        if outcome.state == "died":
            return "error", f"the kernel died while running {own} (os._exit, a crash or running out of memory)" + (
                f": {outcome.reason}" if outcome.reason else "")
        if outcome.ename == "CheckFailed" and index == check:
            return "fail", outcome.evalue
        if outcome.ename == "NotImplementedError" and exercise_id in plan.stubs:
            return "missing", NOT_DONE
        blocker = _blocker(plan, outcomes, [cell, check])
        if blocker is not None:
            return "blocked", (f"needs {_describe(plan, blocker)}, which failed "
                               f"({_error_text(outcomes[blocker]) or outcomes[blocker].state})")
        return "error", _error_text(outcome)
    return "pass", ""


def runtime_tampering(plan: Plan, outcomes: list[Outcome]) -> str | None:
    """The integrity check's message if a grader cell found the checks changed while the notebook ran."""
    for cell, role, outcome in zip(plan.nb.cells, plan.roles, outcomes, strict=True):
        if role["kind"] == "grader" and outcome.state == "error" and cell.metadata.get("labkit_grader") == "verify":
            return f"at run time: {_error_text(outcome)}"
    return None


def setup_failure(plan: Plan, outcomes: list[Outcome]) -> str | None:
    """Why the grader's first cell failed in the kernel (labkit not importable there, ...), if it did."""
    first = outcomes[0] if outcomes else None
    if first is None or first.state == "ok":
        return None
    return f"the grading kernel could not start grading: {_error_text(first) or first.state}"


# --------------------------------------------------------------------------------------------------
# Grading a class
# --------------------------------------------------------------------------------------------------
@dataclass
class Graded:
    """One learner's grades for one notebook."""

    rows: list[dict]
    notes: list[str]


def _graded(learner: str, notebook: str, results, notes: list[str]) -> Graded:
    return Graded(_rows(learner, notebook, results), [f"{notebook}: {note}" for note in notes])


def _rows(learner, notebook, results) -> list[dict]:
    return [{"learner": learner, "notebook": notebook, "exercise": ex, "status": status,
             "detail": one_line(detail)} for ex, status, detail in results]


def grade_notebook(learner: str, solution: Solution, data: bytes | None, others: list[str], *,
                   profile: str = "tiny", cell_timeout: int = 600, notebook_timeout: int = 1800,
                   kernel_name: str = "python3", executed_dir: Path | None = None) -> Graded:
    """Grade one learner's copy of one lab notebook (``data`` is its bytes, None when it is absent)."""
    import nbformat

    ids = [ex.id for ex in solution.exercises]
    stem = solution.name.removesuffix(".ipynb")
    if data is None:
        near = [o for o in others if o.rsplit("/", 1)[-1][:2] == solution.name[:2]] or others
        why = f"no {solution.name} in the submission"
        if near:
            why += f"; found {', '.join(near[:3])} - lab notebooks must keep their names as in labs/"
        return _graded(learner, stem, [(i, "missing", why) for i in ids], [])
    try:
        text = data.decode("utf-8-sig")
        try:
            json.loads(text)
        except ValueError as err:
            raise ValueError(f"not valid JSON, {err}") from None
        nb = nbformat.reads(text, as_version=4, capture_validation_error={})
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as err:  # noqa: BLE001 - any unreadable file: say why, grade the others
        why = f"unreadable notebook ({one_line(err, 160)}); open it in Jupyter, save it and hand it in again"
        return _graded(learner, stem, [(i, "error", why) for i in ids], [])
    try:
        plan = assemble(solution, nb)
        findings = find_tampering(plan.learner_cells, protected=_check_roots(solution))
        if findings:
            detail = findings[0] + (f" (and {len(findings) - 1} more)" if len(findings) > 1 else "")
            return _graded(learner, stem, [(i, "flagged", detail) for i in ids], plan.notes + findings)
        log = None
        if executed_dir is not None:
            executed_dir.mkdir(parents=True, exist_ok=True)
            log = executed_dir / f"{stem}.kernel.log"
        outcomes = execute_plan(plan, profile, cell_timeout, notebook_timeout, kernel_name, log)
        if executed_dir is not None:
            nbformat.write(plan.nb, executed_dir / solution.name)
        broken = setup_failure(plan, outcomes)
        if broken:
            return _graded(learner, stem, [(i, "error", broken) for i in ids], plan.notes)
        tampered = runtime_tampering(plan, outcomes)
        if tampered:
            return _graded(learner, stem, [(i, "flagged", tampered) for i in ids], plan.notes)
        return _graded(learner, stem, [(i, *exercise_status(plan, outcomes, i)) for i in ids], plan.notes)
    except Exception as err:  # noqa: BLE001 - a grader bug on one notebook must not stop the class
        why = f"the grader could not process this notebook: {type(err).__name__}: {one_line(err, 200)}"
        return _graded(learner, stem, [(i, "error", why) for i in ids], [])


def grader_digest(solution: Solution, settings: dict) -> str:
    """What a notebook's grades depend on besides the submission: solution, checks, grader, settings."""
    import labkit.checks

    digest = hashlib.sha256(solution.digest.encode())
    for path in sorted(Path(labkit.checks.__file__).parent.glob("*.py")) + [Path(__file__)]:
        digest.update(path.read_bytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def _submission_digest(data: bytes | None, others: list[str]) -> str:
    return hashlib.sha256((data if data is not None else b"<absent>") + json.dumps(others).encode()).hexdigest()


@dataclass
class ClassResult:
    rows: list[dict]
    graded: int  # learner x notebook pairs graded in this run
    reused: int  # pairs whose grades were reused from the last run
    out: Path
    skipped: list[str]


def grade_class(submissions: Path, out: Path, solutions: Path | None = None, *, profile: str = "tiny",
                cell_timeout: int = 600, notebook_timeout: int = 1800, notebooks: list[str] | None = None,
                force: bool = False, kernel_name: str = "python3", jobs: int = 1,
                progress: bool = True) -> ClassResult:
    """Grade every learner in ``submissions`` and write the reports to ``out``.

    ``notebooks`` narrows the labs graded (file names or their two-digit numbers); by default every
    lab that at least one learner handed in under its lab name. ``jobs`` learners are graded at once,
    each notebook in its own kernel.
    """
    from tqdm.auto import tqdm

    from labkit import notebooks as nbs

    out = Path(out)
    all_solutions = load_solutions(Path(solutions) if solutions else nbs.solutions_dir())
    if not all_solutions:
        raise FileNotFoundError("The solutions folder has no notebook with an exercise.")
    subs, skipped = read_submissions(Path(submissions), all_solutions)
    if notebooks:
        chosen = {name for name in all_solutions for want in notebooks
                  if name == want or name == f"{want}.ipynb" or name[:2] == want}
        unknown = [w for w in notebooks if not any(n == w or n == f"{w}.ipynb" or n[:2] == w for n in all_solutions)]
        if unknown:
            raise ValueError(f"No solution notebook matches {', '.join(unknown)} (have: {', '.join(all_solutions)})")
    else:
        chosen = {name for sub in subs for name in sub.notebooks}
    if not chosen:
        found = sorted({o.rsplit("/", 1)[-1] for sub in subs for o in sub.others})[:5]
        raise ValueError(f"None of the {len(subs)} submission(s) holds a notebook named as a lab ("
                         f"{', '.join(list(all_solutions)[:2])}, ...); found: {', '.join(found) or 'no notebooks'}. "
                         "Rename them, or name the labs to grade with --notebooks.")
    selected = [all_solutions[name] for name in sorted(chosen)]
    settings = {"profile": profile, "cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout,
                "kernel": kernel_name}
    digests = {sol.name: grader_digest(sol, settings) for sol in selected}
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE_FILE
    try:
        state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
    except (OSError, ValueError):
        state = {}
    entries = state.get("entries", {}) if not force else {}

    def grade_learner(sub: Submission) -> tuple[dict[str, dict], int, int]:
        mine, graded, reused = {}, 0, 0
        for sol in selected:
            data = sub.notebooks.get(sol.name)
            stamp = [_submission_digest(data, sub.others), digests[sol.name]]
            entry = entries.get(f"{sub.learner}/{sol.name}")
            if entry and entry.get("stamp") == stamp:
                reused += data is not None
            else:
                result = grade_notebook(sub.learner, sol, data, sub.others, profile=profile, cell_timeout=cell_timeout,
                                        notebook_timeout=notebook_timeout, kernel_name=kernel_name,
                                        executed_dir=out / "executed" / safe_name(sub.learner))
                entry = {"stamp": stamp, "rows": result.rows, "notes": result.notes}
                graded += data is not None
            mine[f"{sub.learner}/{sol.name}"] = entry
        return mine, graded, reused

    fresh, graded, reused = {}, 0, 0
    bar = tqdm(total=len(subs), desc="learners", unit="learner", disable=not progress)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # each learner's kernels are separate processes
        futures = {pool.submit(grade_learner, sub): sub for sub in subs}
        for future in as_completed(futures):
            mine, done, kept = future.result()
            fresh.update(mine)
            graded, reused = graded + done, reused + kept
            _write_json(state_path, {"version": 1, "entries": {**entries, **fresh}})  # progress survives a crash
            bar.set_postfix_str(futures[future].learner)
            bar.update()
    bar.close()
    rows = [row for sub in subs for sol in selected for row in fresh[f"{sub.learner}/{sol.name}"]["rows"]]
    _write_json(state_path, {"version": 1, "entries": fresh})
    executed = out / "executed"
    if executed.is_dir():  # learners no longer in the class
        keep = {safe_name(sub.learner) for sub in subs}
        for old in executed.iterdir():
            if old.is_dir() and old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)
    notes = {sub.learner: [n for sol in selected for n in fresh[f"{sub.learner}/{sol.name}"]["notes"]] + sub.problems
             for sub in subs}
    write_reports(out, rows, notes, {sol.name.removesuffix(".ipynb"): sol for sol in selected}, skipped)
    return ClassResult(rows, graded, reused, out, skipped)


def _write_json(path: Path, data) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------------------------------------------------
# Reports: grades.csv, summary.md, feedback/<learner>.md, junit.xml
# --------------------------------------------------------------------------------------------------
def _csv_safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (learners' messages end up here)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_reports(out: Path, rows: list[dict], notes: dict[str, list[str]], solutions: dict[str, Solution],
                  skipped: list[str] = ()) -> None:
    """Write grades.csv, summary.md, feedback/<learner>.md and junit.xml from the graded rows."""
    out = Path(out)
    with open(out / "grades.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "detail": _csv_safe(row["detail"])})
    (out / "summary.md").write_text(summary_markdown(rows, notes, solutions, skipped), encoding="utf-8")
    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    learners = sorted({row["learner"] for row in rows} | set(notes))
    keep = {f"{safe_name(learner)}.md" for learner in learners}
    for old in feedback.glob("*.md"):
        if old.name not in keep:
            old.unlink()
    for learner in learners:
        mine = [row for row in rows if row["learner"] == learner]
        (feedback / f"{safe_name(learner)}.md").write_text(
            feedback_markdown(learner, mine, notes.get(learner, []), solutions), encoding="utf-8")
    write_junit(out / "junit.xml", rows)


def _title(solutions: dict[str, Solution], notebook: str, exercise: str) -> str:
    sol = solutions.get(notebook)
    return next((ex.title for ex in sol.exercises if ex.id == exercise), "") if sol else ""


def _table(header: list[str], body: list[list]) -> list[str]:
    def cell(value) -> str:
        return str(value).replace("|", "\\|")

    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)] + [
        "| " + " | ".join(cell(v) for v in line) + " |" for line in body]


def summary_markdown(rows: list[dict], notes: dict[str, list[str]], solutions: dict[str, Solution],
                     skipped: list[str] = ()) -> str:
    """The class at a glance: pass rate per exercise, each status's count, the most frequent hints."""
    learners = sorted({row["learner"] for row in rows})
    lines = ["# Grading summary", "", f"{len(learners)} learner(s), {len(rows)} exercise grades.", ""]
    by_exercise: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        by_exercise[(row["notebook"], row["exercise"])].append(row)
    body = []
    for (notebook, exercise), group in by_exercise.items():
        counts = Counter(row["status"] for row in group)
        body.append([exercise, _title(solutions, notebook, exercise), f"{counts['pass'] / len(group):.0%}"]
                    + [counts.get(s, 0) for s in STATUSES])
    lines += ["## Pass rate per exercise", ""] + _table(["exercise", "title", "pass rate", *STATUSES], body) + [""]
    lines += ["## Most frequent hints (failed checks)", ""]
    any_hint = False
    for (_notebook, exercise), group in by_exercise.items():
        hints = Counter(row["detail"] for row in group if row["status"] == "fail")
        for hint, count in hints.most_common(3):
            lines.append(f"- **{exercise}** ({count}×): {hint}")
            any_hint = True
    if not any_hint:
        lines.append("No check failed.")
    errors = Counter((row["exercise"], row["detail"]) for row in rows if row["status"] in ("error", "blocked"))
    if errors:
        lines += ["", "## Most frequent errors and blocked exercises", ""]
        lines += [f"- **{exercise}** ({count}×): {detail}" for (exercise, detail), count in errors.most_common(5)]
    flagged = sorted({(row["learner"], row["notebook"], row["detail"]) for row in rows if row["status"] == "flagged"})
    lines += ["", "## Flagged notebooks (check these by hand)", ""]
    lines += [f"- {learner} · {notebook}: {detail}" for learner, notebook, detail in flagged] or ["None."]
    if skipped:
        lines += ["", "## Not graded", ""] + [f"- {s}" for s in skipped]
    return "\n".join(lines) + "\n"


_ADVICE = {
    "pass": "",
    "fail": "The check's hint: ",
    "error": "Your code raised: ",
    "timeout": "Too slow: ",
    "blocked": "Not graded: ",
    "missing": "Missing: ",
    "flagged": "Flagged for your instructor: ",
}


def feedback_markdown(learner: str, rows: list[dict], notes: list[str], solutions: dict[str, Solution]) -> str:
    """One learner's feedback: each exercise's status and what to look at."""
    passed = sum(row["status"] == "pass" for row in rows)
    lines = [f"# Feedback for {learner}", "", f"{passed} of {len(rows)} exercises pass.", ""]
    for notebook in sorted({row["notebook"] for row in rows}):
        lines += [f"## {notebook}", ""]
        body = [[row["exercise"], _title(solutions, notebook, row["exercise"]), row["status"],
                 _ADVICE[row["status"]] + row["detail"] if row["detail"] else ""]
                for row in rows if row["notebook"] == notebook]
        lines += _table(["exercise", "title", "status", "what to look at"], body) + [""]
    if notes:
        lines += ["## Notes", ""] + [f"- {one_line(n)}" for n in dict.fromkeys(notes)] + [""]
    lines += ["Check yourself before you hand in: `pytest --nbmake labs/<notebook>.ipynb`, or run the check cells "
              "in Jupyter.", ""]
    return "\n".join(lines)


def write_junit(path: Path, rows: list[dict]) -> None:
    """JUnit XML: one test suite per learner, one test case per exercise (CI dashboards read it)."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="labkit grade")
    for learner in sorted({row["learner"] for row in rows}):
        mine = [row for row in rows if row["learner"] == learner]
        failures = sum(row["status"] in ("fail", "missing", "blocked", "flagged") for row in mine)
        errors = sum(row["status"] in ("error", "timeout") for row in mine)
        suite = ET.SubElement(root, "testsuite", name=learner, tests=str(len(mine)), failures=str(failures),
                              errors=str(errors), skipped="0")
        for row in mine:
            case = ET.SubElement(suite, "testcase", classname=f"{learner}.{row['notebook']}",
                                 name=f"{row['exercise']}")
            if row["status"] != "pass":
                tag = "error" if row["status"] in ("error", "timeout") else "failure"
                ET.SubElement(case, tag, type=row["status"], message=row["detail"]).text = row["detail"]
    root.set("tests", str(len(rows)))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


# --------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from labkit import config

    parser = argparse.ArgumentParser(
        prog="labkit grade",
        description="Grade a class's lab submissions: one status per exercise (pass, fail, error, timeout, "
                    "blocked, missing, flagged) in grades.csv, summary.md, feedback/<learner>.md and junit.xml.")
    parser.add_argument("submissions", type=Path,
                        help="folder with one folder or .zip per learner, holding lab notebooks named as in labs/")
    parser.add_argument("--out", type=Path, required=True, help="folder for the grades (re-used on the next run)")
    parser.add_argument("--solutions", type=Path, help="solution notebooks (default: the repository's solutions/)")
    parser.add_argument("--profile", default="tiny", choices=config.PROFILES,
                        help="labkit profile the notebooks run in (default: tiny)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default: 600)")
    parser.add_argument("--notebook-timeout", type=int, default=1800,
                        help="seconds allowed per notebook (default: 1800)")
    parser.add_argument("--notebooks", nargs="+", metavar="NB",
                        help="labs to grade, by number or name (default: every lab someone handed in)")
    parser.add_argument("--force", action="store_true", help="re-grade everything, not only what changed")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel to run the notebooks in (default: python3)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="learners graded at the same time, one kernel each (default: 1; at most one per core)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.timeout < 1 or args.notebook_timeout < 1:
        print("labkit grade: --timeout and --notebook-timeout must be at least 1 second.", file=sys.stderr)
        return 2
    try:
        result = grade_class(args.submissions, args.out, args.solutions, profile=args.profile,
                             cell_timeout=args.timeout, notebook_timeout=args.notebook_timeout,
                             notebooks=args.notebooks, force=args.force, kernel_name=args.kernel, jobs=args.jobs)
    except (FileNotFoundError, ValueError) as err:
        print(f"labkit grade: {err}", file=sys.stderr)
        return 2
    for reason in result.skipped:
        print(f"skipped {reason}", file=sys.stderr)
    counts = Counter(row["status"] for row in result.rows)
    print(f"{len({r['learner'] for r in result.rows})} learner(s): graded {result.graded} notebook(s), "
          f"reused {result.reused} unchanged; " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]))
    print(f"grades: {result.out / 'grades.csv'}  summary: {result.out / 'summary.md'}  "
          f"feedback: {result.out / 'feedback'}  junit: {result.out / 'junit.xml'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

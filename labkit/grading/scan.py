"""Static analysis of a learner's cells: the names a cell binds and reads, and tampering with the checks.

:func:`find_tampering` is the scan run before a notebook is executed (a finding grades it ``flagged`` and it is
not run); :func:`cell_names` serves the ``blocked`` rule (which earlier cell defined a name an exercise reads).
Both read IPython magics as the Python they become.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path


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
# hooks that see (and may change) every frame a check runs, or every code object the grader compiles
_HOOK_CALLS = {"sys.settrace", "sys.setprofile", "sys.addaudithook", "threading.settrace", "threading.setprofile",
               "threading.settrace_all_threads", "threading.setprofile_all_threads", "sys.monitoring.register_callback",
               "sys.monitoring.use_tool_id"}
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
        if target in _HOOK_CALLS:
            self.flag(node, f"calls {target} (a hook that watches or changes the code the checks run)")
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

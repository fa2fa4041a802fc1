"""Inside a grading kernel: the integrity check run around every check, and the hidden checks.

This is the one module of :mod:`labkit.grading` a learner's kernel imports (the grader's cells call it), so it
imports nothing of the grader and only the standard library besides :mod:`labkit.checks`.

:func:`kernel_snapshot` runs first and remembers every name in :mod:`labkit.checks` and its submodules, the
functions and classes of every other labkit module (an import hook records modules imported later), about 35
builtins, ``math.isclose`` and friends, the trace and profile hooks, and IPython's ``run_cell``, input/AST
transformers and custom exception handlers. :func:`kernel_verify` runs before and after each check and raises
:class:`IntegrityError` when any of it changed. :func:`run_hidden` runs an exercise's hidden checks (code the
grader passes in; it is not in a learner's release) and says only that one failed.
"""

from __future__ import annotations

import sys

_BUILTINS = ("isinstance", "issubclass", "float", "int", "str", "bool", "len", "abs", "round", "sum", "min", "max",
             "all", "any", "sorted", "list", "dict", "set", "tuple", "zip", "range", "enumerate", "map", "filter",
             "getattr", "hasattr", "type", "print", "repr", "iter", "next", "callable", "__import__",
             "AssertionError", "Exception", "ValueError", "TypeError", "NotImplementedError")
_SNAPSHOT: dict | None = None
#: The first words of a hidden check's failure; the learner's feedback shows only these.
HIDDEN_FAILED = "a hidden check failed"


class IntegrityError(Exception):
    """Raised in a grading kernel when the checks, or what they rely on, changed after the notebook started."""


class HiddenCheckFailed(AssertionError):
    """A hidden check (run only in grading) rejected the answer; the message is for the instructor."""


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
    import threading

    state = {}
    for name, module in list(sys.modules.items()):
        if module is not None and (name == "labkit" or name.startswith("labkit.")):
            state.update(_module_state(name, module))
    state.update({f"builtins.{n}": id(getattr(builtins, n, None)) for n in _BUILTINS})
    state.update({f"math.{n}": id(getattr(math, n)) for n in ("isclose", "isfinite", "isnan", "fsum")})
    # a trace or profile function sees (and may change) every frame of a check
    state["sys.gettrace()"] = id(sys.gettrace())
    state["sys.getprofile()"] = id(sys.getprofile())
    state["threading trace/profile"] = (id(getattr(threading, "_trace_hook", None)),
                                        id(getattr(threading, "_profile_hook", None)))
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
        raise IntegrityError("the grader's snapshot of labkit.checks is gone (labkit.grading.integrity was reloaded "
                             "or replaced)")
    now = _kernel_state()
    changed = [key for key, value in _SNAPSHOT.items() if now.get(key) != value]
    added = [key for key in now if key not in _SNAPSHOT and key.startswith("labkit.checks")
             and now[key][0] != "module"]  # a submodule imported later is not a change
    if changed or added:
        names = ", ".join((changed + added)[:3]) + (" ..." if len(changed) + len(added) > 3 else "")
        raise IntegrityError(f"{when} the check of {exercise_id}: changed since the notebook started: {names}")


def run_hidden(exercise_id: str, source: str, filename: str, learner: dict | None = None) -> None:
    """Run the hidden checks of one exercise on the learner's namespace; raise :class:`HiddenCheckFailed`.

    ``source`` is the instructor's hidden-checks file for this notebook (its ``HIDDEN`` dict maps exercise ids to
    functions that take the learner's namespace). The code is compiled under ``filename``, run in a namespace of
    its own, and dropped afterwards, along with what the kernel cached of this cell's text. ``learner`` is the
    namespace checked (default: the kernel's).
    """
    import linecache

    if learner is None:
        try:
            learner = get_ipython().user_ns  # noqa: F821 - defined in IPython kernels
        except NameError:
            learner = sys.modules["__main__"].__dict__
    namespace: dict = {"__name__": "labkit_hidden_checks"}
    failure = None
    try:
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - the instructor's own checks
        for check in namespace.get("HIDDEN", {}).get(exercise_id, ()):
            try:
                check(learner)
            except Exception as err:  # noqa: BLE001 - the learner's code raised inside a hidden check
                lines = [line for line in str(err).splitlines() if line.strip()]
                why = lines[-1] if lines and type(err).__name__ in ("CheckFailed", "AssertionError") else (
                    f"{type(err).__name__}: {lines[-1] if lines else ''}")
                failure = f"{HIDDEN_FAILED}: {getattr(check, '__name__', 'check')}: {why}"
                break
    finally:
        namespace.clear()
        for key in [k for k, v in list(linecache.cache.items()) if "labkit_grading_hidden" in "".join(v[2] or ())]:
            linecache.cache.pop(key, None)
    if failure:
        raise HiddenCheckFailed(failure)

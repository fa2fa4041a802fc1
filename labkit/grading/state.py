"""What a grade depends on, the state file that lets a re-run skip unchanged work, and shards of a class.

``OUT/.grade-state.json`` keeps, per learner x notebook, a stamp (the hash of the learner's notebook and of their
misnamed notebook files, and :func:`grader_digest`) with the rows and notes graded. A pair is graded again only
when its stamp changed. The state also records the run's shard, the notebooks' exercise titles and the
learners' order, so :func:`labkit.grading.grader.merge` can rebuild one grade book from several shards.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path

STATE_FILE = ".grade-state.json"
STATE_VERSION = 2


@functools.lru_cache(maxsize=1)
def checked_modules() -> tuple[Path, ...]:
    """The files of every labkit module the checks import, directly or not, and of the grader itself."""
    import labkit

    package = Path(labkit.__file__).resolve().parent

    def module_file(name: str) -> Path | None:
        parts = name.split(".")[1:]
        base = package.joinpath(*parts) if parts else package
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def imports(path: Path) -> set[str]:
        package_parts = ["labkit", *path.relative_to(package).with_suffix("").parts][:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package_parts[:len(package_parts) - node.level + 1]) if node.level else ""
                module = ".".join(p for p in (base, node.module or "") if p)
                found.add(module)
                found.update(f"{module}.{a.name}" for a in node.names)
        return {m for m in found if m == "labkit" or m.startswith("labkit.")}

    todo = [*sorted((package / "checks").glob("*.py")), *sorted((package / "grading").glob("*.py"))]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imports(path):
            found = module_file(module)
            if found is not None and found not in seen:
                todo.append(found)
    return tuple(sorted(seen))


@functools.lru_cache(maxsize=1)
def modules_digest() -> str:
    """A hash of :func:`checked_modules`' files, read once per grading process (every shard and learner of one
    run is graded against the same code, even if someone edits the kit meanwhile)."""
    import labkit

    package = Path(labkit.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in checked_modules():
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def grader_digest(solution, settings: dict) -> str:
    """What a notebook's grades depend on besides the submission: the solution, its hidden checks, every labkit
    module the checks import (and the grader's own), and the settings."""
    digest = hashlib.sha256(solution.digest.encode())
    digest.update(modules_digest().encode())
    digest.update(b"hidden\0" + (solution.hidden.source.encode() if solution.hidden else b"-"))
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def submission_digest(data: bytes | None, others: list[str]) -> str:
    return hashlib.sha256((data if data is not None else b"<absent>") + json.dumps(others).encode()).hexdigest()


def read_state(out: Path) -> dict:
    path = Path(out) / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) and isinstance(state.get("entries", {}), dict) else {}


def write_state(out: Path, state: dict) -> None:
    path = Path(out) / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": STATE_VERSION, **state}, indent=1), encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------------------------------------------------
# Shards: any batch scheduler runs N graders, each on a fixed 1/N of the learners
# --------------------------------------------------------------------------------------------------
def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4); shards count from 1."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        index = count = 0
    if not 1 <= index <= count:
        raise ValueError(f"--shard takes I/N with 1 <= I <= N (the 2nd of 4 shards is 2/4), not {text!r}.")
    return index, count


def in_shard(learner: str, shard: tuple[int, int] | None) -> bool:
    """Whether ``learner`` belongs to ``shard``: by a hash of the name, so a learner added later does not move the
    others (each shard's re-runs reuse what it graded) and every machine agrees."""
    if shard is None:
        return True
    index, count = shard
    return int(hashlib.sha256(learner.encode("utf-8")).hexdigest(), 16) % count == index - 1

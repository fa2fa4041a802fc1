"""Solutions -> learner labs, and headless execution of notebooks.

``solutions/`` holds the complete notebooks. Exercise regions are marked the way nbgrader marks
them::

    ### BEGIN SOLUTION
    answer = ...
    ### END SOLUTION

:func:`build_labs` writes ``labs/`` from them: each region becomes ``# YOUR CODE HERE`` followed by
``raise NotImplementedError()`` (markdown regions become "YOUR ANSWER HERE") and every output is
cleared (the format is spelled once, in :mod:`labkit.exercises`). :func:`run_notebooks` executes notebooks
unattended, the way an instructor grades them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from labkit import config
from labkit.exercises import BEGIN, CODE_STUB, END, MARKDOWN_STUB, REGION


def solutions_dir() -> Path:
    return config.REPO_ROOT / "solutions"


def labs_dir() -> Path:
    return config.REPO_ROOT / "labs"


def strip_solutions(source: str, cell_type: str = "code") -> str:
    """Replace every marked solution region of a cell's source with the learner's stub."""
    def stub(match: re.Match) -> str:
        indent = match.group(1)
        if cell_type == "markdown":
            return indent + MARKDOWN_STUB
        return "\n".join(indent + line for line in CODE_STUB)

    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"Unbalanced solution markers in cell:\n{source[:200]}")
    return REGION.sub(stub, source)


def clear_outputs(nb) -> None:
    """Remove outputs, execution counts and execution metadata from every cell."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)


def lab_from_solution(nb):
    """A learner notebook made from a solution notebook (a new object; the input is left alone)."""
    lab = nbformat.reads(nbformat.writes(nb), as_version=4)
    clear_outputs(lab)
    for cell in lab.cells:
        if cell.cell_type in ("code", "markdown"):
            cell.source = strip_solutions(cell.source, cell.cell_type)
    return lab


def render(nb) -> str:
    """A notebook as the exact text labkit stores (so files compare byte for byte)."""
    return nbformat.writes(nb) + "\n"


def build_labs(solutions: Path | None = None, labs: Path | None = None, check: bool = False) -> list[Path]:
    """Write ``labs/`` from ``solutions/``; with ``check=True`` only report labs that are out of date."""
    solutions, labs = Path(solutions or solutions_dir()), Path(labs or labs_dir())
    stale = []
    for src in sorted(solutions.glob("*.ipynb")):
        text = render(lab_from_solution(nbformat.read(src, as_version=4)))
        dest = labs / src.name
        if not dest.is_file() or dest.read_text(encoding="utf-8") != text:
            stale.append(dest)
            if not check:
                labs.mkdir(parents=True, exist_ok=True)
                dest.write_text(text, encoding="utf-8")
    if not check:
        known = {p.name for p in solutions.glob("*.ipynb")}
        for orphan in labs.glob("*.ipynb"):
            if orphan.name not in known:
                orphan.unlink()
                stale.append(orphan)
    return stale


@dataclass
class RunResult:
    """One notebook's unattended run."""

    notebook: str
    profile: str
    seconds: float
    ok: bool
    error: str = ""
    failed_cell: int | None = None


def execute(path: Path, out_dir: Path | None = None, timeout: int = 1800, kernel_name: str = "python3") -> RunResult:
    """Execute one notebook top to bottom (in its own folder) and save the executed copy to ``out_dir``."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    ok, error, failed = True, "", None
    try:
        client.execute()
    except CellExecutionError as err:
        ok, error = False, (err.ename or "") + ": " + (err.evalue or "")
        failed = first_error_cell(nb)
    except Exception as err:  # kernel died, timeout...
        ok, error = False, f"{type(err).__name__}: {err}"
    seconds = time.perf_counter() - start
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out_dir / path.name)
    return RunResult(path.name, config.get_profile().name, round(seconds, 1), ok, error, failed)


def first_error_cell(nb) -> int | None:
    """Index of the first code cell whose outputs hold an error."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return index
    return None


def run_notebooks(paths: list[Path] | None = None, out_dir: Path = Path("runs"), timeout: int = 1800):
    """Execute notebooks in order with a progress bar; returns a pandas table (notebook, profile, seconds, ok)."""
    import pandas as pd
    from tqdm.auto import tqdm

    paths = [Path(p) for p in paths] if paths else sorted(solutions_dir().glob("*.ipynb"))
    results = []
    bar = tqdm(paths, desc="notebooks", unit="nb")
    for path in bar:
        bar.set_postfix_str(path.name)
        results.append(execute(path, out_dir, timeout))
    return pd.DataFrame([r.__dict__ for r in results])

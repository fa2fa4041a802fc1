"""Maintainer tool: write a solutions/ notebook from a percent-format script, and back.

A draft is a Python file of cells: ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell
(its lines prefixed with ``# ``). An exercise cell is ``# %% exercise=03.2 kind=implement`` and the check cell that
grades it ``# %% check=03.2``: they get the metadata :mod:`labkit.exercises` defines.
Outputs are empty; cell ids are stable (derived from the notebook name and the cell's position).

    python tools/py2nb.py draft.py solutions/03_finetune.ipynb      # draft -> notebook
    python tools/py2nb.py --back solutions/03_finetune.ipynb draft.py  # notebook -> draft
"""

import hashlib
import re
import sys
from pathlib import Path

import nbformat

from labkit import exercises

HEADER = re.compile(r"^# %%(?: \[(?P<kind>markdown)\])?(?: (?P<role>exercise|check)=(?P<id>" + exercises.ID + r"))?"
                    r"(?: kind=(?P<exkind>\w+))?\s*$")


def cells_from(text: str):
    """(kind, source, metadata) for each cell of a percent-format draft."""
    blocks, current = [], None
    for line in text.splitlines():
        match = HEADER.match(line)
        if match:
            if current is not None:
                blocks.append(current)
            meta = {}
            if match["role"] == "exercise":
                cell = {"metadata": {}}
                exercises.mark_exercise(cell, match["id"], match["exkind"] or "compute")
                meta = cell["metadata"]
            elif match["role"]:
                meta = {exercises.META_KEY: {match["role"]: match["id"]}}
            current = (match["kind"] or "code", [], meta)
        elif line.startswith("# %%"):
            raise ValueError(f"Unrecognised cell header: {line!r}")
        elif current is not None:
            current[1].append(line)
    if current is not None:
        blocks.append(current)
    for kind, lines, meta in blocks:
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if kind == "markdown":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
        yield kind, "\n".join(lines), meta


def convert(src: Path, dest: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, (kind, source, meta) in enumerate(cells_from(src.read_text(encoding="utf-8"))):
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        cell.id = hashlib.sha1(f"{dest.stem}-{i}".encode()).hexdigest()[:8]
        cell.metadata.update(meta)
        nb.cells.append(cell)
    nbformat.validate(nb)
    dest.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def draft_from(nb_path: Path) -> str:
    """The percent-format draft of a notebook (the inverse of :func:`convert`, outputs dropped)."""
    nb = nbformat.read(nb_path, as_version=4)
    parts = []
    for cell in nb.cells:
        role = exercises.meta(cell)
        tag = "".join(f" {key}={value}" for key, value in role.items())
        if cell.cell_type == "markdown":
            body = "\n".join(("# " + line) if line else "#" for line in cell.source.splitlines())
            parts.append(f"# %% [markdown]{tag}\n{body}")
        else:
            parts.append(f"# %%{tag}\n{cell.source}")
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    if sys.argv[1] == "--back":
        Path(sys.argv[3]).write_text(draft_from(Path(sys.argv[2])), encoding="utf-8")
    else:
        convert(Path(sys.argv[1]), Path(sys.argv[2]))

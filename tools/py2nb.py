"""Maintainer tool: write a solutions/ notebook from a percent-format script ("# %%" code cells,
"# %% [markdown]" markdown cells with "# " prefixed lines). Outputs are empty; ids are stable.

    python tools/py2nb.py draft.py solutions/01_prompting.ipynb
"""

import hashlib
import sys
from pathlib import Path

import nbformat


def cells_from(text: str):
    blocks, kind, lines = [], None, []
    for line in text.splitlines():
        if line.startswith("# %%"):
            if kind is not None:
                blocks.append((kind, lines))
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            lines.append(line)
    if kind is not None:
        blocks.append((kind, lines))
    for kind, lines in blocks:
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if kind == "markdown":
            lines = [l[2:] if l.startswith("# ") else l.lstrip("#") for l in lines]
        yield kind, "\n".join(lines)


def convert(src: Path, dest: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, (kind, source) in enumerate(cells_from(src.read_text())):
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        cell.id = hashlib.sha1(f"{dest.stem}-{i}".encode()).hexdigest()[:8]
        nb.cells.append(cell)
    nbformat.validate(nb)
    dest.write_text(nbformat.writes(nb) + "\n")


if __name__ == "__main__":
    convert(Path(sys.argv[1]), Path(sys.argv[2]))

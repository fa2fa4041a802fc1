"""Reading a class's submissions: one folder or one ``.zip`` per learner, notebooks found by file name.

Zips are read in memory, never extracted; ``.ipynb_checkpoints``, ``__MACOSX`` and hidden files are ignored, and a
notebook larger than :data:`MAX_NOTEBOOK_BYTES` is not read.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 64 * 2**20  # a lab notebook larger than this (outputs included) is not read


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

"""Build-once artifacts: locked, atomic, content-addressed folders in labkit's cache.

Notebooks may run in parallel (nbmake -n) and each may need the same artifact (say, the tiny
summarizer). :func:`artifact` builds it once under a file lock into a temporary folder and renames
it into place, so a half-written model is never loaded and two kernels never build it twice.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from labkit import config

DONE = "LABKIT_DONE.json"


def content_hash(*parts) -> str:
    """A short sha256 over strings, bytes, files, models (their weights) and JSON-able values: the key of a
    cached artifact."""
    digest = hashlib.sha256()
    for part in parts:
        if hasattr(part, "state_dict"):  # a torch module: its parameters and buffers, by name and exact bytes
            import torch

            for name, tensor in part.state_dict().items():
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(part, Path):
            digest.update(part.read_bytes())
        elif isinstance(part, bytes):
            digest.update(part)
        elif isinstance(part, str):
            digest.update(part.encode())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def artifact(name: str, key: str, build: Callable[[Path], dict | None]) -> Path:
    """Return the cached folder ``<cache>/<name>-<key>``, calling ``build(tmp_folder)`` first if it is missing.

    ``build`` writes into the folder it is given and may return a dict of facts (stored next to the
    files as LABKIT_DONE.json, e.g. build time and losses).
    """
    root = config.cache_dir()
    final = root / f"{name}-{key}"
    if (final / DONE).is_file():
        return final
    with FileLock(str(root / f"{name}-{key}.lock")):
        if (final / DONE).is_file():  # another kernel built it while we waited
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        try:
            info = build(tmp) or {}
            (tmp / DONE).write_text(json.dumps({"name": name, "key": key, **info}, indent=2, default=str),
                                   encoding="utf-8")
            if final.exists():  # a stale, unfinished folder from an interrupted build
                shutil.rmtree(final)
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def discard(folder: Path) -> None:
    """Remove a cached artifact (say, one whose files were damaged) so the next :func:`artifact` rebuilds it."""
    folder = Path(folder)
    with FileLock(str(folder.parent / f"{folder.name}.lock")):
        (folder / DONE).unlink(missing_ok=True)  # first, so a half-deleted folder never looks finished
        shutil.rmtree(folder, ignore_errors=True)


def artifact_info(folder: Path) -> dict:
    """The facts recorded when a cached artifact was built."""
    return json.loads((Path(folder) / DONE).read_text(encoding="utf-8"))

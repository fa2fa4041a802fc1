"""Dialogue data for the labs: DialogSum from the hub, or the project's own DialogSum-style data.

Every split comes back with the same columns, ``id``, ``dialogue``, ``summary``, ``topic``, whatever
the source: the hub copy (``knkarthick/dialogsum``), the project's ``data/dialogsum`` folder, or any
folder holding the original DialogSum release files (JSON Lines with ``fname``, ``dialogue``,
``summary``, ``topic``; the test file may carry ``summary1``/``summary2``/``summary3``).
Notebook 02 introduces the data; notebooks 03 and 05 train on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import datasets

from labkit import config

COLUMNS = ("id", "dialogue", "summary", "topic")

# Release file names for each split, most specific first.
SPLIT_FILES = {
    "train": ("dialogsum.train.jsonl", "train.jsonl"),
    "validation": ("dialogsum.dev.jsonl", "dialogsum.validation.jsonl", "dev.jsonl", "validation.jsonl"),
    "test": ("dialogsum.test.jsonl", "test.jsonl"),
}


class DataFileError(ValueError):
    """A data file is missing or has a line that is not a DialogSum record."""


def _record(raw: dict, path: Path, lineno: int) -> dict:
    """Map one release-format record to labkit's columns (summary1 is the test split's first reference)."""
    missing = [key for key in ("fname", "dialogue") if key not in raw]
    summary = raw.get("summary", raw.get("summary1"))
    topic = raw.get("topic", raw.get("topic1", ""))
    if summary is None:
        missing.append("summary (or summary1)")
    if missing:
        raise DataFileError(f"{path}, line {lineno}: missing field(s) {', '.join(missing)}.")
    return {"id": str(raw["fname"]), "dialogue": raw["dialogue"], "summary": summary, "topic": topic}


def read_records(path: str | Path, required: tuple[str, ...] = (), what: str = "data file",
                 regenerate: str | None = None, check: Callable[[dict], None] | None = None,
                 hint: str | None = None) -> list[dict]:
    """Every JSON object of a JSON Lines file, naming the file and line of a bad record.

    The one reader behind every labkit loader (dialogues, rankings, questions, problem sets...). Blank
    lines are skipped; a line that is not JSON, not an object, lacks a ``required`` field, or makes
    ``check(record)`` raise ``ValueError`` raises :class:`DataFileError` with ``path, line N: ...`` and
    what to do (``regenerate`` names the command that writes the file again; ``hint`` is any other advice).
    """
    path = Path(path)
    fix = (f" Regenerate it with `{regenerate}`." if regenerate else "") + (f" {hint}" if hint else "")
    if not path.is_file():
        raise FileNotFoundError(f"{what.capitalize()} not found: {path}.{fix}")
    records = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFileError(f"{path}, line {lineno}: not valid JSON ({err.msg}). "
                                    f"Fix or remove that line.{fix}") from None
            if not isinstance(raw, dict):
                raise DataFileError(f"{path}, line {lineno}: expected a JSON object, got {type(raw).__name__}.{fix}")
            missing = [key for key in required if key not in raw]
            if missing:
                raise DataFileError(f"{path}, line {lineno}: missing field(s) {', '.join(missing)}.{fix}")
            if check is not None:
                try:
                    check(raw)
                except ValueError as err:
                    raise DataFileError(f"{path}, line {lineno}: {err}{fix}") from None
            records.append(raw)
    if not records:
        raise DataFileError(f"{path} holds no records.{fix}")
    return records


def read_dialogsum_file(path: str | Path) -> list[dict]:
    """Read one DialogSum *release* JSON Lines file into labkit records (columns id, dialogue, summary, topic)."""
    path = Path(path)
    raws = read_records(path, required=("fname", "dialogue"), what="data file",
                        regenerate="python data/dialogsum/generate.py")
    return [_record(raw, path, lineno) for lineno, raw in enumerate(raws, start=1)]


read_jsonl = read_dialogsum_file  # the old name (it only ever read DialogSum files)


def _split_file(folder: Path, split: str) -> Path:
    for name in SPLIT_FILES[split]:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"No {split} file in {folder}: expected one of {', '.join(SPLIT_FILES[split])}. "
        "A DialogSum folder needs train, dev (validation) and test JSON Lines files."
    )


def load_local(folder: str | Path) -> datasets.DatasetDict:
    """Load a folder of DialogSum release-format JSON Lines files as a DatasetDict."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Dialogue folder not found: {folder}.")
    splits = {}
    for split in SPLIT_FILES:
        records = read_dialogsum_file(_split_file(folder, split))
        splits[split] = datasets.Dataset.from_dict({col: [r[col] for r in records] for col in COLUMNS})
    return datasets.DatasetDict(splits)


class DataLayoutError(LookupError):
    """A data set loaded, but without the columns the labs need."""


def load_hub(dataset_id: str) -> datasets.DatasetDict:
    """Load a DialogSum-style data set from the Hugging Face hub (the course's code path)."""
    from labkit.models import HUB_ERRORS, unavailable

    try:
        ds = datasets.load_dataset(dataset_id)
    except HUB_ERRORS as err:  # offline, wrong id, no access
        raise unavailable(dataset_id, err, dataset=True) from err
    for name, split in ds.items():
        missing = [c for c in COLUMNS if c not in split.column_names]
        if missing:
            raise DataLayoutError(f"{dataset_id!r}'s {name} split lacks the DialogSum column(s) {missing} "
                                  f"(it has {split.column_names}).")
    return datasets.DatasetDict({name: split.select_columns(list(COLUMNS)) for name, split in ds.items()})


def project_dialogsum() -> Path:
    """The project's own DialogSum-style folder, ``data/dialogsum``: the tiny profile's ``dialogues`` role."""
    return config.data_dir() / "dialogsum"


def _load_dialogues(source: str) -> datasets.DatasetDict:
    return load_local(source) if Path(source).is_dir() else load_hub(source)


def load_dialogsum(source: str | Path | None = None) -> datasets.DatasetDict:
    """DialogSum as a DatasetDict with train / validation / test splits and columns id, dialogue, summary, topic.

    ``source`` is ``None`` (the active profile's ``dialogues`` role: the hub copy in ``course``, ``data/dialogsum``
    in ``tiny``), a hub id such as ``"knkarthick/dialogsum"``, or a local folder of release JSON Lines files.
    """
    if source is None:
        from labkit.models import load_role

        return load_role("dialogues", _load_dialogues)
    path = Path(source)
    if path.exists():
        return load_local(path)
    text = str(source)
    if text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1:
        raise FileNotFoundError(f"Dialogue folder not found: {text}.")
    return load_hub(text)


def take(split: datasets.Dataset, n: int, what: str = "examples") -> datasets.Dataset:
    """The first ``n`` rows of ``split`` - or all of them, with a one-line note, when it holds fewer.

    A run sized for the course's data (``config.size``) may meet a smaller split (a mirror, a sample, a
    stand-in); asking for more rows than exist would stop with a bare IndexError.
    """
    if n < 0:
        raise ValueError(f"take needs a non-negative number of rows, got {n}.")
    if len(split) < n:
        print(f"labkit: {n} {what} wanted but the split holds {len(split)}; using all {len(split)}.")
        n = len(split)
    return split.select(range(n))

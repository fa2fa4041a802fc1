import json
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import data

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "data" / "dialogsum"


def test_profile_default_is_the_project_data(dialogsum):
    assert set(dialogsum) == {"train", "validation", "test"}
    sizes = {name: len(split) for name, split in dialogsum.items()}
    assert sizes == {"train": 1000, "validation": 100, "test": 200}
    for split in dialogsum.values():
        assert split.column_names == list(data.COLUMNS)


def test_project_data_looks_like_dialogsum(dialogsum):
    train = dialogsum["train"]
    assert len(set(train["topic"])) >= 12
    for row in train.select(range(50)):
        turns = row["dialogue"].split("\n")
        assert all(t.startswith(("#Person1#: ", "#Person2#: ")) for t in turns)
        assert "#Person1#" in row["summary"] or "#Person2#" in row["summary"]
    assert len(set(dialogsum["test"]["id"]) & set(train["id"])) == 0


def test_generator_is_deterministic(tmp_path):
    subprocess.run([sys.executable, str(SHIPPED / "generate.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    for shipped in sorted(SHIPPED.glob("*.jsonl")):
        assert (tmp_path / shipped.name).read_bytes() == shipped.read_bytes(), shipped.name


def _write(folder: Path, name: str, rows: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def _release(folder: Path) -> Path:
    row = {"fname": "train_1", "dialogue": "#Person1#: Hi.\n#Person2#: Hi.", "summary": "They greet.",
           "topic": "greeting"}
    _write(folder, "dialogsum.train.jsonl", [row, {**row, "fname": "train_2"}])
    _write(folder, "dialogsum.dev.jsonl", [{**row, "fname": "dev_1"}])
    test = {"fname": "test_1", "dialogue": row["dialogue"], "summary1": "They greet.", "topic1": "greeting",
            "summary2": "Two people say hi.", "topic2": "greeting", "summary3": "A greeting.", "topic3": "hello"}
    _write(folder, "dialogsum.test.jsonl", [test])
    return folder


def test_release_folder_maps_to_the_same_columns(tmp_path):
    ds = data.load_dialogsum(_release(tmp_path / "release"))
    assert ds["test"][0] == {"id": "test_1", "dialogue": "#Person1#: Hi.\n#Person2#: Hi.",
                             "summary": "They greet.", "topic": "greeting"}
    assert ds["train"]["id"] == ["train_1", "train_2"]
    assert ds["validation"].column_names == list(data.COLUMNS)


def test_missing_split_file_is_named(tmp_path):
    folder = _release(tmp_path / "release")
    (folder / "dialogsum.dev.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="No validation file .*dialogsum.dev.jsonl"):
        data.load_dialogsum(folder)


def test_corrupt_line_names_file_and_line(tmp_path):
    folder = _release(tmp_path / "release")
    path = folder / "dialogsum.train.jsonl"
    path.write_text(path.read_text(encoding="utf-8") + '{"fname": "train_3", "dialogue": \n', encoding="utf-8")
    with pytest.raises(data.DataFileError, match=r"dialogsum.train.jsonl, line 3: not valid JSON"):
        data.load_dialogsum(folder)


def test_missing_field_names_file_line_and_field(tmp_path):
    folder = _release(tmp_path / "release")
    _write(folder, "dialogsum.dev.jsonl", [{"fname": "dev_1", "dialogue": "#Person1#: Hi."}])
    with pytest.raises(data.DataFileError, match=r"dialogsum.dev.jsonl, line 1: missing field\(s\) summary"):
        data.load_dialogsum(folder)


def test_non_object_line(tmp_path):
    folder = _release(tmp_path / "release")
    _write(folder, "dialogsum.dev.jsonl", ["[1, 2]"])
    with pytest.raises(data.DataFileError, match="line 1: expected a JSON object"):
        data.load_dialogsum(folder)


def test_missing_folder_and_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Dialogue folder not found"):
        data.load_dialogsum(str(tmp_path / "nope") + "/")
    with pytest.raises(FileNotFoundError, match="generate.py"):
        data.read_jsonl(tmp_path / "missing.jsonl")


def test_hub_id_offline_says_what_to_do():
    with pytest.raises(RuntimeError, match="LABKIT_PROFILE=tiny"):
        data.load_dialogsum("knkarthick/dialogsum")


def test_take_gives_all_rows_with_a_note_when_the_split_is_smaller(dialogsum, capsys):
    validation = dialogsum["validation"]
    assert len(data.take(validation, 3)) == 3 and capsys.readouterr().out == ""
    rows = data.take(validation, len(validation) + 50, what="dialogues")
    assert len(rows) == len(validation)
    assert f"{len(validation) + 50} dialogues wanted but the split holds {len(validation)}" in capsys.readouterr().out
    with pytest.raises(ValueError, match="non-negative"):
        data.take(validation, -1)


def test_a_hub_copy_without_the_dialogsum_columns_is_named(monkeypatch):
    import datasets

    wrong = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["hi"]})})
    monkeypatch.setattr(datasets, "load_dataset", lambda dataset_id: wrong)
    with pytest.raises(data.DataLayoutError, match=r"'some/copy''s train split lacks the DialogSum column"):
        data.load_hub("some/copy")

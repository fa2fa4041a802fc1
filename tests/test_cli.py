import nbformat
import pytest

from labkit import cli


def test_doctor_reports_without_printing_secrets(monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID1234")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-that-must-not-leak")
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "AKIAEXAMPLEKEYID1234" not in out and "s3cr3t-value-that-must-not-leak" not in out
    assert "AWS credentials" in out and "present (source: env)" in out
    for label in ("python", "torch", "transformers", "auto would choose", "model hub", "device", "labkit cache"):
        assert label in out


def test_doctor_without_credentials(monkeypatch, tmp_path, capsys):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    cli.main(["doctor"])
    assert "none found" in capsys.readouterr().out


def test_doctor_flags_an_invalid_profile(monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_PROFILE", "huge")
    cli.main(["doctor"])
    assert "INVALID" in capsys.readouterr().out


def test_build_labs_check_passes_on_the_repository(capsys):
    assert cli.main(["build-labs", "--check"]) == 0
    assert "in sync" in capsys.readouterr().out


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


@pytest.mark.notebook
def test_run_executes_notebooks_and_summarises(tmp_path, capsys):
    good = _notebook(tmp_path / "a_good.ipynb", "from labkit import config\nprint(config.get_profile().name)")
    bad = _notebook(tmp_path / "b_bad.ipynb", "x = 1", "raise ValueError('boom')", "never = 1")
    out = tmp_path / "runs"
    assert cli.main(["run", str(good), str(bad), "--out", str(out)]) == 1
    text = capsys.readouterr().out
    assert "a_good.ipynb" in text and "b_bad.ipynb" in text and "ValueError: boom" in text
    executed = nbformat.read(out / "a_good.ipynb", as_version=4)
    assert "tiny" in "".join(o.get("text", "") for o in executed.cells[0].outputs)


def test_run_rejects_missing_notebooks(tmp_path):
    assert cli.main(["run", str(tmp_path / "missing.ipynb")]) == 2


def test_exercises_lists_the_catalogue(capsys):
    from labkit import exercises, notebooks

    assert cli.main(["exercises"]) == 0
    out = capsys.readouterr().out
    rows = exercises.catalogue(notebooks.solutions_dir())
    assert f"{len(rows)} exercises" in out and rows[0]["id"] in out
    assert cli.main(["exercises", "--markdown"]) == 0
    assert capsys.readouterr().out == exercises.catalogue_markdown(rows)

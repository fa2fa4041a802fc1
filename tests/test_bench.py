"""bench/run_all.py's results writer: a re-run replaces its own section and keeps the others. No benchmark runs."""

import importlib.util
from pathlib import Path

import pytest

RUN_ALL = Path(__file__).resolve().parents[1] / "bench" / "run_all.py"
SCRIPTS = ["bench_alpha.py", "bench_beta.py", "bench_gamma.py"]
HOST = {"cores": "2", "CPU": "Example CPU", "memory": "8.0 GiB"}
LIBRARIES = {"torch": "2.0", "transformers": "5.0", "trl": "1.0", "peft": "0.1"}


@pytest.fixture(scope="module")
def run_all():
    spec = importlib.util.spec_from_file_location("bench_run_all", RUN_ALL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_rerun_replaces_only_its_section(run_all, tmp_path):
    results = tmp_path / "results.md"
    run_all.write_results(results, run_all.header("2026-01-01 10:00 UTC", HOST, LIBRARIES, 8.5), SCRIPTS, {
        "bench_alpha.py": run_all.ran("2026-01-01 10:00 UTC", 8.5, 12, 0, "alpha: 1.0x\n", "abc1234"),
        "bench_beta.py": run_all.ran("2026-01-01 10:01 UTC", 8.6, 30, 0, "beta: old line\n## not a section\n"),
    })
    run_all.write_results(results, run_all.header("2026-02-02 09:00 UTC", HOST, LIBRARIES, 11.4), SCRIPTS, {
        "bench_beta.py": run_all.ran("2026-02-02 09:00 UTC", 11.4, 31, 1, "beta: new line\n"),
    })

    text = results.read_text(encoding="utf-8")
    sections = run_all.read_sections(results)
    assert list(sections) == SCRIPTS
    assert "alpha: 1.0x" in sections["bench_alpha.py"]
    assert "Ran 2026-01-01 10:00 UTC on commit abc1234, reference timing 8.5 ms" in sections["bench_alpha.py"]
    assert "beta: new line" in sections["bench_beta.py"] and "old line" not in text
    assert "exit code 1" in sections["bench_beta.py"]
    assert sections["bench_gamma.py"] == run_all.NOT_RUN
    # the header describes the latest run, with its reference timing
    head = text[:text.index("## bench_alpha.py")]
    assert "Latest run: 2026-02-02 09:00 UTC" in head
    assert "reference timing: **11.4 ms**" in head
    assert "Example CPU" in head and "torch 2.0" in head


def test_a_script_that_is_gone_loses_its_section_and_a_new_one_gets_a_placeholder(run_all, tmp_path):
    results = tmp_path / "results.md"
    results.write_text("# Benchmark results\n\n## bench_old.py\n\nRan once.\n\n## bench_alpha.py\n\nkept\n")
    run_all.write_results(results, run_all.header("now", HOST, LIBRARIES, 9.0), ["bench_alpha.py", "bench_new.py"], {})
    assert run_all.read_sections(results) == {"bench_alpha.py": "kept", "bench_new.py": run_all.NOT_RUN}


def test_the_host_description_names_cores_and_libraries(run_all):
    host = run_all.machine()
    assert set(host) == {"cores", "CPU", "memory"} and all(host.values())
    assert set(run_all.versions()) == set(run_all.LIBRARIES)

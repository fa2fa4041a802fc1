"""``labkit doctor --course``: the course profile's preflight for a GPU user."""

import subprocess
import sys
from pathlib import Path

import pytest

from labkit import config, doctor, lifecycle

ROOT = Path(__file__).resolve().parent.parent


def _by_notebook():
    return {work.notebook: work for work in doctor.course_workloads()}


def test_every_notebook_has_a_course_workload():
    from labkit.chapters import CHAPTERS

    works = _by_notebook()
    present = {p.stem for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")}
    assert present <= set(works), present - set(works)
    assert {c.notebook[:-len(".ipynb")] for c in CHAPTERS} >= set(works)


def test_memory_comes_from_lifecycles_bytes_per_parameter():
    works = _by_notebook()
    full = sum(lifecycle.memory_per_parameter("fp32", training=True).values())  # 24 bytes per parameter
    n_t5, n_llm = doctor.COURSE_PARAMETERS["summarizer"], doctor.COURSE_PARAMETERS["llm"]
    assert works["03_finetune"].memory_gb() == pytest.approx((n_t5 * full + n_t5 * 4) / 1e9 + doctor.OVERHEAD_GB)
    lora = n_llm * (4 + 8) + n_llm * doctor.LORA_SHARE * full  # frozen weights + activations + trained adapters
    assert works["06_preference"].memory_gb() == pytest.approx(lora / 1e9 + doctor.OVERHEAD_GB)
    bf16, fp32 = works["02_prompts"].memory_gb(bf16=True), works["02_prompts"].memory_gb(bf16=False)
    assert fp32 - bf16 == pytest.approx(n_llm * 2 / 1e9)
    assert works["11_sagemaker"].remote


def test_course_sizes_drive_the_time_estimate(monkeypatch):
    works = _by_notebook()
    hours = works["03_finetune"].hours(peak_tflops=70, bandwidth_gbs=600)
    monkeypatch.setitem(config.SETTINGS["course"]["full"], "max_steps", 2000)
    longer = _by_notebook()["03_finetune"].hours(peak_tflops=70, bandwidth_gbs=600)
    assert 0 < hours < longer
    assert works["03_finetune"].hours(140, 1200) == pytest.approx(hours / 2)


def test_verdicts_against_a_16_gb_gpu(monkeypatch):
    monkeypatch.setattr(doctor, "gpu_here", lambda: {"name": "Tesla T4", "gb": 16.0, "bf16": False, "count": 1,
                                                     "spec": (65.0, 320.0)})
    monkeypatch.setattr(doctor, "course_sources", lambda reachable: [])
    rows = dict(doctor.course_report())
    assert rows["GPU"].startswith("1 x Tesla T4, 16.0 GB")
    assert rows["  03_finetune"].endswith("; fits")
    assert "needs a bigger instance: ml.g5.xlarge (NVIDIA A10G 24 GB" in rows["  06_preference"]
    assert "(estimate)" in rows["  02_prompts"] and "SageMaker" in rows["  11_sagemaker"]


def test_the_smallest_instance_for_a_need():
    assert doctor.smallest_instance(10).startswith("ml.g4dn.xlarge")
    assert doctor.smallest_instance(20).startswith("ml.g5.xlarge")
    assert "shard" in doctor.smallest_instance(500)


def _doctor(env) -> str:
    done = subprocess.run([sys.executable, "-c", "from labkit import cli; raise SystemExit(cli.main(['doctor', "
                           "'--course']))"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_preflight_sizes_each_course_download_from_the_hub(course_env, stand_in_hub):
    out = _doctor(course_env)
    for name, sources in config.ROLES.items():
        repo = stand_in_hub.repos["dataset" if name == "dialogues" else "model", sources["course"].id]
        size = lifecycle.human_bytes(sum(repo.size(path) for path in repo.files if not path.endswith(".md")
                                         or name == "dialogues"))
        assert f"{sources['course'].id}: " in out and f"reachable, download {size}" in out, (name, size)
    assert "course preflight" in out and "00_lifecycle" in out and "(estimate)" in out


def test_the_preflight_offline_says_what_is_missing(course_env):
    out = _doctor({**course_env, "HF_HUB_OFFLINE": "1"})
    assert "hub: HF_HUB_OFFLINE is set" in out
    missing = out.count("NOT available: not in the local cache and the hub is unreachable")
    assert missing + out.count(": in the local cache (") == len(config.ROLES)

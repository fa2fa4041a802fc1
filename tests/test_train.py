"""``python -m labkit.train``: the CLI, its bad-input messages, the loss every process agrees on, and - launched
for real - DDP (and FSDP) on two CPU processes matching one process, and a killed run resuming.

The launched tests are ``slow`` and ``distributed`` (``-m "not distributed"`` skips them): each torch process
pays its start-up, so they cost about a minute of CPU on two cores.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from labkit import cli, config, train

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = config.OFFLINE_ENV
# How close DDP's (and FSDP's) losses must be to one process's, with the same global batch and seed. Both see the
# same examples in the same order and minimise the same token-weighted loss; what differs is float32 rounding
# (each half of the batch is padded to its own longest example, gloo adds the two halves' gradients). Measured
# here: at most 5e-7 over 6 steps. Adam can amplify rounding in parameters whose gradient is near zero (final
# weights differ by up to 1.2e-4), so the bound is 1e-3 on losses near 5: 2000x the measured gap, yet 60x smaller
# than what averaging the two halves' mean losses instead of weighting every token alike changes (0.066), and far
# below a loss scaled by the number of processes (transformers' T5 with the Trainer's default: 2x).
TOLERANCE = 1e-3


@pytest.fixture(autouse=True)
def tiny_profile(monkeypatch):
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", train.KILL_AFTER_STEP):
        monkeypatch.delenv(key, raising=False)


def args(output_dir, *extra, method="full"):
    return ["--method", method, "--max-steps", "2", "--output-dir", str(output_dir), *extra]


# --------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------
def test_help_documents_everything(capsys):
    assert train.main(["--help"]) == 0
    text = capsys.readouterr().out
    for needle in ("--method", "{full,lora}", "--max-steps", "--output-dir", "--seed", "--per-device-batch-size",
                   "--learning-rate", "--logging-steps", "--save-steps", "--n-train", "--fsdp", "--resume",
                   "metrics.json", "run.json", "checkpoint-N", "final/", "torchrun --nproc_per_node",
                   "accelerate launch", "OMP_NUM_THREADS", train.KILL_AFTER_STEP, "exit codes", "docs/distributed.md"):
        assert needle in text, needle


def test_labkit_train_is_the_same_command(capsys):
    assert cli.main(["train", "--help"]) == 0
    assert "python -m labkit.train" in capsys.readouterr().out


def test_an_unknown_method_exits_2_naming_the_choices(tmp_path, capsys):
    assert train.main(args(tmp_path, method="qlora")) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'qlora'" in err and "full" in err and "lora" in err


@pytest.mark.parametrize("extra,message", [
    (["--per-device-batch-size", "0"], "--per-device-batch-size must be at least 1"),
    (["--learning-rate", "-1"], "--learning-rate must be positive"),
    (["--save-steps", "0"], "--save-steps must be at least 1"),
])
def test_bad_numbers_exit_2(tmp_path, capsys, extra, message):
    assert train.main(args(tmp_path, *extra)) == 2
    assert message in capsys.readouterr().err


def test_command_lines():
    assert train.command(1, "--method", "lora")[1:] == ["-m", "labkit.train", "--method", "lora"]
    two = train.command(2, "--method", "full")
    assert two[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    assert two[-4:] == ["-m", "labkit.train", "--method", "full"]
    with pytest.raises(ValueError):
        train.command(0)


# --------------------------------------------------------------------------------------------------
# Where a process sits, threads
# --------------------------------------------------------------------------------------------------
def test_launch_info_reads_the_launchers_environment():
    assert train.launch_info({}) == train.Launch()
    ddp = train.launch_info({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "TORCHELASTIC_RUN_ID": "x"})
    assert (ddp.rank, ddp.local_rank, ddp.world_size, ddp.launcher, ddp.is_main) == (3, 1, 4, "torchrun", False)
    acc = train.launch_info({"WORLD_SIZE": "2", "RANK": "0", "ACCELERATE_MIXED_PRECISION": "no"})
    assert acc.launcher == "accelerate launch" and acc.is_main and acc.distributed


def test_several_cpu_processes_get_one_thread_unless_the_user_chose(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    two = train.Launch(world_size=2)
    env = {}
    assert train.limit_threads(two, on_cpu=True, environ=env) and env["OMP_NUM_THREADS"] == "1" and calls == [1]
    assert not train.limit_threads(two, on_cpu=True, environ={"OMP_NUM_THREADS": "4"})
    assert not train.limit_threads(train.Launch(), on_cpu=True, environ={})
    assert not train.limit_threads(two, on_cpu=False, environ={})
    assert calls == [1]


# --------------------------------------------------------------------------------------------------
# Bad input: each with what to do
# --------------------------------------------------------------------------------------------------
def test_batch_that_the_data_cannot_fill():
    train.check_batch_fits(16, 2, 8)
    with pytest.raises(train.TrainInputError, match=r"4 process\(es\) x per-device batch 4 = 16 examples per step, but "
                                                    r"the tiny profile's training split has only 10") as err:
        train.check_batch_fits(10, 4, 4, "tiny")
    assert "--nproc_per_node 2" in str(err.value) and "--per-device-batch-size 2 or less" in str(err.value)
    with pytest.raises(train.TrainInputError, match="smaller --per-device-batch-size"):
        train.check_batch_fits(3, 1, 4)


def test_more_processes_than_the_data_allows_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert train.main(args(tmp_path, "--n-train", "8", "--per-device-batch-size", "4")) == 2
    err = capsys.readouterr().err
    assert "4 process(es) x per-device batch 4 = 16 examples per step" in err and "--nproc_per_node 2" in err


def _checkpoint(folder: Path, step: int, complete=True, weights="model.safetensors", state="{}") -> Path:
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:
        (path / "trainer_state.json").write_text(state, encoding="utf-8")
    if weights:
        (path / weights).write_bytes(b"")
    return path


RECORD = {"method": "full", "profile": "tiny", "model": "tiny-t5", "seed": 42, "global_batch_size": 8, "n_train": 64,
          "learning_rate": 0.002, "fsdp": None}


def _record(folder: Path, **changes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / train.RUN_RECORD).write_text(json.dumps({**RECORD, **changes}), encoding="utf-8")


def test_output_dir_resumes_from_the_newest_complete_checkpoint(tmp_path):
    assert train.check_output_dir(tmp_path / "new", RECORD, require_checkpoint=False) is None
    _record(tmp_path)
    _checkpoint(tmp_path, 2)
    newest = _checkpoint(tmp_path, 4)
    _checkpoint(tmp_path, 6, complete=False)  # killed while writing it
    assert train.check_output_dir(tmp_path, RECORD, require_checkpoint=True) == str(newest)


def test_resume_without_a_checkpoint(tmp_path):
    with pytest.raises(train.TrainInputError, match="no checkpoint in .* Drop --resume"):
        train.check_output_dir(tmp_path, RECORD, require_checkpoint=True)
    _record(tmp_path)
    _checkpoint(tmp_path, 2, complete=False)
    with pytest.raises(train.TrainInputError, match="no checkpoint in .* is complete"):
        train.check_output_dir(tmp_path, RECORD, require_checkpoint=True)
    assert train.check_output_dir(tmp_path, RECORD, require_checkpoint=False) is None  # starts over


@pytest.mark.parametrize("changes,message", [
    ({"method": "lora"}, "method: checkpoint 'lora', now 'full'"),
    ({"global_batch_size": 16}, "processes x per-device batch = 16"),
    ({"seed": 1}, "seed"),
    ({"fsdp": "fsdp2 full shard (ZeRO-3)"}, "fsdp"),
])
def test_checkpoints_of_another_run_are_refused(tmp_path, changes, message):
    _record(tmp_path, **changes)
    _checkpoint(tmp_path, 2)
    with pytest.raises(train.TrainInputError, match="belong to a different run") as err:
        train.check_output_dir(tmp_path, RECORD, require_checkpoint=False)
    assert message in str(err.value) and "new --output-dir" in str(err.value)


def test_damaged_or_foreign_checkpoints_are_refused(tmp_path):
    _checkpoint(tmp_path / "foreign", 2)
    with pytest.raises(train.TrainInputError, match="did not write"):
        train.check_output_dir(tmp_path / "foreign", RECORD, require_checkpoint=False)
    _record(tmp_path / "damaged")
    _checkpoint(tmp_path / "damaged", 2, state="{not json")
    with pytest.raises(train.TrainInputError, match="trainer_state.json is damaged.*delete"):
        train.check_output_dir(tmp_path / "damaged", RECORD, require_checkpoint=False)
    _record(tmp_path / "no-weights")
    _checkpoint(tmp_path / "no-weights", 2, weights="adapter_model.safetensors")
    with pytest.raises(train.TrainInputError, match="has no model.safetensors"):
        train.check_output_dir(tmp_path / "no-weights", RECORD, require_checkpoint=False)
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(train.TrainInputError, match="is a file"):
        train.check_output_dir(tmp_path / "file", RECORD, require_checkpoint=False)


# --------------------------------------------------------------------------------------------------
# FSDP configuration
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["fsdp_full.json", "fsdp_lora.json"])
def test_shipped_torchrun_fsdp_configs(name):
    spec = train.read_fsdp_config(str(ROOT / "configs" / name))
    assert spec["fsdp"] is True
    assert spec["fsdp_config"]["version"] == 2 and spec["fsdp_config"]["transformer_layer_cls_to_wrap"] == ["T5Block"]
    assert "comment" not in spec["fsdp_config"]


@pytest.mark.parametrize("name", ["accelerate_ddp.yaml", "accelerate_fsdp_full.yaml", "accelerate_fsdp_lora.yaml"])
def test_shipped_accelerate_configs(name):
    import yaml

    spec = yaml.safe_load((ROOT / "configs" / name).read_text(encoding="utf-8"))
    assert spec["num_processes"] >= 2 and spec["use_cpu"] is False
    if "fsdp" in name:
        assert spec["distributed_type"] == "FSDP"
        assert spec["fsdp_config"]["fsdp_version"] == 2
        assert spec["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] == "T5Block"
        assert ("--method lora" in (ROOT / "configs" / name).read_text(encoding="utf-8")) == ("lora" in name)
    else:
        assert spec["distributed_type"] == "MULTI_GPU"


def test_bad_fsdp_configs(tmp_path):
    with pytest.raises(train.TrainInputError, match="no such file.*fsdp_full.json"):
        train.read_fsdp_config(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(train.TrainInputError, match="not valid JSON"):
        train.read_fsdp_config(str(bad))
    bad.write_text('{"version": 2, "shard_everything": true}', encoding="utf-8")
    with pytest.raises(train.TrainInputError, match=r"unknown key\(s\) \['shard_everything'\]"):
        train.read_fsdp_config(str(bad))
    bad.write_text("[1]", encoding="utf-8")
    with pytest.raises(train.TrainInputError, match="JSON object"):
        train.read_fsdp_config(str(bad))
    assert train.read_fsdp_config(None) == {}


def test_fsdp_on_one_process_exits_2(tmp_path, capsys):
    assert train.main(args(tmp_path, "--fsdp", str(ROOT / "configs" / "fsdp_full.json"))) == 2
    assert "single process" in capsys.readouterr().err


def test_fsdp_where_torch_cannot_exits_2(tmp_path, monkeypatch, capsys):
    assert train.fsdp_supported(on_cpu=True) == (True, "CPU over gloo")  # this torch can (verified in a test below)
    monkeypatch.setattr(torch, "__version__", "2.3.1+cpu")
    assert train.fsdp_supported(on_cpu=True)[0] is False
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert train.main(args(tmp_path, "--fsdp", str(ROOT / "configs" / "fsdp_full.json"))) == 2
    err = capsys.readouterr().err
    assert "FSDP cannot run here: torch 2.3.1+cpu cannot shard over gloo" in err and "Run DDP instead" in err
    monkeypatch.setattr(torch.distributed, "is_gloo_available", lambda: False)
    assert "no gloo backend" in train.fsdp_supported(on_cpu=True)[1]


# --------------------------------------------------------------------------------------------------
# The loss every process agrees on
# --------------------------------------------------------------------------------------------------
def test_token_weighted_loss_splits_into_per_process_parts():
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(vocab_size=50, d_model=16, d_kv=4, d_ff=32, num_layers=1,
                                                num_heads=2, dropout_rate=0.0, decoder_start_token_id=0)).eval()
    inputs = torch.randint(2, 50, (4, 7))
    labels = torch.randint(2, 50, (4, 5))
    labels[0, 2:] = -100  # summaries of different lengths: the halves hold different numbers of tokens
    labels[3, 4:] = -100
    mean = model(input_ids=inputs, labels=labels).loss
    train.token_weighted_loss(model)
    tokens = int(labels.ne(-100).sum())
    assert model(input_ids=inputs, labels=labels, num_items_in_batch=tokens).loss.item() == pytest.approx(mean.item(),
                                                                                                          1e-6)
    assert model(input_ids=inputs, labels=labels).loss.item() == pytest.approx(mean.item(), 1e-6)  # no count: unchanged
    halves = [model(input_ids=inputs[i:i + 2], labels=labels[i:i + 2], num_items_in_batch=tokens).loss
              for i in (0, 2)]
    assert sum(h.item() for h in halves) == pytest.approx(mean.item(), 1e-6)  # what DDP's gradient average adds up
    unweighted = sum(model(input_ids=inputs[i:i + 2], labels=labels[i:i + 2]).loss.item() for i in (0, 2)) / 2
    assert abs(unweighted - mean.item()) > 1e-3  # averaging the halves' means is not the same loss


def test_loss_rows():
    history = [{"loss": 5.0, "step": 1, "learning_rate": 1e-3, "grad_norm": 2.0}, {"eval_loss": 4.0, "step": 1},
               {"loss": 4.5, "step": 2, "learning_rate": 5e-4}, {"train_loss": 4.7, "step": 2}]
    assert train.loss_rows(history) == [{"step": 1, "loss": 5.0, "learning_rate": 1e-3, "grad_norm": 2.0},
                                        {"step": 2, "loss": 4.5, "learning_rate": 5e-4}]


# --------------------------------------------------------------------------------------------------
# Real runs
# --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_one_process_lora_run_writes_metrics_and_a_relaunch_continues(tmp_path, capsys):
    out = tmp_path / "lora"
    common = ["--n-train", "16", "--per-device-batch-size", "4", "--save-steps", "1"]
    assert train.main(args(out, *common, method="lora")) == 0
    settings, losses = train.read_metrics(out)
    assert list(losses["step"]) == [1, 2] and settings["resumed_from"] is None and settings["world_size"] == 1
    assert (out / "final" / "adapter_model.safetensors").is_file() and (out / train.RUN_RECORD).is_file()
    assert train.main(["--method", "lora", "--max-steps", "3", "--output-dir", str(out), "--resume", *common]) == 0
    settings, losses = train.read_metrics(out)
    assert settings["resumed_from"] == "checkpoint-2" and settings["steps"] == 3 and list(losses["step"]) == [1, 2, 3]
    capsys.readouterr()
    assert train.main(args(out, *common, method="full")) == 2  # the same folder, another method
    assert "belong to a different run (method: checkpoint 'lora', now 'full'" in capsys.readouterr().err


RUN = ["--method", "full", "--max-steps", "6", "--save-steps", "2", "--n-train", "48", "--seed", "7"]


def launch(nproc: int, output_dir: Path, *extra: str, env: dict | None = None):
    batch = str(8 // nproc)  # the same global batch of 8
    proc = train.launch_local(nproc, *RUN, "--output-dir", str(output_dir), "--per-device-batch-size", batch, *extra,
                              env={**OFFLINE, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})},
                              timeout=600, echo=False)
    return proc


def losses_of(output_dir: Path) -> dict[int, float]:
    return {int(r["step"]): r["loss"] for r in json.loads((output_dir / train.METRICS).read_text("utf-8"))["losses"]}


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    proc = launch(1, out, env=OFFLINE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return losses_of(out)


def assert_same_losses(single: dict, other: dict) -> float:
    assert sorted(other) == sorted(single) == list(range(1, 7))
    gap = max(abs(other[s] - single[s]) for s in single)
    assert gap <= TOLERANCE, f"largest loss difference {gap:.2e} > {TOLERANCE}: {single} vs {other}"
    return gap


@pytest.mark.slow
@pytest.mark.distributed
@pytest.mark.timeout(1500)
def test_ddp_on_two_cpu_processes_matches_one_process_and_resumes_after_a_kill(tmp_path, one_process):
    out = tmp_path / "ddp"
    killed = launch(2, out, env={train.KILL_AFTER_STEP: "3"})
    assert killed.returncode != 0 and "SIGKILL" in killed.stdout + killed.stderr
    assert (out / "checkpoint-2" / "trainer_state.json").is_file() and not (out / "final").exists()
    assert max(losses_of(out)) < 6  # metrics.json kept what was logged before the kill

    resumed = launch(2, out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout and "checkpoint-2" in resumed.stdout
    settings = json.loads((out / train.METRICS).read_text("utf-8"))
    assert (settings["world_size"], settings["per_device_batch_size"]) == (2, 4)
    assert settings["resumed_from"] == "checkpoint-2"
    gap = assert_same_losses(one_process, losses_of(out))
    print(f"DDP (2 processes x batch 4, killed after step 3 and resumed) vs one process x batch 8: "
          f"largest loss difference {gap:.1e}")


@pytest.mark.slow
@pytest.mark.distributed
@pytest.mark.timeout(900)
def test_fsdp_on_two_cpu_processes_matches_one_process(tmp_path, one_process):
    out = tmp_path / "fsdp"
    proc = launch(2, out, "--fsdp", str(ROOT / "configs" / "fsdp_full.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / train.METRICS).read_text("utf-8"))["fsdp"] == "fsdp2 full shard (ZeRO-3)"
    assert (out / "final" / "model.safetensors").is_file()
    gap = assert_same_losses(one_process, losses_of(out))
    print(f"FSDP full shard (2 processes) vs one process: largest loss difference {gap:.1e}")


def test_markers_are_registered():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"distributed:' in text and '"slow:' in text
    assert os.environ.get("LABKIT_PROFILE") == "tiny"

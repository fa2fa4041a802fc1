"""Notebook 03's fine-tuning as a script that runs unchanged on one process, under torchrun and under accelerate.

Notebook 00 teaches what the distributed runs buy (DDP vs FSDP and ZeRO stages, memory per GPU) and launches
a 2-process run of this script; notebook 03 does the same fine-tuning interactively. There is no second
implementation: the model, data, tokenization, LoRA and the Trainer loop all come from :mod:`labkit.finetune`::

    python -m labkit.train --method lora --max-steps 50 --output-dir runs/lora
    labkit train --method lora --max-steps 50 --output-dir runs/lora               # the same
    torchrun --nproc_per_node 2 -m labkit.train --method full --max-steps 50 --output-dir runs/ddp
    accelerate launch --config_file configs/accelerate_fsdp_lora.yaml -m labkit.train --method lora ...

What it guarantees (docs/distributed.md says what was verified where):

* ``DIR/metrics.json`` holds the loss at every logged step (rewritten at each log, so a killed run keeps what
  it logged), the run's settings and where it resumed from; only rank 0 writes it.
* Checkpoints: rank 0 writes the model, optimizer, scheduler and trainer state (the Trainer's rule); every rank
  adds its own RNG state file. A re-launch resumes from the newest *complete* checkpoint
  (:func:`labkit.finetune.last_checkpoint` skips one a kill left half-written).
* The global batch is ``processes x --per-device-batch-size``; by default the profile's batch (notebook 03's) is
  split across the processes, so one process and N processes train the same thing.
* Bad input - an unknown method, more processes than the data has examples for, a missing or incompatible
  checkpoint, FSDP where torch cannot run it - ends with exit code 2 and a message that says what to do.
* On CPU with several processes and no ``OMP_NUM_THREADS`` set, each process uses one thread (and says so):
  several torch processes that each spread over every core slow each other down ten times and more.

Fault injection for tests and demos: ``LABKIT_TRAIN_KILL_AFTER_STEP=k`` makes rank 0 SIGKILL itself right after
step ``k`` (a real kill, at a reproducible point), so the re-launch can be checked against an uninterrupted run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

METHODS = ("full", "lora")
METRICS = "metrics.json"
RUN_RECORD = "run.json"  # the settings a checkpoint folder was trained with: a re-launch must match them
KILL_AFTER_STEP = "LABKIT_TRAIN_KILL_AFTER_STEP"
# What must agree between the run that wrote the checkpoints and the one resuming from them.
RESUME_KEYS = ("method", "profile", "model", "seed", "global_batch_size", "n_train", "learning_rate", "fsdp")


class TrainInputError(Exception):
    """Bad input to ``labkit.train``; the message says what to do. ``main`` turns it into exit code 2."""


# --------------------------------------------------------------------------------------------------
# Where this process sits in the launch
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Launch:
    """This process's place in a (possibly distributed) launch, read from the launcher's environment."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    launcher: str = "python"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launch_info(environ=None) -> Launch:
    """Rank, local rank and world size as torchrun, ``accelerate launch`` and SageMaker's torchrun set them."""
    env = os.environ if environ is None else environ
    world = int(env.get("WORLD_SIZE", "1") or 1)
    if any(key.startswith("ACCELERATE_") for key in env) and world > 1:
        launcher = "accelerate launch"
    elif "TORCHELASTIC_RUN_ID" in env or world > 1:
        launcher = "torchrun"
    else:
        launcher = "python"
    return Launch(rank=int(env.get("RANK", "0") or 0), local_rank=int(env.get("LOCAL_RANK", "0") or 0),
                  world_size=world, launcher=launcher)


def log(message: str, launch: Launch | None = None, everyone: bool = False) -> None:
    """Print a line from rank 0 (or from every rank, tagged with its rank)."""
    launch = launch or launch_info()
    if launch.is_main or everyone:
        tag = f"labkit.train[{launch.rank}/{launch.world_size}]" if launch.distributed else "labkit.train"
        print(f"{tag}: {message}", flush=True)


def limit_threads(launch: Launch, on_cpu: bool, environ=None) -> bool:
    """One OpenMP thread per process for several processes on CPU, unless the user chose ``OMP_NUM_THREADS``.

    Returns whether it set the limit. Two torch processes that each use every core of a small machine spend
    their time fighting over the cores: measured here, ten times slower and more.
    """
    env = os.environ if environ is None else environ
    if not (launch.distributed and on_cpu) or env.get("OMP_NUM_THREADS"):
        return False
    import torch

    env["OMP_NUM_THREADS"] = "1"
    env.setdefault("MKL_NUM_THREADS", "1")
    torch.set_num_threads(1)
    return True


# --------------------------------------------------------------------------------------------------
# Checks on the input, each with what to do
# --------------------------------------------------------------------------------------------------
def check_batch_fits(n_examples: int, world_size: int, per_device_batch_size: int, profile: str = "") -> None:
    """Every process needs at least one full batch of distinct examples per step."""
    need = world_size * per_device_batch_size
    if need <= n_examples:
        return
    where = f"the {profile} profile's" if profile else "the"
    most = n_examples // per_device_batch_size
    advice = (f"use at most {most} process(es) (--nproc_per_node {most})" if most >= 1
              else "use a smaller --per-device-batch-size")
    if world_size > 1 and n_examples >= world_size:
        advice += f", or --per-device-batch-size {n_examples // world_size} or less with {world_size} processes"
    raise TrainInputError(
        f"{world_size} process(es) x per-device batch {per_device_batch_size} = {need} examples per step, but "
        f"{where} training split has only {n_examples} examples: {advice}.")


def fsdp_supported(on_cpu: bool) -> tuple[bool, str]:
    """Can torch run FSDP here? (On CPU it needs the gloo backend's reduce-scatter and all-gather.)"""
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        return False, f"this torch build ({torch.__version__}) has no torch.distributed"
    if not on_cpu:
        return True, "GPU"
    if not dist.is_gloo_available():
        return False, f"this torch build ({torch.__version__}) has no gloo backend, the only CPU backend for FSDP"
    major, minor = (int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    if (major, minor) < (2, 4):
        return False, f"torch {torch.__version__} cannot shard over gloo (FSDP on CPU needs torch 2.4 or newer)"
    return True, "CPU over gloo"


FSDP_KEYS = ("version", "reshard_after_forward", "cpu_offload", "activation_checkpointing", "cpu_ram_efficient_loading",
             "state_dict_type", "auto_wrap_policy", "transformer_layer_cls_to_wrap", "min_num_params",
             "forward_prefetch", "backward_prefetch", "use_orig_params", "sync_module_states", "limit_all_gathers")


def read_fsdp_config(path: str | None) -> dict:
    """The Trainer's FSDP arguments (``fsdp=True`` and ``fsdp_config``) from a JSON file of ``fsdp_config`` keys.

    The file holds transformers' ``fsdp_config`` (``version``, ``reshard_after_forward``, ...; see
    configs/fsdp_full.json), plus an optional ``comment``. Unknown keys are refused rather than ignored.
    """
    if not path:
        return {}
    file = Path(path)
    if not file.is_file():
        shipped = sorted(p.name for p in (Path(__file__).resolve().parent.parent / "configs").glob("fsdp_*.json"))
        raise TrainInputError(f"--fsdp {path}: no such file. The project ships {', '.join(shipped) or 'none'} in "
                              "configs/.")
    try:
        spec = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as err:
        raise TrainInputError(f"--fsdp {path} is not valid JSON ({err}); start from configs/fsdp_full.json.") from None
    if not isinstance(spec, dict):
        raise TrainInputError(f"--fsdp {path} must hold a JSON object of fsdp_config keys; see configs/fsdp_full.json.")
    spec = {key.removeprefix("fsdp_"): value for key, value in spec.items() if key != "comment"}
    unknown = sorted(set(spec) - set(FSDP_KEYS))
    if unknown:
        raise TrainInputError(f"--fsdp {path}: unknown key(s) {unknown}; transformers' fsdp_config knows "
                              f"{', '.join(FSDP_KEYS)}.")
    return {"fsdp": True, "fsdp_config": spec}


def _fsdp_name(fsdp: dict) -> str:
    """How a run shards, for run.json: a resumed run must shard the same way (FSDP checkpoints differ)."""
    if not fsdp:
        return "accelerate config"
    reshard = str(fsdp["fsdp_config"].get("reshard_after_forward", True)).lower() in {"true", "1", "full_shard"}
    how = "full shard (ZeRO-3)" if reshard else "shard grad+optimizer (ZeRO-2)"
    return f"fsdp{fsdp['fsdp_config'].get('version', 2)} {how}"


def fsdp_from_accelerate(environ=None) -> bool:
    """Did ``accelerate launch`` with an FSDP config start this process?"""
    env = os.environ if environ is None else environ
    return env.get("ACCELERATE_USE_FSDP", "").lower() in {"1", "true", "yes"}


def checkpoints(output_dir: Path) -> list[Path]:
    """Every ``checkpoint-N`` folder in ``output_dir``, oldest first (complete or not)."""
    found = [p for p in output_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def check_output_dir(output_dir: Path, record: dict, require_checkpoint: bool) -> str | None:
    """The checkpoint a launch will resume from (None: a fresh start), or a :class:`TrainInputError`.

    Refuses a folder whose checkpoints another kind of run wrote (a different method, model, profile, seed,
    global batch or data), a damaged newest checkpoint, and ``--resume`` with nothing to resume from.
    """
    from labkit.finetune import last_checkpoint

    if output_dir.exists() and not output_dir.is_dir():
        raise TrainInputError(f"--output-dir {output_dir} is a file; pass a folder.")
    found = checkpoints(output_dir) if output_dir.is_dir() else []
    resume = last_checkpoint(output_dir)
    if not found:
        if require_checkpoint:
            raise TrainInputError(f"--resume: there is no checkpoint in {output_dir} to resume from. Drop --resume "
                                  "to start a new run there, or point --output-dir at the run to continue.")
        return None
    saved = output_dir / RUN_RECORD
    if not saved.is_file():
        raise TrainInputError(f"{output_dir} holds checkpoint folders that labkit.train did not write (no "
                              f"{RUN_RECORD}): choose a new --output-dir (or an empty one).")
    try:
        before = json.loads(saved.read_text(encoding="utf-8"))
    except ValueError as err:
        raise TrainInputError(f"{saved} is damaged ({err}); choose a new --output-dir.") from None
    differ = {key: (before.get(key), record.get(key)) for key in RESUME_KEYS if before.get(key) != record.get(key)}
    if differ:
        what = "; ".join(f"{key}: checkpoint {old!r}, now {new!r}" for key, (old, new) in differ.items())
        hint = ""
        if "global_batch_size" in differ:
            hint = (" To resume on a different number of processes keep the global batch: set "
                    "--per-device-batch-size so that processes x per-device batch = "
                    f"{before.get('global_batch_size')}.")
        raise TrainInputError(f"The checkpoints in {output_dir} belong to a different run ({what}). Resume with the "
                              f"same settings, or choose a new --output-dir to start this one.{hint}")
    if resume is None:
        if require_checkpoint:
            raise TrainInputError(f"--resume: no checkpoint in {output_dir} is complete (each lacks trainer_state.json:"
                                  " the run was killed while writing it). Drop --resume to start over there.")
        return None
    try:
        json.loads((Path(resume) / "trainer_state.json").read_text(encoding="utf-8"))
    except ValueError as err:
        raise TrainInputError(f"{resume}/trainer_state.json is damaged ({err}): delete {resume} to resume from the "
                              "checkpoint before it, or choose a new --output-dir.") from None
    weights = "adapter_model.safetensors" if record["method"] == "lora" else "model.safetensors"
    if not record.get("fsdp") and not (Path(resume) / weights).is_file():
        raise TrainInputError(f"{resume} has no {weights}, which a --method {record['method']} checkpoint holds: "
                              "it is incomplete or from another kind of run. Delete it, or choose a new --output-dir.")
    return resume


# --------------------------------------------------------------------------------------------------
# The loss every process agrees on
# --------------------------------------------------------------------------------------------------
def token_weighted_loss(model):
    """Make the model's loss honour the Trainer's ``num_items_in_batch``: summed over tokens, divided by the
    number of label tokens in the *global* batch.

    With several processes the Trainer counts the label tokens of the whole global batch, hands the count to
    the model and multiplies each process's loss by the number of processes, so that DDP's gradient average
    equals one process's gradient over the whole batch. That contract needs a loss that divides by the count;
    transformers' T5 ignores it and averages over its own tokens, which would scale the loss and gradients by
    the number of processes and weight the processes' tokens unequally. This forward hook recomputes the loss
    the way the contract says. On one process the count is the batch's own, so the value is T5's usual mean.
    Returns ``model`` (the hook is registered on it).
    """
    import torch.nn.functional as F

    def hook(module, args, kwargs, output):
        count, labels = kwargs.get("num_items_in_batch"), kwargs.get("labels")
        logits = getattr(output, "logits", None)
        if count is None or labels is None or logits is None:
            return output
        total = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1).to(logits.device),
                                ignore_index=-100, reduction="sum")
        output.loss = total / count
        return output

    model.register_forward_hook(hook, with_kwargs=True)
    return model


# --------------------------------------------------------------------------------------------------
# metrics.json, and a kill at a reproducible point
# --------------------------------------------------------------------------------------------------
def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def loss_rows(log_history: list[dict]) -> list[dict]:
    """One row per logged training step: step, loss, and the learning rate and gradient norm when logged."""
    rows = []
    for entry in log_history:
        if "loss" in entry:
            row = {"step": int(entry["step"]), "loss": float(entry["loss"])}
            for key in ("learning_rate", "grad_norm"):
                if entry.get(key) is not None:
                    row[key] = float(entry[key])
            rows.append(row)
    return rows


def _callbacks(output_dir: Path, summary: dict, launch: Launch) -> list:
    from transformers import TrainerCallback

    class WriteMetrics(TrainerCallback):
        """Rank 0 rewrites metrics.json at every log: the losses survive a killed run."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero:
                _write_json_atomic(output_dir / METRICS, {**summary, "steps": state.global_step,
                                                          "losses": loss_rows(state.log_history)})

    class KillAfterStep(TrainerCallback):
        """``LABKIT_TRAIN_KILL_AFTER_STEP=k``: rank 0 SIGKILLs itself after step k (fault injection)."""

        def __init__(self, step: int):
            self.step = step

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == self.step and launch.is_main:
                log(f"{KILL_AFTER_STEP}={self.step}: killing rank 0 now (SIGKILL), as a crash would", launch)
                os.kill(os.getpid(), signal.SIGKILL)

    callbacks = [WriteMetrics()]
    if os.environ.get(KILL_AFTER_STEP):
        callbacks.append(KillAfterStep(int(os.environ[KILL_AFTER_STEP])))
    return callbacks


def read_metrics(output_dir: str | Path):
    """``DIR/metrics.json`` as (settings dict, losses DataFrame with columns step, loss, ...)."""
    import pandas as pd

    data = json.loads((Path(output_dir) / METRICS).read_text(encoding="utf-8"))
    losses = pd.DataFrame(data.pop("losses"))
    return data, losses


# --------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.train",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fine-tune the profile's summarizer on its dialogues (notebook 03's full or LoRA fine-tuning) "
                    "as a script. Runs unchanged on one process, under `torchrun --nproc_per_node N` (DDP; FSDP "
                    "with --fsdp) and under `accelerate launch` (DDP or FSDP from its config file).",
        epilog="""\
outputs in --output-dir:
  metrics.json        the loss (and learning rate, gradient norm) at every logged step, the settings, the
                      number of processes and where the run resumed from; rewritten at each log by rank 0
  run.json            the settings the checkpoints belong to (a re-launch must use the same ones)
  checkpoint-N/       written by rank 0 (plus one RNG file per rank); a re-launch resumes from the newest
                      complete one - the same command continues an interrupted run
  final/              the trained model (full) or adapter (lora) and its tokenizer

examples:
  python -m labkit.train --method lora --max-steps 50 --output-dir runs/lora
  torchrun --nproc_per_node 2 -m labkit.train --method full --max-steps 50 --output-dir runs/ddp
  torchrun --nproc_per_node 8 -m labkit.train --method full --max-steps 1000 --output-dir runs/fsdp \\
      --fsdp configs/fsdp_full.json
  accelerate launch --config_file configs/accelerate_fsdp_lora.yaml -m labkit.train --method lora \\
      --max-steps 1000 --output-dir runs/fsdp-lora

environment:
  LABKIT_PROFILE            tiny | course | auto: which model and data (see the README)
  OMP_NUM_THREADS           set to 1 per process when several processes run on CPU and it is unset
  LABKIT_TRAIN_KILL_AFTER_STEP=k   rank 0 kills itself after step k (to test resuming)

exit codes: 0 done, 2 bad input (the message says what to do), 1 training failed.
See docs/distributed.md for what was verified on which hardware.""")
    parser.add_argument("--method", required=True, choices=METHODS,
                        help="full: every weight is trained; lora: low-rank adapters on the attention projections "
                             "(the profile's LoRA settings)")
    parser.add_argument("--max-steps", required=True, type=int, metavar="N",
                        help="optimizer steps in total (a resumed run counts the steps it already did)")
    parser.add_argument("--output-dir", required=True, metavar="DIR",
                        help="checkpoints, metrics.json and the final model go here; re-launching with the same "
                             "DIR resumes")
    parser.add_argument("--seed", type=int, default=42, metavar="S", help="seed for LoRA's init and the data order "
                        "(default: 42)")
    parser.add_argument("--per-device-batch-size", type=int, metavar="B",
                        help="examples per process per step (default: the profile's batch - 16 tiny, 8 course - "
                             "divided by the number of processes, so the global batch stays the notebook's)")
    parser.add_argument("--learning-rate", type=float, metavar="LR",
                        help="default: the profile's learning rate for the method (labkit.config SETTINGS)")
    parser.add_argument("--logging-steps", type=int, default=1, metavar="K",
                        help="log the loss every K steps (default: 1)")
    parser.add_argument("--save-steps", type=int, metavar="K",
                        help="write a checkpoint every K steps (default: a quarter of --max-steps)")
    parser.add_argument("--n-train", type=int, metavar="M",
                        help="train on the first M dialogues of the training split (default: all of it)")
    parser.add_argument("--fsdp", metavar="CONFIG.json",
                        help="shard with FSDP under torchrun: a JSON file of transformers' fsdp_config keys "
                             "(configs/fsdp_full.json, configs/fsdp_lora.json). Under `accelerate launch`, FSDP "
                             "comes from its --config_file instead (configs/accelerate_fsdp_*.yaml)")
    parser.add_argument("--resume", action="store_true",
                        help="require a checkpoint in DIR (default: resume if there is one, else start fresh)")
    return parser


def _validate(args, parser) -> None:
    for name in ("max_steps", "per_device_batch_size", "logging_steps", "save_steps", "n_train"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise TrainInputError(f"--{name.replace('_', '-')} must be at least 1, got {value}.")
    if args.learning_rate is not None and not args.learning_rate > 0:
        raise TrainInputError(f"--learning-rate must be positive, got {args.learning_rate}.")


def run(args, launch: Launch | None = None) -> dict:
    """Train as ``args`` say; returns the summary written to metrics.json (losses included)."""
    launch = launch or launch_info()
    import torch

    from labkit import config, finetune
    from labkit.data import load_dialogsum
    from labkit.models import load_summarizer, summarizer_source

    on_cpu = not torch.cuda.is_available()
    if limit_threads(launch, on_cpu):
        log(f"OMP_NUM_THREADS was not set: each of the {launch.world_size} processes uses 1 CPU thread "
            "(torch processes that each use every core slow each other down); set OMP_NUM_THREADS to choose.", launch)

    fsdp = read_fsdp_config(args.fsdp)
    fsdp_on = bool(fsdp) or fsdp_from_accelerate()
    if fsdp_on:
        if not launch.distributed:
            raise TrainInputError("FSDP shards the model across processes, but this is a single process: launch "
                                  "with `torchrun --nproc_per_node N` (N >= 2) or `accelerate launch` with an FSDP "
                                  "config, or drop --fsdp.")
        supported, where = fsdp_supported(on_cpu)
        if not supported:
            raise TrainInputError(f"FSDP cannot run here: {where}. Run DDP instead (drop --fsdp, or use "
                                  "configs/accelerate_ddp.yaml), or use a GPU machine.")

    profile = config.get_profile().name
    settings = config.setting(args.method)
    default_batch = int(settings["batch_size"])
    per_device = args.per_device_batch_size or max(1, default_batch // launch.world_size)
    learning_rate = args.learning_rate or float(settings["learning_rate"])
    output_dir = Path(args.output_dir)

    dialogues = load_dialogsum()["train"]
    n_train = min(args.n_train or len(dialogues), len(dialogues))
    check_batch_fits(n_train, launch.world_size, per_device, profile)

    lora_settings = config.setting("lora_config") if args.method == "lora" else None
    record = {"method": args.method, "profile": profile, "model": summarizer_source(), "seed": args.seed,
              "global_batch_size": per_device * launch.world_size, "n_train": n_train,
              "learning_rate": learning_rate, "fsdp": _fsdp_name(fsdp) if fsdp_on else None,
              "lora_config": lora_settings}
    resume_from = check_output_dir(output_dir, record, require_checkpoint=args.resume)

    summary = {**record, "max_steps": args.max_steps, "world_size": launch.world_size,
               "per_device_batch_size": per_device, "launcher": launch.launcher,
               "device": "cpu" if on_cpu else "cuda", "torch_threads": torch.get_num_threads(),
               "resumed_from": Path(resume_from).name if resume_from else None}
    how = "FSDP" if fsdp_on else "DDP" if launch.distributed else "one process"
    resuming = f"; resuming from {resume_from}" if resume_from else ""
    log(f"{args.method} fine-tuning of {record['model']} ({profile} profile) on {n_train} dialogues: "
        f"{launch.world_size} process(es) x batch {per_device} = global batch {record['global_batch_size']}, "
        f"{args.max_steps} steps, lr {learning_rate:g}, {how}{resuming}", launch)
    if launch.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(output_dir / RUN_RECORD, record)

    config.set_seed(args.seed)
    model, tokenizer = load_summarizer()
    if args.method == "lora":
        model = finetune.add_lora(model, finetune.lora_config(**lora_settings))
    token_weighted_loss(model)
    train_split = finetune.tokenize_dialogues(dialogues.select(range(n_train)), tokenizer)
    started = time.perf_counter()
    result = finetune.train(
        model, tokenizer, train_split, output_dir, learning_rate=learning_rate, max_steps=args.max_steps,
        batch_size=per_device, save_steps=args.save_steps, logging_steps=args.logging_steps, seed=args.seed,
        resume=True, callbacks=_callbacks(output_dir, summary, launch), disable_tqdm=True,
        ddp_find_unused_parameters=False, **fsdp)
    elapsed = time.perf_counter() - started
    result.trainer.save_model(str(output_dir / "final"))  # every rank calls it (FSDP gathers); rank 0 writes
    summary.update(steps=result.steps, seconds=round(elapsed, 2), losses=loss_rows(result.trainer.state.log_history))
    if launch.is_main:
        _write_json_atomic(output_dir / METRICS, summary)
        last = summary["losses"][-1]["loss"] if summary["losses"] else float("nan")
        log(f"done: {result.steps} steps in {elapsed:.1f} s, last logged loss {last:.4f}; "
            f"{output_dir / METRICS}, model in {output_dir / 'final'}", launch)
    if launch.distributed and torch.distributed.is_initialized():
        torch.distributed.barrier()  # no rank leaves while another still talks to it
        del result, model  # DDP's reducer holds the process group: free it while every peer is alive
        gc.collect()
        torch.distributed.destroy_process_group()
    return summary


def main(argv: list[str] | None = None) -> int:
    """``python -m labkit.train`` / ``labkit train``: 0 on success, 2 on bad input, 1 when training failed."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2, argparse printed why)
        return int(stop.code or 0)
    launch = launch_info()
    try:
        _validate(args, parser)
        run(args, launch)
    except TrainInputError as err:
        if launch.is_main:
            print(f"labkit.train: error: {err}", file=sys.stderr, flush=True)
        return 2
    return 0


# --------------------------------------------------------------------------------------------------
# Launching from a notebook or a test
# --------------------------------------------------------------------------------------------------
def command(nproc: int = 1, *train_args: str) -> list[str]:
    """The command line that runs ``labkit.train`` on ``nproc`` local processes (torchrun when nproc > 1)."""
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    if nproc == 1:
        return [sys.executable, "-m", "labkit.train", *train_args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "labkit.train", *train_args]


def launch_local(nproc: int, *train_args: str, env: dict | None = None, timeout: float = 900,
                 echo: bool = True) -> subprocess.CompletedProcess:
    """Run ``labkit.train`` on this machine in ``nproc`` processes and wait; output is captured (and echoed).

    Each process gets one OpenMP thread unless ``OMP_NUM_THREADS`` is already set: on a CPU, N processes with
    one thread each is the fair comparison with one process.
    """
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("OMP_NUM_THREADS", "1")
    full_env.setdefault("MKL_NUM_THREADS", "1")
    proc = subprocess.run(command(nproc, *train_args), env=full_env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if echo:
        shown = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("labkit.train")]
        print("\n".join(shown))
    return proc


def _exit(code: int) -> None:
    """Leave the process. Under a launcher, skip the interpreter's teardown: gloo's process-group destructor can
    wait forever for a peer that has already exited (pytorch/pytorch#75097); every file is written by now."""
    sys.stdout.flush()
    sys.stderr.flush()
    if launch_info().distributed:
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    _exit(main())

"""Fine-tune a JumpStart model as a SageMaker training job (stopped when its wait is interrupted)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

from labkit import config
from labkit.sagemaker.costs import DEFAULT_MODEL_ID, DEFAULT_TRAINING_INSTANCE_TYPE, check_plan, plan
from labkit.sagemaker.deploy import _run_id, _short, tags
from labkit.sagemaker.jumpstart import _peft_options, lora_supported, resolve_version, training_hyperparameters
from labkit.sagemaker.resources import ACTIVE
from labkit.sagemaker.sdk import _sdk
from labkit.sagemaker.target import Target, _require_confirmed

# --- fine-tuning -----------------------------------------------------------------------------------

def training_records(split: str = "train", limit: int | None = None) -> list[dict]:
    """The project's DialogSum-style dialogues as JumpStart text2text training records (prompt, completion)."""
    from labkit import prompts
    from labkit.data import SPLIT_FILES, read_dialogsum_file

    folder = config.data_dir() / "dialogsum"
    path = next((folder / name for name in SPLIT_FILES[split] if (folder / name).is_file()),
                folder / SPLIT_FILES[split][0])
    records = [{"prompt": prompts.zero_shot(r["dialogue"]), "completion": r["summary"]}
               for r in read_dialogsum_file(path)]
    return records[:limit] if limit else records


def upload_training_data(target: Target, records: list[dict], prefix: str = "labkit/dialogsum-train") -> str:
    """Upload ``records`` as JSON Lines (plus the prompt/completion template) to S3; returns the folder URI."""
    s3 = target.boto_session.client("s3")
    bucket = target.sagemaker_session.default_bucket()
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    s3.put_object(Bucket=bucket, Key=f"{prefix}/train.jsonl", Body=lines.encode("utf-8"))
    template = {"prompt": "{prompt}", "completion": "{completion}"}
    s3.put_object(Bucket=bucket, Key=f"{prefix}/template.json", Body=json.dumps(template).encode("utf-8"))
    return f"s3://{bucket}/{prefix}/"


@dataclass
class TrainingRun:
    """A fine-tuning job labkit started: its name, final status and where the model artifacts are."""

    job_name: str
    status: str
    artifacts: str | None
    hyperparameters: dict
    lora: bool
    model_id: str
    model_version: str


def unknown_name(name: str, known, what: str) -> str | None:
    """None if ``name`` is in ``known``; else the message for it, with the closest known name as a hint.

    The one name check behind :func:`check_hyperparameters` (JumpStart), :func:`script_hyperparameters`
    (labkit.train's flags) and notebook 11's checks.
    """
    import difflib

    known = [k for k in known if not k.startswith("sagemaker_")]
    if name in known:
        return None
    if name.startswith("sagemaker_"):
        return f"{name!r}: the SDK drops every hyperparameter whose name starts with 'sagemaker_'. Leave it out."
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"{name!r} is not {what}.{hint} It lists: {', '.join(known)}."


def check_hyperparameters(hyperparameters: dict, spec: list[dict]) -> dict:
    """Hyperparameters as JumpStart sends them: known names only, every value a string."""
    known = {h["name"]: h for h in spec}
    out = {}
    for name, value in hyperparameters.items():
        problem = unknown_name(name, known, "a hyperparameter of this model's spec")
        if problem:
            raise ValueError(problem)
        options = [str(o) for o in known[name]["options"]]
        if options and str(value) not in options:
            raise ValueError(f"{name}={value!r}: the spec allows {options}.")
        out[name] = value if isinstance(value, str) else json.dumps(value) if isinstance(value, bool) else str(value)
    return out


def _wait_or_stop(target: Target, job, timeout_s: int) -> None:
    """Wait for a training job; if the wait ends any other way (Ctrl-C, the ■ button, a timeout), stop the job
    - it bills until it ends - and re-raise."""
    try:
        job.wait(poll=target.poll_seconds, timeout=timeout_s)
    except BaseException:
        with contextlib.suppress(Exception):
            job.refresh()
            if job.training_job_status in ACTIVE:
                job.stop()
                print(f"Stopped training job {job.training_job_name} so it stops billing.")
        raise


def fine_tune(target: Target, training_data: str, hyperparameters: dict | None = None, *,
              model_id: str = DEFAULT_MODEL_ID, model_version: str = "*",
              instance_type: str = DEFAULT_TRAINING_INSTANCE_TYPE, instance_count: int = 1, lora: bool | None = None,
              wait: bool = True, timeout_s: int = 6 * 3600, allowed: tuple[str, ...] | list[str] | None = None,
              max_usd_per_hour: float | None = None, override: bool = False) -> TrainingRun:
    """Fine-tune a JumpStart model on ``training_data`` (an S3 folder) with ``ModelTrainer.from_jumpstart_config``.

    LoRA is used when the spec offers it (``lora=None``), required with ``lora=True``, and off with
    ``lora=False``. Interrupting the wait stops the job, so it stops billing.
    """
    p = plan("fine-tune (training job)", instance_type, instance_count, model_id=model_id, target=target)
    print(p)
    check_plan(p, allowed=allowed, max_usd_per_hour=max_usd_per_hour, override=override)
    _require_confirmed(target, p)
    sdk = _sdk()
    version = resolve_version(target, model_id, model_version)
    spec = training_hyperparameters(target, model_id, version)
    if not spec:
        raise ValueError(f"The JumpStart spec of {model_id} {version} does not support fine-tuning.")
    offers_lora = lora_supported(spec)
    hp = dict(hyperparameters or {})
    if lora and not offers_lora:
        raise ValueError(f"The spec of {model_id} {version} lists no peft_type=lora option: fine-tune fully "
                         "(lora=False) or pick a model whose spec offers LoRA.")
    if lora is None:
        lora = offers_lora and str(hp.get("peft_type", "lora")).lower() == "lora"
    if lora:
        hp["peft_type"] = next(o for o in _peft_options(spec) if str(o).lower() == "lora")
    elif offers_lora and "peft_type" not in hp:
        # the spec's own spelling of "off" ("none", "None"...), in case its default is LoRA
        hp["peft_type"] = next((o for o in _peft_options(spec) if str(o).lower() != "lora"), "none")
    hp = check_hyperparameters(hp, spec)
    run_id = _run_id()
    trainer = sdk.ModelTrainer.from_jumpstart_config(
        jumpstart_config=sdk.JumpStartConfig(model_id=model_id, model_version=version),
        compute=sdk.Compute(instance_type=instance_type, instance_count=instance_count),
        hyperparameters=hp, input_data_config=[sdk.InputData(channel_name="training", data_source=training_data)],
        role=target.role_arn, sagemaker_session=target.sagemaker_session,
        base_job_name=f"labkit-{_short(model_id)}-{run_id[-4:]}",  # the SDK appends a timestamp in seconds
        tags=[sdk.Tag(key=t["Key"], value=t["Value"]) for t in tags(run_id)])
    sdk.quiet()
    trainer.train(wait=False, logs=False)
    job = trainer._latest_training_job  # the SDK's own handle on the job it just created
    print(f"Training job {job.training_job_name} started ({'LoRA' if lora else 'full fine-tuning'}).")
    if wait:
        _wait_or_stop(target, job, timeout_s)
    job.refresh()
    artifacts = getattr(getattr(job, "model_artifacts", None), "s3_model_artifacts", None)
    return TrainingRun(job_name=job.training_job_name, status=job.training_job_status,
                       artifacts=artifacts if isinstance(artifacts, str) else None, hyperparameters=hp,
                       lora=bool(lora), model_id=model_id, model_version=version)

"""Notebook 11: deploy, invoke, fine-tune and delete a SageMaker JumpStart model, run labkit's own training
script as a distributed SageMaker training job - and never leave anything running.

Everything goes through the SageMaker Python SDK 3.x (``ModelBuilder.from_jumpstart_config``,
``ModelTrainer.from_jumpstart_config``, ``ModelTrainer`` with ``SourceCode`` and ``Torchrun``,
``sagemaker.core.resources``). The same functions run against a real AWS account or against labkit's
local emulator (:mod:`labkit.emulator`); only the endpoint URLs and credentials differ. What labkit adds
around the SDK:

* a cost guard: every call that creates something prints a plan (instance type, count, estimated
  $/hour from :data:`PRICES_USD_PER_HOUR`, and for training jobs the most the run can cost) and refuses
  instance types outside :data:`ALLOWED_INSTANCE_TYPES` or above :data:`MAX_USD_PER_HOUR` unless
  overridden; a real account is used only after an explicit confirmation (``connect(confirm=True)`` or
  ``LABKIT_SAGEMAKER_CONFIRM=1``);
* tags: every model, endpoint config, endpoint and training job carries ``labkit=notebook-10``, so
  :func:`cleanup` (and ``labkit cleanup``) can find what a crashed kernel left behind;
* guaranteed deletion: :func:`deployment` is a context manager that deletes the endpoint, its
  endpoint config and the model on exit, on error, and when creation fails half-way; a training job
  whose wait is interrupted is stopped. One remover (:func:`remove`, with retries) and one table of
  resource kinds (:data:`RESOURCE_KINDS`) serve :func:`delete` and :func:`cleanup` alike.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import config, netguard
from labkit.emulator import Emulator

DEFAULT_MODEL_ID = "huggingface-text2text-flan-t5-base"
# The cheapest GPU type in the allow-list; flan-t5-base (250 M parameters) fits its 16 GB T4 easily.
# moto (the emulator) rejects ml.g5.* endpoint configs, so one default serves both targets.
DEFAULT_INSTANCE_TYPE = "ml.g4dn.xlarge"
DEFAULT_TRAINING_INSTANCE_TYPE = "ml.g5.xlarge"
DEFAULT_REGION = "us-east-1"

TAG_KEY = "labkit"
TAG_VALUE = "notebook-10"  # cleanup matches the key, so older values are found too
RUN_TAG_KEY = "labkit-run"

# --- cost guard ------------------------------------------------------------------------------------

#: ESTIMATES of on-demand prices in us-east-1, USD per instance-hour, for SageMaker real-time inference
#: (training prices are within a few percent). Collected 2026-11 from AWS's pricing page and
#: third-party listings; prices change and differ by region - check https://aws.amazon.com/sagemaker/pricing/
#: before relying on them. Edit this table to match your region.
PRICES_AS_OF = "2026-11"
PRICES_USD_PER_HOUR: dict[str, float] = {
    "ml.t3.medium": 0.05,
    "ml.m5.large": 0.13,
    "ml.m5.xlarge": 0.27,
    "ml.m5.2xlarge": 0.54,
    "ml.g4dn.xlarge": 0.74,
    "ml.g5.xlarge": 1.41,
    "ml.g5.2xlarge": 1.52,
    "ml.p3.2xlarge": 3.83,
    "ml.g5.12xlarge": 7.09,
    "ml.p4d.24xlarge": 37.69,
}
#: GPUs per instance and memory per GPU (GB) - what decides whether a model fits (notebook 11's exercise 11.2).
#: From AWS's instance-type pages; the SDK's own table (sagemaker/core/image_uri_config/instance_gpu_info.json)
#: agrees where it has an entry (a test checks). CPU instances have 0 GPUs.
INSTANCE_GPUS: dict[str, tuple[int, int, str | None]] = {
    "ml.t3.medium": (0, 0, None),
    "ml.m5.large": (0, 0, None),
    "ml.m5.xlarge": (0, 0, None),
    "ml.m5.2xlarge": (0, 0, None),
    "ml.g4dn.xlarge": (1, 16, "NVIDIA T4"),
    "ml.g5.xlarge": (1, 24, "NVIDIA A10G"),
    "ml.g5.2xlarge": (1, 24, "NVIDIA A10G"),
    "ml.p3.2xlarge": (1, 16, "NVIDIA V100"),
    "ml.g5.12xlarge": (4, 24, "NVIDIA A10G"),
    "ml.p4d.24xlarge": (8, 40, "NVIDIA A100 40GB"),
}
#: Instance types labkit creates without an explicit override.
ALLOWED_INSTANCE_TYPES: tuple[str, ...] = ("ml.m5.xlarge", "ml.g4dn.xlarge", "ml.g5.xlarge", "ml.g5.2xlarge")
#: Highest estimated $/hour (all instances of one plan together) labkit accepts without an override.
MAX_USD_PER_HOUR = 2.0


class CostGuardError(ValueError):
    """labkit refused to create a resource: wrong instance type, too expensive, or not confirmed."""


class DeploymentError(RuntimeError):
    """Creating an endpoint failed; what labkit created before the failure has been deleted."""


class CleanupIncomplete(RuntimeError):
    """Some resources could not be deleted; the message lists them and says how to retry."""

    def __init__(self, message: str, leftovers: list[tuple[str, str]]):
        super().__init__(message)
        self.leftovers = leftovers


def price(instance_type: str) -> float | None:
    """Estimated on-demand $/hour of one ``instance_type`` (None when the table has no estimate)."""
    return PRICES_USD_PER_HOUR.get(instance_type)


def estimate_cost(instance_type: str, hours: float, instance_count: int = 1) -> float:
    """Estimated $ for keeping ``instance_count`` instances running for ``hours`` (notebook 11's arithmetic)."""
    per_hour = price(instance_type)
    if per_hour is None:
        raise KeyError(f"No price estimate for {instance_type!r}. Add it to labkit.sagemaker.PRICES_USD_PER_HOUR.")
    return per_hour * hours * instance_count


def gpus(instance_type: str) -> tuple[int, int]:
    """(GPUs per instance, GB of memory per GPU) of ``instance_type``, from :data:`INSTANCE_GPUS`."""
    if instance_type not in INSTANCE_GPUS:
        raise KeyError(f"labkit does not know the GPUs of {instance_type!r}: add it to labkit.sagemaker.INSTANCE_GPUS.")
    count, memory, _ = INSTANCE_GPUS[instance_type]
    return count, memory


def instances() -> list[dict]:
    """One row per instance type labkit knows: GPUs, memory per GPU, estimated $/hour, allowed by the guard."""
    return [{"instance type": name, "GPUs": count, "GB per GPU": memory, "GPU": gpu or "-",
             "est. $/hour": price(name), "allowed": name in ALLOWED_INSTANCE_TYPES}
            for name, (count, memory, gpu) in INSTANCE_GPUS.items()]


@dataclass(frozen=True)
class Plan:
    """What a call is about to create, and what it costs per hour (an estimate)."""

    action: str
    instance_type: str
    instance_count: int
    usd_per_hour: float | None
    model_id: str
    target: str = "not connected"
    max_hours: float | None = None  # a training job's time limit (its stopping condition); None for endpoints

    @property
    def total_usd_per_hour(self) -> float | None:
        return None if self.usd_per_hour is None else self.usd_per_hour * self.instance_count

    @property
    def max_usd(self) -> float | None:
        """The most a training job can cost: every instance billed until the time limit stops it."""
        total = self.total_usd_per_hour
        return None if total is None or self.max_hours is None else total * self.max_hours

    def row(self) -> dict:
        total = self.total_usd_per_hour
        row = {"action": self.action, "model": self.model_id, "instance type": self.instance_type,
               "count": self.instance_count, "est. $/hour": "unknown" if total is None else round(total, 2)}
        if self.max_hours is not None:
            row["time limit (h)"] = self.max_hours
            row["est. $ at most"] = "unknown" if self.max_usd is None else round(self.max_usd, 2)
        return {**row, "target": self.target}

    def __str__(self) -> str:
        total = self.total_usd_per_hour
        cost = ("no price estimate" if total is None
                else f"~${total:.2f}/hour (estimate: us-east-1 on-demand, {PRICES_AS_OF})")
        if self.max_usd is not None:
            cost += f"; stopped after {self.max_hours:g} h, so at most ~${self.max_usd:.2f}"
        return (f"PLAN  {self.action}: {self.model_id} on {self.instance_count} x {self.instance_type}, "
                f"{cost}\n      target: {self.target}")


def plan(action: str, instance_type: str, instance_count: int = 1, *, model_id: str = DEFAULT_MODEL_ID,
         target: Target | None = None, max_hours: float | None = None) -> Plan:
    """The plan for one resource-creating step (printed before anything is created)."""
    return Plan(action=action, instance_type=instance_type, instance_count=int(instance_count),
                usd_per_hour=price(instance_type), model_id=model_id,
                target=target.label if target is not None else "not connected", max_hours=max_hours)


def check_plan(p: Plan, *, allowed: tuple[str, ...] | list[str] | None = None,
               max_usd_per_hour: float | None = None, override: bool = False) -> None:
    """The cost guard: refuse a plan outside the allow-list or above the $/hour limit unless overridden."""
    allowed = tuple(ALLOWED_INSTANCE_TYPES if allowed is None else allowed)
    limit = MAX_USD_PER_HOUR if max_usd_per_hour is None else max_usd_per_hour
    if override:
        print(f"COST GUARD overridden for {p.instance_count} x {p.instance_type} (override=True).")
        return
    if p.instance_count < 1:
        raise CostGuardError(f"instance_count must be at least 1, got {p.instance_count}.")
    if p.instance_type not in allowed:
        raise CostGuardError(
            f"{p.instance_type} is not in labkit's allow-list ({', '.join(allowed)}). Use one of those, or if you "
            f"really mean it pass allowed=[..., {p.instance_type!r}] or override=True.")
    total = p.total_usd_per_hour
    if total is None:
        raise CostGuardError(f"labkit has no price estimate for {p.instance_type}: add one to "
                             "labkit.sagemaker.PRICES_USD_PER_HOUR, or pass override=True.")
    if total > limit:
        raise CostGuardError(
            f"{p.instance_count} x {p.instance_type} costs about ${total:.2f}/hour, above the limit of "
            f"${limit:.2f}/hour. Use fewer or smaller instances, or pass max_usd_per_hour={total:.2f} "
            "(or override=True) if you really mean it.")


# --- where the notebook runs -----------------------------------------------------------------------

@dataclass
class Target:
    """Where resources get created: a real AWS account, or labkit's local emulator."""

    kind: str  # "aws" or "emulator"
    region: str
    boto_session: Any
    role_arn: str | None
    bucket: str | None
    label: str
    confirmed: bool = False
    emulator: Emulator | None = None
    owns_emulator: bool = False
    _sagemaker_session: Any = field(default=None, repr=False)

    @property
    def is_emulator(self) -> bool:
        return self.kind == "emulator"

    @property
    def poll_seconds(self) -> int:
        """How often to poll a status: the emulator answers at once, AWS takes minutes."""
        return 1 if self.is_emulator else 15

    @property
    def sagemaker_session(self):
        """The SDK's ``Session`` on this target's boto3 session (created on first use)."""
        if self._sagemaker_session is None:
            Session = _sdk().Session
            self._sagemaker_session = Session(boto_session=self.boto_session, default_bucket=self.bucket)
            self.bucket = self._sagemaker_session.default_bucket()
        return self._sagemaker_session

    def close(self) -> None:
        """Stop the emulator if this target started it (a real account has nothing to close)."""
        if self.owns_emulator and self.emulator is not None:
            self.emulator.stop()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


NO_CREDENTIALS = ("No AWS credentials found (looked in the environment, ~/.aws and the instance role). "
                  "Nothing will be created in AWS.")


def credentials_source(session=None) -> str | None:
    """Where boto3 finds AWS credentials ("env", "shared-credentials-file", ...), or None - never the keys."""
    import boto3

    try:
        creds = (session or boto3.Session()).get_credentials()
    except Exception:  # a broken config file counts as no credentials
        return None
    return None if creds is None else getattr(creds, "method", "unknown")


def notebook_plans(target: Target | None = None, *, model_id: str = DEFAULT_MODEL_ID) -> list[Plan]:
    """The four paid steps of notebook 11: deploy, fine-tune, deploy the fine-tuned model, the script job."""
    plans = [plan("deploy real-time endpoint", DEFAULT_INSTANCE_TYPE, model_id=model_id, target=target),
             plan("fine-tune (training job)", DEFAULT_TRAINING_INSTANCE_TYPE, model_id=model_id, target=target),
             plan("deploy the fine-tuned model", DEFAULT_INSTANCE_TYPE, model_id=model_id, target=target),
             plan(SCRIPT_JOB_ACTION, SCRIPT_INSTANCE_TYPE, SCRIPT_INSTANCE_COUNT, model_id=SCRIPT_MODEL,
                  target=target, max_hours=SCRIPT_MAX_HOURS)]
    if target is None:
        plans = [dataclasses.replace(p, target="an AWS account (dry run: nothing is created)") for p in plans]
    return plans


def show_plans(plans: list[Plan]) -> None:
    """Print plans as the dry run a learner reads before anything is created."""
    for p in plans:
        print(p)


def connect(region: str | None = None, *, emulator: Emulator | bool | None = None, confirm: bool | None = None,
            role_arn: str | None = None) -> Target | None:
    """Decide where notebook 11 runs, and say so.

    * ``emulator=True`` (or an :class:`~labkit.emulator.Emulator`): the local emulator.
    * otherwise a real account is used only when credentials exist, the network guard is off, and the
      spend is confirmed (``confirm=True`` or ``LABKIT_SAGEMAKER_CONFIRM=1``). In every other case the
      reason and the dry-run plan are printed, and the local emulator is started instead - unless
      ``emulator=False``, which returns None.
    """
    if isinstance(emulator, Emulator):
        return _emulator_target(emulator.start(), owns=False)
    if emulator is True:
        return _start_emulator(region or DEFAULT_REGION)
    region = region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
    confirm = config.truthy(os.environ.get("LABKIT_SAGEMAKER_CONFIRM")) if confirm is None else confirm
    source = credentials_source()
    if netguard.active():
        reason = "LABKIT_NO_NETWORK=1 keeps this run on loopback, so AWS is out of reach."
    elif source is None:
        reason = NO_CREDENTIALS
    elif not confirm:
        reason = (f"AWS credentials found (source: {source}), but spending is not confirmed: pass confirm=True "
                  "to connect() or set LABKIT_SAGEMAKER_CONFIRM=1 after reading the plan below.")
    else:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return _aws_target(region, role_arn)
        except (BotoCoreError, ClientError) as err:
            reason = (f"AWS credentials were found (source: {source}) but AWS did not accept them: "
                      f"{type(err).__name__}: {err}. Nothing will be created in AWS.")
    print(reason)
    print("Dry run - what notebook 11 would create in a real account:")
    show_plans(notebook_plans(model_id=DEFAULT_MODEL_ID))
    if emulator is False:
        return None
    target = _start_emulator(region)
    print(f"Running the same cells against the {target.label}.")
    return target


def _start_emulator(region: str) -> Target:
    """A target on this process's emulator: the running one if there is one, else a new one it owns."""
    running = Emulator.current()
    if running is not None:
        return _emulator_target(running, owns=False)
    return _emulator_target(Emulator(region).start(), owns=True)


def _emulator_target(emulator: Emulator, owns: bool) -> Target:
    return Target(kind="emulator", region=emulator.region, boto_session=emulator.boto_session(),
                  role_arn=emulator.role_arn, bucket=emulator.bucket, label=emulator.label, confirmed=True,
                  emulator=emulator, owns_emulator=owns)


def _aws_target(region: str, role_arn: str | None) -> Target:
    import boto3

    os.environ.setdefault("AWS_DEFAULT_REGION", region)  # sagemaker.serve creates a client at import
    session = boto3.Session(region_name=region)
    account = session.client("sts").get_caller_identity()["Account"]
    target = Target(kind="aws", region=region, boto_session=session, role_arn=None, bucket=None,
                    label=f"AWS account {account[:4]}******** in {region} (real resources, real cost)",
                    confirmed=True)
    role = role_arn or os.environ.get("LABKIT_SAGEMAKER_ROLE")
    if not role:
        from sagemaker.core.helper.session_helper import get_execution_role

        try:
            role = get_execution_role(target.sagemaker_session)
        except ValueError:
            raise RuntimeError("Your AWS identity is not an IAM role (are you outside SageMaker Studio?). Set "
                               "LABKIT_SAGEMAKER_ROLE to the ARN of a SageMaker execution role, or pass "
                               "role_arn=... to connect().") from None
    target.role_arn = role
    print(f"Using {target.label}; execution role {role.split('/')[-1]}.")
    return target


def _require_confirmed(target: Target, p: Plan) -> None:
    if target.kind == "aws" and not target.confirmed:
        raise CostGuardError(f"Not confirmed: {p}\nConnect with confirm=True (or LABKIT_SAGEMAKER_CONFIRM=1) "
                             "to create this in your AWS account.")


# --- the SDK, imported late ------------------------------------------------------------------------

class _SDK:
    """The SageMaker SDK names labkit uses, imported on first use (after the region is set)."""

    def __init__(self):
        import logging

        os.environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)  # sagemaker.serve builds a client at import
        from sagemaker.core.helper.session_helper import Session
        from sagemaker.core.jumpstart.configs import JumpStartConfig
        from sagemaker.core.resources import Endpoint, EndpointConfig, Model, TrainingJob
        from sagemaker.core.shapes import Tag
        from sagemaker.core.training.configs import Compute, InputData
        from sagemaker.serve.model_builder import ModelBuilder
        from sagemaker.train.model_trainer import ModelTrainer

        self.Session, self.JumpStartConfig, self.Compute, self.InputData = Session, JumpStartConfig, Compute, InputData
        self.Endpoint, self.EndpointConfig, self.Model, self.TrainingJob = Endpoint, EndpointConfig, Model, TrainingJob
        self.ModelBuilder, self.ModelTrainer, self.Tag = ModelBuilder, ModelTrainer, Tag
        for name in ("sagemaker.jumpstart", "sagemaker.core.utils.utils"):
            logging.getLogger(name).addFilter(_KnownNoise())
        self.quiet()
        validate_each_config_once()

    @staticmethod
    def quiet() -> None:
        """Turn the SDK's INFO/DEBUG chatter down to warnings (``LABKIT_SAGEMAKER_VERBOSE=1`` keeps it).

        The SDK leaves an INFO handler on the root logger, and ``ModelBuilder`` sets its own logger to
        DEBUG each time one is created, so labkit calls this after creating builders and trainers.
        """
        import logging

        if os.environ.get("LABKIT_SAGEMAKER_VERBOSE"):
            return
        names = ["sagemaker", "botocore", "werkzeug", "moto"]
        names += [n for n in logging.root.manager.loggerDict if n.startswith("sagemaker.")]
        for name in names:
            logger = logging.getLogger(name)
            if logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)


def validate_each_config_once() -> None:
    """Let the SDK check each distinct defaults config against its schema once, not at every lookup.

    sagemaker-core validates its defaults config (the emulator writes one to turn telemetry off; Studio
    images and many users have one) at every config lookup, and ``jsonschema.validate`` first re-checks the
    large schema itself: about 0.2 s a lookup, some 150 lookups in one deploy, more than half of a deploy's
    time against the emulator. The outcome depends only on the config, so labkit remembers the configs
    that passed; a config that does not pass still raises the SDK's error, every time.
    """
    from sagemaker.core.config.config_manager import SageMakerConfig

    original = SageMakerConfig.validate_sagemaker_config
    if getattr(original, "labkit_remembers", False):
        return
    passed: set[str] = set()

    def validate_sagemaker_config(sagemaker_config: dict | None = None):
        key = json.dumps(sagemaker_config, sort_keys=True, default=str)
        if key not in passed:
            original(sagemaker_config)
            passed.add(key)

    validate_sagemaker_config.labkit_remembers = True
    SageMakerConfig.validate_sagemaker_config = staticmethod(validate_sagemaker_config)


class _KnownNoise:
    """Drop two SDK warnings that say nothing to a learner here: "wildcard version" (labkit pins the
    version with resolve_version, but ModelBuilder checks the model id before applying it) and "No
    region provided" (resource objects re-created without a region use the session's region)."""

    NOISE = ("wildcard version identifier", "No region provided. Using default region.")

    def filter(self, record) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in self.NOISE)


_sdk_cache: _SDK | None = None


def _sdk() -> _SDK:
    global _sdk_cache
    if _sdk_cache is None:
        _sdk_cache = _SDK()
    return _sdk_cache


# --- what the model's spec says --------------------------------------------------------------------

def resolve_version(target: Target, model_id: str = DEFAULT_MODEL_ID, version: str = "*") -> str:
    """The concrete JumpStart version ``version`` ("*" = newest) means, so every step uses the same one."""
    _sdk()
    from sagemaker.core.jumpstart.accessors import JumpStartModelsAccessor

    return JumpStartModelsAccessor.get_model_header(region=target.region, model_id=model_id, version=version).version


@dataclass(frozen=True)
class PayloadFormat:
    """How a JumpStart model wants its requests: content type, where the prompt goes, where the answer is."""

    content_type: str
    accept: str
    prompt_key: str
    defaults: dict
    output_key: str
    source: str


# AWS's FLAN-T5 JumpStart examples send {"text_inputs": ..., "max_length": ...} and read "generated_texts".
TEXT2TEXT_FALLBACK = PayloadFormat("application/json", "application/json", "text_inputs", {"max_length": 50},
                                   "generated_texts[0]", "labkit fallback (AWS's FLAN-T5 JumpStart examples)")


def payload_format(target: Target, model_id: str = DEFAULT_MODEL_ID, model_version: str = "*") -> PayloadFormat:
    """Read the request/response format from the model's JumpStart spec (``default_payloads``)."""
    from sagemaker.core.payloads import retrieve_all_examples

    _sdk()
    examples = retrieve_all_examples(region=target.region, model_id=model_id, model_version=model_version,
                                     serialize=False, sagemaker_session=target.sagemaker_session) or []
    for example in examples:
        raw = getattr(example, "raw_payload", None) or {}
        prompt_key = getattr(example, "prompt_key", None)
        if not prompt_key or not isinstance(example.body, dict):
            continue
        defaults = copy.deepcopy(example.body)
        _set_path(defaults, prompt_key, None, remove=True)
        output = (raw.get("output_keys") or {}).get("generated_text") or TEXT2TEXT_FALLBACK.output_key
        return PayloadFormat(example.content_type, getattr(example, "accept", None) or "application/json",
                             prompt_key, defaults, output, f"JumpStart spec of {model_id} (default_payloads)")
    return TEXT2TEXT_FALLBACK


def _set_path(body: dict, dotted: str, value: Any, remove: bool = False) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        body = body.setdefault(key, {})
    if remove:
        body.pop(last, None)
    else:
        body[last] = value


def build_payload(fmt: PayloadFormat, prompt: str, **params) -> dict:
    """A request body in the model's format: the prompt at ``fmt.prompt_key``, generation settings beside it."""
    body = copy.deepcopy(fmt.defaults)
    _set_path(body, fmt.prompt_key, prompt)
    nested = body.get("parameters") if isinstance(body.get("parameters"), dict) else None
    for key, value in params.items():
        if key not in body and nested is not None:
            nested[key] = value
        else:
            body[key] = value
    return body


def generated_text(fmt: PayloadFormat, response: Any) -> str:
    """The generated text inside an endpoint's JSON answer, found with the spec's output key."""
    import jmespath

    for expression in (fmt.output_key, "generated_texts[0]", "[0].generated_text", "generated_text"):
        try:
            text = jmespath.search(expression, response)
        except Exception:
            text = None
        if isinstance(text, str):
            return text
    raise ValueError(f"No generated text at {fmt.output_key!r} in the endpoint's answer: {str(response)[:300]}")


def training_hyperparameters(target: Target, model_id: str = DEFAULT_MODEL_ID, model_version: str = "*") -> list[dict]:
    """The fine-tuning hyperparameters the model's JumpStart hub document lists (name, type, default, options)."""
    sdk = _sdk()
    from sagemaker.core.jumpstart.document import get_hub_content_and_document

    _, document = get_hub_content_and_document(
        jumpstart_config=sdk.JumpStartConfig(model_id=model_id,
                                             model_version=None if model_version == "*" else model_version),
        sagemaker_session=target.sagemaker_session)
    if not document.TrainingSupported:
        return []
    return [{"name": h.Name, "type": str(getattr(h.Type, "value", h.Type)), "default": h.Default,
             "options": list(h.Options or []), "scope": str(getattr(h.Scope, "value", h.Scope))}
            for h in document.Hyperparameters or []]


def _peft_options(hyperparameters: list[dict]) -> list:
    return next((list(h["options"]) for h in hyperparameters if h["name"] == "peft_type"), [])


def lora_supported(hyperparameters: list[dict]) -> bool:
    """Does the spec offer LoRA? Only if it lists ``peft_type`` with a ``lora`` option - never assumed."""
    return any(str(option).lower() == "lora" for option in _peft_options(hyperparameters))


# --- deploy, invoke, delete ------------------------------------------------------------------------

@dataclass
class Deployment:
    """An endpoint labkit created, with the names of everything behind it."""

    target: Target
    model_id: str
    model_version: str
    instance_type: str
    instance_count: int
    model_name: str
    endpoint_name: str
    run_id: str
    payload_format: PayloadFormat
    artifacts: str | None = None

    @property
    def endpoint_config_name(self) -> str:
        return self.endpoint_name  # ModelBuilder.deploy names the endpoint config after the endpoint

    def resources(self) -> list[tuple[str, str]]:
        return [("endpoint", self.endpoint_name), ("endpoint config", self.endpoint_config_name),
                ("model", self.model_name)]


def tags(run_id: str) -> list[dict]:
    """The tags on every labkit resource: one key ``cleanup`` searches for, one per run."""
    return [{"Key": TAG_KEY, "Value": TAG_VALUE}, {"Key": RUN_TAG_KEY, "Value": run_id}]


def _run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def _short(model_id: str) -> str:
    return re.sub(r"[^a-zA-Z0-9-]", "-", model_id.replace("huggingface-", "").replace("text2text-", ""))[:20].strip("-")


def deploy(target: Target, model_id: str = DEFAULT_MODEL_ID, *, instance_type: str = DEFAULT_INSTANCE_TYPE,
           instance_count: int = 1, model_version: str = "*", artifacts: str | None = None,
           allowed: tuple[str, ...] | list[str] | None = None, max_usd_per_hour: float | None = None,
           override: bool = False, timeout_s: int = 1800) -> Deployment:
    """Deploy a JumpStart model (or fine-tuned ``artifacts``) to a real-time endpoint and wait until InService.

    Prints the plan and applies the cost guard before creating anything. If any step fails, whatever
    was created is deleted before the error is raised. Prefer :func:`deployment`, which also deletes
    the endpoint when you are done.
    """
    action = "deploy the fine-tuned model" if artifacts else "deploy real-time endpoint"
    p = plan(action, instance_type, instance_count, model_id=model_id, target=target)
    print(p)
    check_plan(p, allowed=allowed, max_usd_per_hour=max_usd_per_hour, override=override)
    _require_confirmed(target, p)
    version = resolve_version(target, model_id, model_version)
    run_id = _run_id()
    base = f"labkit-{_short(model_id)}{'-ft' if artifacts else ''}-{run_id}"
    dep = Deployment(target=target, model_id=model_id, model_version=version, instance_type=instance_type,
                     instance_count=int(instance_count), model_name=base, endpoint_name=base, run_id=run_id,
                     payload_format=payload_format(target, model_id, version), artifacts=artifacts)
    step = "build"
    try:
        builder = _model_builder(dep)
        _sdk().quiet()
        builder.build(model_name=dep.model_name, tags=tags(run_id))
        step = "create endpoint"
        builder.deploy(endpoint_name=dep.endpoint_name, initial_instance_count=dep.instance_count,
                       wait=False, tags=tags(run_id))
        step = "wait"
        _endpoint(dep).wait_for_status("InService", poll=target.poll_seconds, timeout=timeout_s)
    except BaseException as err:
        try:
            delete(dep, quiet=True)
        except CleanupIncomplete as cleanup_err:
            raise DeploymentError(f"Deploying {model_id} failed at step '{step}': {err}\n{cleanup_err}") from err
        if not isinstance(err, Exception):
            raise  # KeyboardInterrupt and friends: resources are gone, let the interrupt through
        raise DeploymentError(f"Deploying {model_id} failed at step '{step}': {err}\n"
                              f"labkit deleted what it had created ({dep.endpoint_name}).") from err
    print(f"Endpoint {dep.endpoint_name} is InService on {target.label}.")
    return dep


def _model_builder(dep: Deployment):
    sdk, target = _sdk(), dep.target
    compute = sdk.Compute(instance_type=dep.instance_type, instance_count=dep.instance_count)
    if not dep.artifacts:
        return sdk.ModelBuilder.from_jumpstart_config(
            sdk.JumpStartConfig(model_id=dep.model_id, model_version=dep.model_version), role_arn=target.role_arn,
            compute=compute, sagemaker_session=target.sagemaker_session)
    # A fine-tuned model: the JumpStart inference image and environment with the training job's artifacts.
    # (ModelBuilder(model=<JumpStart ModelTrainer>) in sagemaker 3.27 builds the *pretrained* artifacts
    # instead - see docs/sagemaker.md - so labkit passes the artifacts explicitly.)
    from sagemaker.core import environment_variables, image_uris

    image = image_uris.retrieve(framework=None, region=target.region, image_scope="inference",
                                model_id=dep.model_id, model_version=dep.model_version,
                                instance_type=dep.instance_type, sagemaker_session=target.sagemaker_session)
    env = environment_variables.retrieve_default(region=target.region, model_id=dep.model_id,
                                                 model_version=dep.model_version, include_aws_sdk_env_vars=False,
                                                 instance_type=dep.instance_type,
                                                 sagemaker_session=target.sagemaker_session)
    return sdk.ModelBuilder(image_uri=image, model_path=dep.artifacts, env_vars=dict(env), role_arn=target.role_arn,
                            compute=compute, sagemaker_session=target.sagemaker_session)


def _endpoint(dep: Deployment):
    return _sdk().Endpoint.get(endpoint_name=dep.endpoint_name, session=dep.target.boto_session,
                               region=dep.target.region)


def invoke(dep: Deployment, payload: dict) -> Any:
    """Send one JSON request to the endpoint and return its decoded JSON answer."""
    fmt = dep.payload_format
    result = _endpoint(dep).invoke(body=json.dumps(payload).encode("utf-8"), content_type=fmt.content_type,
                                   accept=fmt.accept, session=dep.target.boto_session, region=dep.target.region)
    raw = result.body.read() if hasattr(result.body, "read") else result.body
    return json.loads(raw)


def summarize(dep: Deployment, dialogue: str, **params) -> str:
    """Summarize a dialogue on the endpoint with the course's zero-shot prompt, in the model's payload format."""
    from labkit import prompts

    params.setdefault("max_length", 50)
    answer = invoke(dep, build_payload(dep.payload_format, prompts.zero_shot(dialogue), **params))
    return generated_text(dep.payload_format, answer)


# --- removing what labkit created: one table of kinds, one remover -----------------------------------

@dataclass(frozen=True)
class ResourceKind:
    """One kind of billable SageMaker resource: how to list it, name it, and remove it with boto3."""

    kind: str
    list_call: str
    list_key: str
    name_key: str
    arn_key: str
    remove_call: str  # training jobs cannot be deleted, only stopped
    status_key: str | None = None  # only items in an ACTIVE status are acted on (training jobs)

    @property
    def verb(self) -> str:
        return self.remove_call.split("_", 1)[0]  # "delete" or "stop"


#: In removal order: running training jobs first (they bill), endpoints before their configs, configs before models.
RESOURCE_KINDS: tuple[ResourceKind, ...] = (
    ResourceKind("training job", "list_training_jobs", "TrainingJobSummaries", "TrainingJobName", "TrainingJobArn",
                 "stop_training_job", status_key="TrainingJobStatus"),
    ResourceKind("endpoint", "list_endpoints", "Endpoints", "EndpointName", "EndpointArn", "delete_endpoint"),
    ResourceKind("endpoint config", "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName",
                 "EndpointConfigArn", "delete_endpoint_config"),
    ResourceKind("model", "list_models", "Models", "ModelName", "ModelArn", "delete_model"),
)
KINDS = {k.kind: k for k in RESOURCE_KINDS}
ACTIVE = ("InProgress",)  # a training job in this status bills; Completed / Failed / Stopped ones do not


def _already_gone(err: Exception, kind: ResourceKind) -> bool:
    """A "not found" (or, for a training job, "not running any more") counts as removed."""
    response = getattr(err, "response", None) or {}
    code = response.get("Error", {}).get("Code", "")
    message = response.get("Error", {}).get("Message", "").lower()
    if "NotFound" in code or (code == "ValidationException" and ("not find" in message or "not found" in message)):
        return True
    return kind.verb == "stop" and code == "ValidationException" and "status" in message


def _on_loopback(client) -> bool:
    """True for the emulator (a loopback endpoint): labkit then polls and retries without long pauses."""
    from urllib.parse import urlsplit

    host = urlsplit(client.meta.endpoint_url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def remove(client, kind: str, name: str, *, attempts: int = 3, pause_s: float | None = None,
           timeout_s: int = 1800) -> str | None:
    """Delete (or, for a training job, stop) one resource, retrying; None when done, else the last error.

    "Not found" counts as done. An endpoint is waited for until it is gone, so its config and model can
    follow. Used by :func:`delete` (one deployment) and :func:`cleanup` (everything labkit-tagged).
    """
    spec = KINDS[kind]
    local = _on_loopback(client)
    pause = (0.2 if local else 5.0) if pause_s is None else pause_s
    error = None
    for attempt in range(1, attempts + 1):
        try:
            getattr(client, spec.remove_call)(**{spec.name_key: name})
            if kind == "endpoint":
                delay = 1 if local else 15
                client.get_waiter("endpoint_deleted").wait(
                    EndpointName=name, WaiterConfig={"Delay": delay, "MaxAttempts": max(1, timeout_s // delay)})
            return None
        except Exception as err:
            if _already_gone(err, spec):
                return None
            error = f"{type(err).__name__}: {err}"
            if attempt < attempts:
                time.sleep(pause * attempt)
    return error


def remove_all(client, found: list[tuple[str, str]], *, region: str, attempts: int = 3,
               pause_s: float | None = None, quiet: bool = True) -> None:
    """Remove every (kind, name) in order; raise one :class:`CleanupIncomplete` naming whatever is left."""
    leftovers = []
    for kind, name in found:
        if not quiet:
            print(f"{'stopping' if KINDS[kind].verb == 'stop' else 'deleting'} {kind:<16} {name}")
        error = remove(client, kind, name, attempts=attempts, pause_s=pause_s)
        if error is not None:
            leftovers.append((kind, name, error))
    if leftovers:
        lines = "\n".join(f"  {kind} {name}: {why}" for kind, name, why in leftovers)
        raise CleanupIncomplete(
            f"Could not remove:\n{lines}\nThey may still cost money. Retry with `labkit cleanup --region {region}` "
            f"(it finds everything tagged {TAG_KEY}=...), or remove them in the SageMaker console.",
            [(kind, name) for kind, name, _ in leftovers])


def delete(dep: Deployment, *, attempts: int = 3, quiet: bool = False) -> None:
    """Delete the endpoint, then its endpoint config, then the model - retrying, and reporting leftovers."""
    target = dep.target
    remove_all(target.boto_session.client("sagemaker"), dep.resources(), region=target.region, attempts=attempts)
    if not quiet:
        print(f"Deleted endpoint, endpoint config and model {dep.endpoint_name}.")


@contextlib.contextmanager
def deployment(target: Target, model_id: str = DEFAULT_MODEL_ID, **kwargs) -> Iterator[Deployment]:
    """``with deployment(target) as dep:`` - an endpoint that is deleted on exit, whatever happens inside.

    Takes the same arguments as :func:`deploy`. Creation failures clean up after themselves too.
    """
    dep = deploy(target, model_id, **kwargs)
    try:
        yield dep
    finally:
        delete(dep)


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


# --- labkit's own training script as a distributed SageMaker training job -------------------------

SCRIPT_MODULE = "labkit.train"  # submitted by name: this module never imports it
SCRIPT_ENTRY = "labkit_train.py"  # torchrun needs a file: this one runs SCRIPT_MODULE as `python -m` would
SCRIPT_JOB_ACTION = "distributed training job (labkit.train under torchrun)"
SCRIPT_MODEL = "labkit.train (the course profile's FLAN-T5-base)"
SCRIPT_INSTANCE_TYPE = "ml.g4dn.xlarge"  # one 16 GB T4 per instance: full fine-tuning of FLAN-T5-base fits
SCRIPT_INSTANCE_COUNT = 2
SCRIPT_MAX_HOURS = 2.0  # the job's stopping condition: SageMaker stops it (and its bill) after this long
SCRIPT_OUTPUT_DIR = "/opt/ml/model"  # what SageMaker uploads to S3 (model.tar.gz) when the job ends
#: The PyTorch training image (an AWS Deep Learning Container): the newest version sagemaker 3.27's image
#: table lists. It brings torch and CUDA; requirements.txt adds what labkit.train needs on top.
PYTORCH_VERSION = "2.10"
#: labkit.train's flags that take a value (``--name value``) - a test compares them with its argument parser.
SCRIPT_FLAGS = ("method", "max-steps", "output-dir", "seed", "per-device-batch-size", "learning-rate",
                "logging-steps", "save-steps", "n-train", "fsdp")
SCRIPT_REQUIRED = ("method", "max-steps", "output-dir")
SCRIPT_SWITCHES = ("resume",)  # on/off flags without a value: a hyperparameter cannot express them
#: The distributions labkit.train imports besides torch (measured: the modules a 2-step run loads), with the
#: version ranges of labkit's own requirements.
TRAINING_REQUIREMENTS = ("transformers", "tokenizers", "datasets", "accelerate", "peft", "sentencepiece",
                         "huggingface_hub", "pandas", "numpy", "tqdm", "filelock")


def script_hyperparameters(hyperparameters: dict) -> dict[str, str]:
    """Check hyperparameters for labkit.train and return them as the job sends them (every value a string).

    SageMaker's torchrun driver turns each one into ``--<name> <value>`` on the script's command line
    (:func:`container_command`), so a name must be one of labkit.train's flags, spelled as on the command
    line without the dashes. Raises ValueError with what to change.
    """
    out = {}
    for name, value in hyperparameters.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Hyperparameter names are strings, got {name!r}.")
        if name.startswith("-"):
            raise ValueError(f"Write {name.lstrip('-')!r}, not {name!r}: the SDK's driver adds the '--' itself.")
        if name in SCRIPT_SWITCHES:
            raise ValueError(f"--{name} is an on/off flag without a value, but the driver passes every hyperparameter "
                             f"as '--{name} <value>', which labkit.train rejects. Leave it out (labkit.train resumes "
                             "from a checkpoint in --output-dir anyway).")
        problem = unknown_name(name, SCRIPT_FLAGS, f"a flag of `python -m {SCRIPT_MODULE}`")
        if problem:
            if "_" in name and name.replace("_", "-") in SCRIPT_FLAGS:
                problem = (f"{name!r}: the driver passes the name as it is ('--{name}'), and labkit.train's flag is "
                           f"'--{name.replace('_', '-')}'. Use {name.replace('_', '-')!r}.")
            raise ValueError(problem)
        if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"{name}={value!r}: give a number or a string (it becomes '--{name} <value>').")
        out[name] = value if isinstance(value, str) else json.dumps(value)
    missing = [name for name in SCRIPT_REQUIRED if name not in out]
    if missing:
        raise ValueError(f"labkit.train requires {', '.join('--' + m for m in missing)}: add "
                         f"{', '.join(repr(m) for m in missing)}.")
    output_dir = out["output-dir"].rstrip("/")
    if output_dir != SCRIPT_OUTPUT_DIR and not output_dir.startswith(SCRIPT_OUTPUT_DIR + "/"):
        raise ValueError(f"output-dir={out['output-dir']!r}: when the job ends SageMaker uploads only "
                         f"{SCRIPT_OUTPUT_DIR} (SM_MODEL_DIR) to S3; anything written elsewhere is lost with the "
                         f"instance. Use {SCRIPT_OUTPUT_DIR!r}.")
    return out


def container_command(hyperparameters: dict, instance_count: int = 1, processes_per_node: int = 1) -> list[str]:
    """The command SageMaker's torchrun driver runs on each instance for these hyperparameters.

    The same steps as ``sagemaker/train/container_drivers/distributed_drivers/torchrun_driver.py`` (a test
    compares them), using the SDK's own ``hyperparameters_to_cli_args``. Multi-node values the container
    only knows at run time are shown as ``$SM_...``.
    """
    _sdk()
    from sagemaker.train.container_drivers.common.utils import hyperparameters_to_cli_args

    command = ["torchrun", f"--nnodes={instance_count}", f"--nproc_per_node={processes_per_node}"]
    if instance_count > 1:
        command += ["--master_addr=$SM_MASTER_ADDR", "--master_port=$SM_MASTER_PORT",
                    "--node_rank=$SM_CURRENT_HOST_RANK"]
    return command + [SCRIPT_ENTRY] + hyperparameters_to_cli_args(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in hyperparameters.items()})


def training_requirements() -> list[str]:
    """requirements.txt for the training container: :data:`TRAINING_REQUIREMENTS` with labkit's version ranges."""
    import importlib.metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    wanted = [canonicalize_name(n) for n in TRAINING_REQUIREMENTS]
    try:
        declared = importlib.metadata.requires("labkit") or []
    except importlib.metadata.PackageNotFoundError:
        import tomllib

        declared = tomllib.loads((config.REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
            "dependencies"]
    ranges = {}
    for line in declared:
        req = Requirement(line)
        if req.marker is None and canonicalize_name(req.name) in wanted:
            ranges[canonicalize_name(req.name)] = f"{req.name}{req.specifier}"
    return [ranges.get(name, name) for name in wanted]


ENTRY_SCRIPT_TEXT = f'''"""SageMaker entry point written by labkit.sagemaker.stage_training_code (notebook 11).

SageMaker's torchrun driver starts this file once per process, with the job's hyperparameters as
`--name value` arguments. It runs {SCRIPT_MODULE} exactly as `python -m {SCRIPT_MODULE}` would; the labkit
package next to this file is the one it imports.
"""
import runpy

runpy.run_module("{SCRIPT_MODULE}", run_name="__main__", alter_sys=True)
'''


def stage_training_code(folder: str | os.PathLike) -> Path:
    """Write what the training job uploads as its code channel into ``folder`` and return it.

    ``labkit/`` (this package, without caches), ``data/dialogsum/`` (the project's dialogues, for the tiny
    profile; the course profile reads DialogSum from the Hugging Face Hub), ``requirements.txt``
    (:func:`training_requirements`) and :data:`SCRIPT_ENTRY`.
    """
    import shutil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    package = Path(__file__).resolve().parent
    shutil.copytree(package, folder / "labkit", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"))
    dialogues = config.data_dir() / "dialogsum"
    (folder / "data" / "dialogsum").mkdir(parents=True, exist_ok=True)
    for path in sorted(dialogues.glob("*.jsonl")) + [dialogues / "README.md"]:
        if path.is_file():
            shutil.copy2(path, folder / "data" / "dialogsum" / path.name)
    (folder / "requirements.txt").write_text("\n".join(training_requirements()) + "\n", encoding="utf-8")
    (folder / SCRIPT_ENTRY).write_text(ENTRY_SCRIPT_TEXT, encoding="utf-8")
    return folder


def training_image(target: Target, instance_type: str = SCRIPT_INSTANCE_TYPE, version: str = PYTORCH_VERSION) -> str:
    """The PyTorch training image URI for the target's region and the instance's processor (GPU or CPU)."""
    _sdk()
    from sagemaker.core import image_uris

    return image_uris.retrieve("pytorch", region=target.region, version=version, instance_type=instance_type,
                               image_scope="training")


@dataclass
class ScriptJob:
    """A training job that runs labkit.train: what was sent, where it ran, and where the model is."""

    job_name: str
    status: str
    instance_type: str
    instance_count: int
    processes_per_node: int
    hyperparameters: dict
    image: str
    code: str | None
    artifacts: str | None
    plan: Plan
    run_id: str

    @property
    def command(self) -> list[str]:
        """What torchrun runs on each instance (see :func:`container_command`)."""
        return container_command(self.hyperparameters, self.instance_count, self.processes_per_node)


def train_script(target: Target, hyperparameters: dict, *, instance_type: str = SCRIPT_INSTANCE_TYPE,
                 instance_count: int = SCRIPT_INSTANCE_COUNT, processes_per_node: int | None = None,
                 profile: str = "course", max_hours: float = SCRIPT_MAX_HOURS, wait: bool = True,
                 timeout_s: int | None = None, allowed: tuple[str, ...] | list[str] | None = None,
                 max_usd_per_hour: float | None = None, override: bool = False) -> ScriptJob:
    """Run ``python -m labkit.train`` as a SageMaker training job on ``instance_count`` instances under torchrun.

    The SDK 3 way: ``ModelTrainer(training_image=<PyTorch image>, source_code=SourceCode(source_dir,
    requirements, entry_script), distributed=Torchrun(process_count_per_node), compute=Compute(instance_type,
    instance_count), stopping_condition, hyperparameters, environment, tags)`` then ``train(wait=False)``.
    One process per GPU by default. The hyperparameters are checked first (:func:`script_hyperparameters`),
    then the plan - the most the job can cost before ``max_hours`` stops it - goes through the cost guard;
    nothing is uploaded or created before both pass. Interrupting the wait stops the job.
    """
    hp = script_hyperparameters(hyperparameters)
    p = plan(SCRIPT_JOB_ACTION, instance_type, instance_count, model_id=SCRIPT_MODEL, target=target,
             max_hours=max_hours)
    print(p)
    check_plan(p, allowed=allowed, max_usd_per_hour=max_usd_per_hour, override=override)
    _require_confirmed(target, p)
    if not max_hours > 0:
        raise ValueError(f"max_hours must be positive, got {max_hours}.")
    if processes_per_node is None:
        processes_per_node = max(1, gpus(instance_type)[0]) if instance_type in INSTANCE_GPUS else 1
    sdk = _sdk()
    from sagemaker.core.training.configs import SourceCode, StoppingCondition
    from sagemaker.train.distributed import Torchrun

    run_id = _run_id()
    image = training_image(target, instance_type)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="labkit-train-code-") as folder:
        stage_training_code(folder)
        trainer = sdk.ModelTrainer(
            training_image=image,
            source_code=SourceCode(source_dir=folder, requirements="requirements.txt", entry_script=SCRIPT_ENTRY),
            distributed=Torchrun(process_count_per_node=processes_per_node),
            compute=sdk.Compute(instance_type=instance_type, instance_count=int(instance_count)),
            stopping_condition=StoppingCondition(max_runtime_in_seconds=int(max_hours * 3600)),
            hyperparameters=hp, environment={"LABKIT_PROFILE": profile}, role=target.role_arn,
            sagemaker_session=target.sagemaker_session,
            base_job_name=f"labkit-train-{run_id[-4:]}",  # the SDK appends a timestamp in seconds
            tags=[sdk.Tag(key=t["Key"], value=t["Value"]) for t in tags(run_id)])
        sdk.quiet()
        trainer.train(wait=False, logs=False)  # uploads the code folder, then CreateTrainingJob
    job = trainer._latest_training_job  # the SDK's own handle on the job it just created
    print(f"Training job {job.training_job_name} started: {instance_count} x {instance_type}, "
          f"{processes_per_node} process(es) per instance.")
    if wait:
        _wait_or_stop(target, job, timeout_s or int(max_hours * 3600) + 900)
    job.refresh()
    channels = {c.channel_name: c for c in (job.input_data_config or [])}
    code = getattr(getattr(getattr(channels.get("code"), "data_source", None), "s3_data_source", None), "s3_uri", None)
    artifacts = getattr(getattr(job, "model_artifacts", None), "s3_model_artifacts", None)
    return ScriptJob(job_name=job.training_job_name, status=job.training_job_status, instance_type=instance_type,
                     instance_count=int(instance_count), processes_per_node=processes_per_node, hyperparameters=hp,
                     image=image, code=code if isinstance(code, str) else None,
                     artifacts=artifacts if isinstance(artifacts, str) else None, plan=p, run_id=run_id)


def stop_training_job(target: Target, job_name: str) -> str:
    """Stop a training job if it is still running; returns its status afterwards (it bills until it ends)."""
    client = target.boto_session.client("sagemaker")
    error = remove(client, "training job", job_name)
    if error:
        raise CleanupIncomplete(f"Could not stop training job {job_name}: {error}", [("training job", job_name)])
    return client.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]


# --- finding what was left behind ------------------------------------------------------------------

def tagged_resources(client) -> list[tuple[str, str]]:
    """(kind, name) of every labkit-tagged running training job, endpoint, endpoint config and model in the region.

    Finished training jobs are left out: they no longer bill, and they cannot be deleted.
    """
    found = []
    for spec in RESOURCE_KINDS:
        for page in client.get_paginator(spec.list_call).paginate():
            for item in page[spec.list_key]:
                if spec.status_key and item.get(spec.status_key) not in ACTIVE:
                    continue
                tags_ = client.list_tags(ResourceArn=item[spec.arn_key]).get("Tags", [])
                if any(t["Key"] == TAG_KEY for t in tags_):
                    found.append((spec.kind, item[spec.name_key]))
    return found


def cleanup(target: Target | None = None, *, region: str | None = None, dry_run: bool = False,
            boto_session=None) -> list[tuple[str, str]]:
    """Stop every labkit-tagged running training job and delete every labkit-tagged endpoint, endpoint config
    and model in the region (what ``labkit cleanup`` runs).

    ``dry_run=True`` only lists. Returns the (kind, name) pairs found. Raises :class:`CleanupIncomplete`
    if something could not be removed. S3 objects (training data, artifacts) and Studio spaces are not touched.
    """
    import boto3

    running = Emulator.current()
    if boto_session is None and target is None and running is not None and running.running \
            and os.environ.get("AWS_ENDPOINT_URL") == running.url:
        boto_session = running.boto_session()  # this process's AWS settings point at the emulator: use its session
    session = boto_session or (target.boto_session if target else boto3.Session(region_name=region))
    region = session.region_name
    client = session.client("sagemaker", region_name=region)
    found = tagged_resources(client)
    if not found:
        print(f"No labkit-tagged running training jobs, endpoints, endpoint configs or models in {region}.")
        return found
    if dry_run:
        for kind, name in found:
            print(f"would {KINDS[kind].verb} {kind:<16} {name}")
        print(f"Dry run: nothing changed ({len(found)} labkit resource(s) in {region}).")
        return found
    remove_all(client, found, region=region, quiet=False)
    print(f"Removed {len(found)} labkit resource(s) in {region}.")
    return found

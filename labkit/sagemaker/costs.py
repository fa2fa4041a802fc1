"""What SageMaker resources cost, and the cost guard every creating call goes through (notebook 11)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MODEL_ID = "huggingface-text2text-flan-t5-base"
# The cheapest GPU type in the allow-list; flan-t5-base (250 M parameters) fits its 16 GB T4 easily.
# moto (the emulator) rejects ml.g5.* endpoint configs, so one default serves both targets.
DEFAULT_INSTANCE_TYPE = "ml.g4dn.xlarge"
DEFAULT_TRAINING_INSTANCE_TYPE = "ml.g5.xlarge"
DEFAULT_REGION = "us-east-1"

TAG_KEY = "labkit"
TAG_VALUE = "notebook-11"  # cleanup matches the key, so older values are found too
RUN_TAG_KEY = "labkit-run"

# The script job of notebook 11 (labkit.train as a distributed training job): planned and costed like the rest.
SCRIPT_JOB_ACTION = "distributed training job (labkit.train under torchrun)"
SCRIPT_MODEL = "labkit.train (the course profile's FLAN-T5-base)"
SCRIPT_INSTANCE_TYPE = "ml.g4dn.xlarge"  # one 16 GB T4 per instance: full fine-tuning of FLAN-T5-base fits
SCRIPT_INSTANCE_COUNT = 2
SCRIPT_MAX_HOURS = 2.0  # the job's stopping condition: SageMaker stops it (and its bill) after this long

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
         target=None, max_hours: float | None = None) -> Plan:
    """The plan for one resource-creating step (printed before anything is created); ``target`` is where it runs."""
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

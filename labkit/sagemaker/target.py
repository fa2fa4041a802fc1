"""Where notebook 11 runs: a real AWS account (after an explicit confirmation) or labkit's local emulator."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from labkit import config, netguard
from labkit.sagemaker.costs import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_MODEL_ID,
    DEFAULT_REGION,
    DEFAULT_TRAINING_INSTANCE_TYPE,
    SCRIPT_INSTANCE_COUNT,
    SCRIPT_INSTANCE_TYPE,
    SCRIPT_JOB_ACTION,
    SCRIPT_MAX_HOURS,
    SCRIPT_MODEL,
    CostGuardError,
    Plan,
    plan,
)
from labkit.sagemaker.emulator import Emulator
from labkit.sagemaker.sdk import _sdk

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

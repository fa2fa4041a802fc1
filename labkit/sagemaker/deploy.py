"""Deploy, invoke and delete a JumpStart model; :func:`deployment` deletes everything on exit."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from labkit.sagemaker.costs import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_MODEL_ID,
    RUN_TAG_KEY,
    TAG_KEY,
    TAG_VALUE,
    CleanupIncomplete,
    DeploymentError,
    check_plan,
    plan,
)
from labkit.sagemaker.jumpstart import PayloadFormat, build_payload, generated_text, payload_format, resolve_version
from labkit.sagemaker.resources import remove_all
from labkit.sagemaker.sdk import _sdk
from labkit.sagemaker.target import Target, _require_confirmed

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

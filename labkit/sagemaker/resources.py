"""One table of the resource kinds labkit creates, and one remover (with retries) for all of them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from labkit.sagemaker.costs import TAG_KEY, CleanupIncomplete

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

"""A local stand-in for the AWS account notebook 11 uses, so the SageMaker lesson runs offline.

The emulator is moto's HTTP server on loopback (``127.0.0.1``, a free port). The SageMaker Python SDK
runs its real code path against it - the same ``ModelBuilder`` / ``ModelTrainer`` calls labkit makes
against a real account - and only endpoint URLs and credentials differ. Moto keeps the control
plane's bookkeeping (models, endpoint configs, endpoints, training jobs, S3 objects) but runs no
container: an "endpoint" answers with a canned reply that says so.

What the emulator adds around moto, and why (docs/sagemaker.md has the measurements):

* environment: credentials of an assumed role on moto (so the SDK sees a role, as in SageMaker Studio),
  ``AWS_ENDPOINT_URL`` pointing at the server, role validation and
  telemetry off, instance metadata off, JumpStart metadata read from ``data/jumpstart/`` (a small
  labkit-written spec, not AWS's) instead of the JumpStart S3 bucket. Everything is restored by
  :meth:`Emulator.stop`.
* the sessions it hands out are pinned to the server's URL, and carry botocore event handlers:
  - STS ``GetCallerIdentity`` goes to a hard-coded regional URL in the SDK: redirect it to the server;
  - anything else that still points outside the emulator fails loudly instead of leaving the machine;
  - moto returns ``VpcConfig={}`` / ``DataCaptureConfig={}``, which the SDK's pydantic models
    reject: empty dicts are dropped from SageMaker responses;
  - ``DescribeHubContent`` (JumpStart training metadata), IAM ``SimulatePrincipalPolicy`` and
    ``StopTrainingJob`` are not implemented by moto: they are answered locally;
  - moto completes a training job the moment it is created. :meth:`Emulator.keep_training_jobs_running`
    makes jobs created afterwards report ``InProgress`` until they are stopped, then ``Stopped``, so
    stopping and ``labkit cleanup`` can be shown and tested (still no container runs);
  - just before each ``InvokeEndpoint`` is sent the emulator queues a reply through moto's
    ``/moto-api/static/sagemaker/endpoint-results`` API. The reply is labelled: no model ran.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.loaders
import botocore.session

from labkit import config
from labkit.sagemaker.resources import RESOURCE_KINDS

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
ROLE_NAME = "labkit-emulator-sagemaker-role"
PUBLIC_HUB = "SageMakerPublicHub"
REPLY_LABEL = "[labkit emulator - no model ran]"
ENDPOINT_HEADER = "X-Amzn-SageMaker-Labkit-Endpoint"  # emulator only: see Emulator._queue_reply


class EmulatorError(RuntimeError):
    """The emulator cannot do what was asked (not started, a call left loopback, unknown model...)."""


def jumpstart_dir() -> Path:
    """The folder holding labkit's local JumpStart manifest and spec (``data/jumpstart``)."""
    return config.data_dir() / "jumpstart"


def load_manifest() -> list[dict]:
    """labkit's local JumpStart manifest: one entry per (model id, version) it has a spec for."""
    path = jumpstart_dir() / "models_manifest.json"
    if not path.is_file():
        raise EmulatorError(f"JumpStart manifest not found at {path}; labkit's data/ folder is incomplete.")
    return json.loads(path.read_text(encoding="utf-8"))


def load_spec(model_id: str, version: str = "*") -> dict:
    """The local JumpStart spec of ``model_id`` (the newest version for ``"*"``)."""
    from packaging.version import Version

    entries = [e for e in load_manifest() if e["model_id"] == model_id]
    if version != "*":
        entries = [e for e in entries if e["version"] == version]
    if not entries:
        known = sorted({e["model_id"] for e in load_manifest()})
        raise EmulatorError(f"The emulator has no JumpStart spec for {model_id!r} version {version!r}. "
                            f"It knows: {', '.join(known)}. Against a real account any JumpStart model id works.")
    entry = max(entries, key=lambda e: Version(e["version"]))
    return json.loads((jumpstart_dir() / entry["spec_key"]).read_text(encoding="utf-8"))


def _camel(key: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in key.split("_"))


def hub_document(spec: dict, region: str = REGION) -> dict:
    """Turn a JumpStart spec (snake_case, as in the S3 metadata) into a hub content document.

    ``ModelTrainer.from_jumpstart_config`` reads training metadata from ``DescribeHubContent`` on
    the public hub, whose document is CamelCase with region-resolved URIs; notebook 11's emulator
    answers that call from the same local spec the inference path reads.
    """
    bucket = f"jumpstart-cache-prod-{region}"
    aliases = spec.get("training_instance_type_variants", {}).get("regional_aliases", {}).get(region, {})
    variants = {}
    for family, variant in spec.get("training_instance_type_variants", {}).get("variants", {}).items():
        alias = variant.get("regional_properties", {}).get("image_uri", "")
        if alias.startswith("$") and alias[1:] in aliases:
            variants[family] = {"Properties": {"ImageUri": aliases[alias[1:]]}}
    keep = {k: v for k, v in spec.items() if not k.startswith("labkit")}
    document = {
        "Url": keep["url"],
        "ModelTypes": ["OPEN_WEIGHTS"],
        "MinSdkVersion": keep.get("min_sdk_version"),
        "TrainingSupported": bool(keep.get("training_supported")),
        "IncrementalTrainingSupported": bool(keep.get("incremental_training_supported")),
        "Capabilities": [],
        "HostingEcrUri": keep.get("hosting_ecr_uri"),
        "HostingArtifactUri": f"s3://{bucket}/"
                              f"{keep.get('hosting_prepacked_artifact_key') or keep.get('hosting_artifact_key')}",
        "HostingScriptUri": f"s3://{bucket}/{keep.get('hosting_script_key')}",
        "DefaultInferenceInstanceType": keep.get("default_inference_instance_type"),
        "SupportedInferenceInstanceTypes": keep.get("supported_inference_instance_types"),
        "InferenceEnvironmentVariables": [{_camel(k): v for k, v in e.items()}
                                          for e in keep.get("inference_environment_variables", [])],
        # the hub schema has no "Accept" in a default payload (pydantic rejects extra fields)
        "DefaultPayloads": {alias: {_camel(k): v for k, v in p.items() if k != "accept"}
                            for alias, p in keep.get("default_payloads", {}).items()},
    }
    if document["TrainingSupported"]:
        document.update({
            "TrainingEcrUri": keep.get("training_ecr_uri"),
            "TrainingArtifactUri": f"s3://{bucket}/{keep['training_artifact_key']}",
            "TrainingScriptUri": f"s3://{bucket}/{keep['training_script_key']}",
            "DefaultTrainingInstanceType": keep.get("default_training_instance_type"),
            "SupportedTrainingInstanceTypes": keep.get("supported_training_instance_types"),
            "Hyperparameters": [{_camel(k): v for k, v in h.items()} for h in keep.get("hyperparameters", [])],
            "TrainingInstanceTypeVariants": {"Variants": variants},
        })
    return {k: v for k, v in document.items() if v is not None}


_LOADER = None


def _shared_loader():
    """One botocore data loader for every emulator session in this process.

    Each boto3 session normally gets its own loader, which reads and parses a service's API model (the
    SageMaker one is several MB of JSON) again for its first client: about 12 s of the SageMaker tests'
    45 s went there. The models are read-only data, so the emulator's sessions share one loader and its
    cache; each session keeps its own event handlers and credentials.
    """
    global _LOADER
    if _LOADER is None:
        _LOADER = botocore.loaders.create_loader()
    return _LOADER


class _PinnedSession(boto3.Session):
    """A boto3 session whose clients go to the emulator, whatever AWS_ENDPOINT_URL says later."""

    def __init__(self, url: str, **kwargs):
        core = botocore.session.get_session()
        core.register_component("data_loader", _shared_loader())
        super().__init__(botocore_session=core, **kwargs)
        paths = self._loader.search_paths  # boto3 appends its own data folder on every session: keep one copy
        paths[:] = list(dict.fromkeys(paths))
        self.emulator_url = url

    def client(self, *args, **kwargs):
        if kwargs.get("endpoint_url") is None:  # an explicit URL (STS) is redirected per call instead
            kwargs["endpoint_url"] = self.emulator_url
        return super().client(*args, **kwargs)

    def resource(self, *args, **kwargs):
        if kwargs.get("endpoint_url") is None:
            kwargs["endpoint_url"] = self.emulator_url
        return super().resource(*args, **kwargs)


def _free_loopback_url(server) -> str:
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


class Emulator:
    """moto's server on loopback, dressed so the SageMaker SDK's real code path runs against it.

    Use it as a context manager, or ``start()`` / ``stop()``::

        with Emulator() as emulator:
            session = emulator.boto_session()
            ...

    Starting resets moto's in-memory state, so each emulator begins with an empty account. That state
    is process-wide, so one process runs one emulator at a time (:meth:`current` returns it).
    """

    _current: Emulator | None = None

    def __init__(self, region: str = REGION):
        self.region = region
        self.url: str | None = None
        self._server = None
        self._saved_env: dict[str, str | None] = {}
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._replied: set[tuple[str, bytes]] = set()
        self._lock = threading.Lock()
        self._hold_jobs = False
        self._held: set[str] = set()  # training jobs that "run" until stopped
        self._stopped: set[str] = set()
        self._credentials = ("labkit-emulator", "labkit-emulator-not-a-secret", None)
        self.role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}"
        self.bucket = f"sagemaker-{region}-{ACCOUNT_ID}"

    # --- life cycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def label(self) -> str:
        """How notebooks and plans name this target, so no one mistakes it for AWS."""
        where = self.url or "not started"
        return f"local AWS emulator (moto on {where}; no real resources, no model runs, $0)"

    def start(self) -> Emulator:
        """Start the server on a free loopback port and point this process's AWS settings at it."""
        if self.running:
            return self
        if Emulator._current is not None:
            raise EmulatorError(f"Another emulator is already running in this process ({Emulator._current.url}); "
                                "moto's state is process-wide. Use that one (Emulator.current()) or stop it first.")
        from moto.server import ThreadedMotoServer

        self._quiet_logs()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        self._server = server
        Emulator._current = self
        self.url = _free_loopback_url(server)
        self._replied = set()
        self._hold_jobs, self._held, self._stopped = False, set(), set()
        try:
            self._post("/moto-api/reset", None)
            self._set_env()
            self._reset_sdk_caches()
            session = self.boto_session()
            session.client("iam").create_role(
                RoleName=ROLE_NAME, Description="labkit emulator: stands in for a SageMaker execution role",
                AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]}))
            # Work as the execution role, like a SageMaker Studio user: STS GetCallerIdentity then
            # names an assumed role the SDK can resolve (moto's default caller is an IAM user "moto").
            creds = session.client("sts").assume_role(RoleArn=self.role_arn, RoleSessionName="labkit")["Credentials"]
            self._credentials = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
            names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
            for key, value in zip(names, self._credentials, strict=True):
                os.environ[key] = value
            session = self.boto_session()
            s3 = session.client("s3")
            if self.region == "us-east-1":
                s3.create_bucket(Bucket=self.bucket)
            else:
                s3.create_bucket(Bucket=self.bucket,
                                 CreateBucketConfiguration={"LocationConstraint": self.region})
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and restore the environment variables it changed."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        if Emulator._current is self:
            Emulator._current = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self._reset_sdk_caches()

    @classmethod
    def current(cls) -> Emulator | None:
        """The emulator running in this process, if any."""
        return cls._current

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _require_running(self) -> None:
        if not self.running:
            raise EmulatorError("The emulator is not running: call start() (or use it in a `with` block) first.")

    def _set_env(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="labkit-emulator-")
        sdk_config = Path(self._tmp.name) / "sagemaker-config.yaml"
        # The SDK reads its defaults from this file when a Session is created: telemetry off.
        sdk_config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
                              "      TelemetryOptOut: true\n", encoding="utf-8")
        metadata = str(jumpstart_dir())
        values: dict[str, str | None] = {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "labkit-emulator",
            "AWS_SECRET_ACCESS_KEY": "labkit-emulator-not-a-secret",
            "AWS_SESSION_TOKEN": None,
            "AWS_PROFILE": None,
            "AWS_DEFAULT_PROFILE": None,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata probe (a non-loopback address)
            "SAGEMAKER_VALIDATE_ROLE": "false",
            "SAGEMAKER_USER_CONFIG_OVERRIDE": str(sdk_config),
            "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE": metadata,
            "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE": metadata,
        }
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    @staticmethod
    def _reset_sdk_caches() -> None:
        """Forget JumpStart metadata cached by the SDK, so local and live specs never mix in one process."""
        import sys

        accessors = sys.modules.get("sagemaker.core.jumpstart.accessors")
        if accessors is not None:
            accessors.JumpStartModelsAccessor.reset_cache()

    @staticmethod
    def _quiet_logs() -> None:
        import logging

        if os.environ.get("LABKIT_SAGEMAKER_VERBOSE"):
            return
        for name in ("werkzeug", "moto"):
            logging.getLogger(name).setLevel(logging.WARNING)

    # --- sessions --------------------------------------------------------------------------------

    def boto_session(self):
        """A boto3 session for this emulator, with the emulator's event handlers installed.

        Each call returns a new session, so a test can add its own handlers (fault injection)
        without touching other sessions.
        """
        self._require_running()
        key, secret, token = self._credentials
        session = _PinnedSession(self.url, region_name=self.region, aws_access_key_id=key,
                                 aws_secret_access_key=secret, aws_session_token=token)
        self.install(session)
        return session

    def install(self, session) -> None:
        """Register the emulator's botocore handlers on ``session`` (see the module docstring)."""
        events = session.events
        events.register("before-call", self._keep_on_loopback)
        events.register("after-call.sagemaker", self._drop_empty_dicts)
        events.register("before-call.sagemaker.DescribeHubContent", self._describe_hub_content)
        events.register("before-call.iam.SimulatePrincipalPolicy", self._simulate_principal_policy)
        events.register("before-call.sagemaker.StopTrainingJob", self._stop_training_job)
        events.register("before-parameter-build.sagemaker.CreateTrainingJob", self._job_created)
        events.register("after-call.sagemaker.DescribeTrainingJob", self._job_status)
        events.register("after-call.sagemaker.ListTrainingJobs", self._job_statuses)
        # queued just before the request leaves, so a call that fails earlier leaves no stale reply behind
        events.register("before-send.sagemaker-runtime.InvokeEndpoint", self._queue_reply)

    def _keep_on_loopback(self, params, model, **_):
        parts = urlsplit(params["url"])
        emulator = urlsplit(self.url)
        if parts.netloc == emulator.netloc:
            return None
        if model.service_model.service_name == "sts":
            # sagemaker.core.helper.session_helper.sts_regional_endpoint: a hard-coded AWS URL
            params["url"] = urlunsplit((emulator.scheme, emulator.netloc, parts.path, parts.query, parts.fragment))
            return None
        raise EmulatorError(f"{model.service_model.service_name}.{model.name} tried to reach {params['url']}, "
                            f"outside the emulator at {self.url}. labkit keeps emulated runs on loopback.")

    @staticmethod
    def _drop_empty_dicts(parsed, **_):
        for key in [k for k, v in parsed.items() if isinstance(v, dict) and not v and k != "ResponseMetadata"]:
            del parsed[key]

    def _respond(self, params, status: int, parsed: dict):
        from botocore.awsrequest import AWSResponse

        parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status, "RequestId": "labkit-emulator"})
        return AWSResponse(params["url"], status, {}, None), parsed

    def _describe_hub_content(self, params, **_):
        request = json.loads(params.get("body") or b"{}")
        name, version = request.get("HubContentName"), request.get("HubContentVersion") or "*"
        try:
            spec = load_spec(name, version)
        except EmulatorError as err:
            return self._respond(params, 400, {"Error": {"Code": "ResourceNotFound", "Message": str(err)}})
        hub_arn = f"arn:aws:sagemaker:{self.region}:aws:hub/{request.get('HubName', PUBLIC_HUB)}"
        return self._respond(params, 200, {
            "HubContentName": spec["model_id"],
            "HubContentArn": f"arn:aws:sagemaker:{self.region}:aws:hub-content/{PUBLIC_HUB}/Model/"
                             f"{spec['model_id']}/{spec['version']}",
            "HubContentVersion": spec["version"],
            "HubContentType": "Model",
            "DocumentSchemaVersion": "2.3.0",
            "HubName": request.get("HubName", PUBLIC_HUB),
            "HubArn": hub_arn,
            "HubContentDisplayName": f"{spec['model_id']} (labkit local copy)",
            "HubContentDescription": spec.get("labkit_note", ""),
            "HubContentDocument": json.dumps(hub_document(spec, self.region)),
            "HubContentStatus": "Available",
            "CreationTime": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        })

    def _simulate_principal_policy(self, params, **_):
        from urllib.parse import parse_qs

        body = params.get("body") or {}
        fields = body if isinstance(body, dict) else parse_qs(body.decode() if isinstance(body, bytes) else body)
        actions = [v if isinstance(v, str) else v[0] for k, v in fields.items() if k.startswith("ActionNames.member")]
        results = [{"EvalActionName": a, "EvalDecision": "allowed", "EvalResourceName": "*"} for a in actions]
        return self._respond(params, 200, {"EvaluationResults": results, "IsTruncated": False})

    # --- training jobs ------------------------------------------------------------------------------

    def keep_training_jobs_running(self, on: bool = True) -> None:
        """Let training jobs created from now on report ``InProgress`` until StopTrainingJob, then ``Stopped``.

        moto marks every job ``Completed`` at once, which leaves nothing to stop; this stands in for a job
        that is still training (no container runs either way). Jobs created before keep moto's status.
        """
        self._hold_jobs = bool(on)

    def _job_created(self, params, **_):
        if self._hold_jobs and params.get("TrainingJobName"):
            self._held.add(params["TrainingJobName"])

    def _held_status(self, item: dict) -> None:
        name = item.get("TrainingJobName")
        if name not in self._held or "TrainingJobStatus" not in item:
            return
        stopped = name in self._stopped
        item["TrainingJobStatus"] = "Stopped" if stopped else "InProgress"
        if "SecondaryStatus" in item:
            item["SecondaryStatus"] = "Stopped" if stopped else "Training"
        if not stopped:
            for key in ("TrainingEndTime", "ModelArtifacts"):
                item.pop(key, None)

    def _job_status(self, parsed, **_):
        self._held_status(parsed)

    def _job_statuses(self, parsed, **_):
        for item in parsed.get("TrainingJobSummaries", []):
            self._held_status(item)

    def _stop_training_job(self, params, **_):
        # moto 5.2 has no StopTrainingJob (HTTP 500, retried for ~30 s): answered here, as AWS would
        name = json.loads(params.get("body") or b"{}").get("TrainingJobName", "")
        if name in self._held and name not in self._stopped:
            self._stopped.add(name)
            return self._respond(params, 200, {})
        status = "Stopped" if name in self._stopped else "Completed"  # moto completes the others at once
        return self._respond(params, 400, {"Error": {
            "Code": "ValidationException",
            "Message": f"The request was rejected because the training job is in status {status}."}})

    # --- the "model" -----------------------------------------------------------------------------

    @staticmethod
    def reply_for(body: bytes | str, endpoint: str = "") -> dict:
        """What an emulated endpoint answers: a labelled echo of the request, never model output.

        The reply uses the response shape of labkit's local FLAN-T5 spec (``generated_texts``), so the
        parsing code is exercised; its text says plainly that no model ran and what arrived.
        """
        raw = body.encode() if isinstance(body, str) else bytes(body)
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        if isinstance(request, dict):
            prompt = next((v for v in request.values() if isinstance(v, str)), "")
            others = ", ".join(f"{k}={v!r}" for k, v in request.items() if not isinstance(v, str))
            head = re.sub(r"\s+", " ", prompt)[:60]
            text = (f"{REPLY_LABEL} Endpoint {endpoint or '?'} received a {len(prompt)}-character prompt "
                    f"starting {head!r}" + (f" and {others}" if others else "") + ".")
        else:
            text = f"{REPLY_LABEL} Endpoint {endpoint or '?'} received {len(raw)} bytes that are not a JSON object."
        return {"generated_texts": [text]}

    def _queue_reply(self, request, **_):
        parts = urlsplit(request.url).path.strip("/").split("/")  # endpoints/<name>/invocations
        endpoint = parts[1] if len(parts) > 1 else ""
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else bytes(body)
        # moto 5.2 keys its answers on the Accept and x-amzn-sagemaker-* headers and the body - not on the
        # endpoint (measured: the same body sent to a second endpoint got the first endpoint's answer). This
        # header, seen only by moto, makes the endpoint part of its key, as it is part of labkit's.
        request.headers[ENDPOINT_HEADER] = endpoint
        headers = {str(k).lower(): v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        # a repeated request gets its first answer again and leaves the queue alone: queue only for new ones
        key = (endpoint, body, tuple(sorted((k, v) for k, v in headers.items()
                                            if k == "accept" or k.startswith("x-amzn-sagemaker"))))
        with self._lock:
            if key in self._replied:
                return None
            self._replied.add(key)
        self.queue_results([json.dumps(self.reply_for(body, endpoint))])
        return None

    def queue_results(self, bodies: list[str], content_type: str = "application/json") -> None:
        """Queue raw endpoint answers in moto (each new request to any endpoint takes the next one)."""
        self._post("/moto-api/static/sagemaker/endpoint-results", {
            "account_id": ACCOUNT_ID, "region": self.region,
            "results": [{"Body": b, "ContentType": content_type} for b in bodies]})

    def _post(self, path: str, payload: Any) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        request = urllib.request.Request(self.url + path, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    # --- inspection --------------------------------------------------------------------------------

    def resources(self) -> dict[str, list[str]]:
        """Every endpoint, endpoint config and model the emulated account holds (tagged or not)."""


        self._require_running()
        client = self.boto_session().client("sagemaker")
        out = {}
        for spec in RESOURCE_KINDS:
            if spec.status_key:  # training jobs cannot be deleted: see training_jobs()
                continue
            names = []
            for page in client.get_paginator(spec.list_call).paginate():
                names += [item[spec.name_key] for item in page[spec.list_key]]
            out[spec.kind.replace(" ", "_") + "s"] = sorted(names)
        return out

    def training_jobs(self) -> dict[str, str]:
        """Every training job in the emulated account and its status (as labkit's sessions see it)."""
        self._require_running()
        client = self.boto_session().client("sagemaker")
        jobs = {}
        for page in client.get_paginator("list_training_jobs").paginate():
            jobs.update({j["TrainingJobName"]: j["TrainingJobStatus"] for j in page["TrainingJobSummaries"]})
        return jobs

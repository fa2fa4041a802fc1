"""labkit.sagemaker against labkit's emulator: moto's server on loopback, over real HTTP.

labkit itself is never patched here. Faults are injected the way AWS would produce them: botocore
event handlers on the boto3 session of the target under test (a call that fails, an endpoint that
reports Failed). After every fault the emulated account must hold no endpoint, endpoint config or
model. An audit hook records every socket connection, so "nothing left loopback" is checked, not assumed.
"""

from __future__ import annotations

import io
import ipaddress
import json
import sys
from contextlib import redirect_stderr, redirect_stdout

import pytest
from botocore.exceptions import ClientError
from browser_helpers import free_port  # tests/ is on sys.path under pytest

from labkit import cli
from labkit import sagemaker as sm
from labkit.emulator import REPLY_LABEL, Emulator, hub_document, load_spec

EMPTY = {"endpoints": [], "endpoint_configs": [], "models": []}
_connections: list = []


def _audit(event, args):
    if event == "socket.connect":
        _connections.append(args[1])


sys.addaudithook(_audit)


def _non_loopback(addresses) -> list:
    bad = []
    for address in addresses:
        if isinstance(address, tuple):
            host = address[0]
            try:
                if host != "localhost" and not ipaddress.ip_address(host.split("%")[0]).is_loopback:
                    bad.append(address)
            except ValueError:
                bad.append(address)
    return bad


@pytest.fixture(autouse=True)
def stays_on_loopback():
    """Every test here: no socket connection outside loopback (the audit hook sees all of them)."""
    start = len(_connections)
    yield
    assert not _non_loopback(_connections[start:]), "a connection left loopback"


@pytest.fixture(scope="module")
def emulator():
    with Emulator() as emu:
        yield emu


@pytest.fixture
def target(emulator):
    """A fresh target (its own boto3 session), so a test's fault handlers stay with that test."""
    t = sm.connect(emulator=emulator)
    yield t
    sm.cleanup(t)  # never let one test's leftovers hide another's
    assert emulator.resources() == EMPTY


def _fail(code="InternalFailure", message="injected fault", times=None):
    """A before-call handler that fails the call like AWS would (``times`` = only the first n calls)."""
    state = {"calls": 0}

    def handler(model, **_):
        state["calls"] += 1
        if times is None or state["calls"] <= times:
            raise ClientError({"Error": {"Code": code, "Message": message}}, model.name)

    handler.state = state
    return handler


def _tag_keys(client, arn: str) -> dict:
    return {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=arn)["Tags"]}


# --- the full lifecycle ----------------------------------------------------------------------------

def test_full_lifecycle_tags_everything_and_leaves_nothing(emulator, target):
    client = target.boto_session.client("sagemaker")
    start = len(_connections)
    calls: list[str] = []
    target.boto_session.events.register("before-call", lambda model, **_: calls.append(model.name))

    with sm.deployment(target) as dep:
        assert emulator.resources() == {"endpoints": [dep.endpoint_name],
                                        "endpoint_configs": [dep.endpoint_config_name], "models": [dep.model_name]}
        arns = [client.describe_endpoint(EndpointName=dep.endpoint_name)["EndpointArn"],
                client.describe_endpoint_config(EndpointConfigName=dep.endpoint_config_name)["EndpointConfigArn"],
                client.describe_model(ModelName=dep.model_name)["ModelArn"]]
        for arn in arns:
            assert _tag_keys(client, arn)[sm.TAG_KEY] == sm.TAG_VALUE
            assert _tag_keys(client, arn)[sm.RUN_TAG_KEY] == dep.run_id
        assert dep.payload_format.prompt_key == "text_inputs"  # read from the (local) spec
        dialogue = "#Person1#: Is the printer fixed?\n#Person2#: Yes, since noon."
        summary = sm.summarize(dep, dialogue)
        assert summary.startswith(REPLY_LABEL)  # labelled: no model ran
        assert "max_length=50" in summary and dep.endpoint_name in summary
    assert emulator.resources() == EMPTY
    assert {"CreateModel", "CreateEndpointConfig", "CreateEndpoint", "InvokeEndpoint", "DeleteEndpoint",
            "DeleteEndpointConfig", "DeleteModel", "GetCallerIdentity"} <= set(calls)

    hyperparameters = sm.training_hyperparameters(target)
    assert sm.lora_supported(hyperparameters)
    uri = sm.upload_training_data(target, sm.training_records(limit=20))
    bucket, prefix = uri[5:].split("/", 1)
    lines = target.boto_session.client("s3").get_object(Bucket=bucket, Key=prefix + "train.jsonl")["Body"].read()
    assert len(lines.decode().splitlines()) == 20 and '"completion"' in lines.decode()
    run = sm.fine_tune(target, uri, {"epochs": 1, "learning_rate": 0.001})
    assert run.status == "Completed" and run.lora
    job = client.describe_training_job(TrainingJobName=run.job_name)
    assert job["HyperParameters"]["peft_type"] == "lora" and job["HyperParameters"]["epochs"] == "1"
    assert [c["ChannelName"] for c in job["InputDataConfig"]][0] == "training"
    assert _tag_keys(client, job["TrainingJobArn"])[sm.TAG_KEY] == sm.TAG_VALUE

    with sm.deployment(target, artifacts=run.artifacts) as tuned:
        container = client.describe_model(ModelName=tuned.model_name)["PrimaryContainer"]
        assert container["ModelDataUrl"] == run.artifacts  # the fine-tuned weights, not the pretrained ones
        tuned_summary = sm.summarize(tuned, dialogue)  # the same request to another endpoint gets its own answer
        assert tuned_summary.startswith(REPLY_LABEL) and tuned.endpoint_name in tuned_summary
    assert emulator.resources() == EMPTY
    assert not _non_loopback(_connections[start:]) and len(_connections) > start  # real HTTP, all on loopback


def test_hub_document_from_the_local_spec_is_what_the_sdk_expects():
    from sagemaker.core.jumpstart.models import HubContentDocument

    spec = load_spec(sm.DEFAULT_MODEL_ID)
    assert "+labkit.local" in spec["version"] and "labkit" in spec["labkit_note"]
    document = HubContentDocument(**hub_document(spec))
    assert document.TrainingSupported
    assert "ml.g5.xlarge" in document.SupportedTrainingInstanceTypes
    assert document.TrainingInstanceTypeVariants.Variants["g5"].Properties.ImageUri.startswith("763104351884.dkr.ecr")


# --- what makes the SDK quick against the emulator -------------------------------------------------

def test_emulator_sessions_share_api_models_but_not_fault_handlers(emulator):
    one, two = emulator.boto_session(), emulator.boto_session()
    assert one._loader is two._loader  # each service's API model is parsed once per process
    assert len(one._loader.search_paths) == len(set(one._loader.search_paths))
    one.events.register("before-call.sagemaker.ListModels", _fail(code="ThrottlingException"))
    with pytest.raises(ClientError, match="ThrottlingException"):
        one.client("sagemaker").list_models()
    assert "Models" in two.client("sagemaker").list_models()  # the other session has no such handler


def test_the_sdk_checks_each_config_once_and_still_rejects_a_bad_one(monkeypatch):
    import jsonschema

    sm._sdk()
    from sagemaker.core.config.config_manager import SageMakerConfig

    checks = []
    real = jsonschema.validate
    monkeypatch.setattr(jsonschema, "validate", lambda *a, **k: (checks.append(1), real(*a, **k)))
    good = {"SchemaVersion": "1.0", "CustomParameters": {"labkit_test": "checked once"}}
    for _ in range(3):
        SageMakerConfig().validate_sagemaker_config(json.loads(json.dumps(good)))
    assert len(checks) == 1
    bad = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": "sometimes"}}}}
    for _ in range(2):
        with pytest.raises(jsonschema.ValidationError, match="sometimes"):
            SageMakerConfig().validate_sagemaker_config(bad)
    assert len(checks) == 3  # a config that fails is checked (and fails) every time
    remembering = SageMakerConfig.validate_sagemaker_config
    sm.validate_each_config_once()  # a second call does not wrap the wrapper
    assert SageMakerConfig.validate_sagemaker_config is remembering


# --- a fault at each step leaves nothing behind ----------------------------------------------------

@pytest.mark.parametrize("operation,step", [("CreateModel", "build"), ("CreateEndpoint", "create endpoint")])
def test_failed_creation_deletes_what_was_created(emulator, target, operation, step):
    target.boto_session.events.register(f"before-call.sagemaker.{operation}", _fail())
    with pytest.raises(sm.DeploymentError, match=step):
        sm.deploy(target)
    assert emulator.resources() == EMPTY


def test_endpoint_that_fails_to_start_is_deleted(emulator, target):
    def failed(parsed, **_):
        if "EndpointStatus" in parsed:
            parsed["EndpointStatus"], parsed["FailureReason"] = "Failed", "injected: the container did not start"

    target.boto_session.events.register("after-call.sagemaker.DescribeEndpoint", failed)
    with pytest.raises(sm.DeploymentError, match="did not start"):
        with sm.deployment(target):
            pytest.fail("the body must not run when the endpoint failed")
    assert emulator.resources() == EMPTY


def test_failed_invoke_inside_the_context_manager_still_deletes(emulator, target):
    target.boto_session.events.register("before-call.sagemaker-runtime.InvokeEndpoint", _fail("ModelError"))
    with pytest.raises(ClientError, match="ModelError"):
        with sm.deployment(target) as dep:
            sm.summarize(dep, "#Person1#: Hello?")
    assert emulator.resources() == EMPTY
    # the failed call left no stale emulator reply behind: the next answer echoes its own request
    with sm.deployment(sm.connect(emulator=emulator)) as dep:
        assert "#Person1#: Where is" in sm.summarize(dep, "#Person1#: Where is the station?")
    assert emulator.resources() == EMPTY


def test_error_in_the_with_block_deletes_everything(emulator, target):
    with pytest.raises(RuntimeError, match="a mistake in my code"):
        with sm.deployment(target):
            assert emulator.resources()["endpoints"]
            raise RuntimeError("a mistake in my code")
    assert emulator.resources() == EMPTY


def test_a_delete_that_fails_once_is_retried(emulator, target):
    flaky = _fail("ThrottlingException", times=1)
    target.boto_session.events.register("before-call.sagemaker.DeleteEndpoint", flaky)
    with sm.deployment(target):
        pass
    assert flaky.state["calls"] == 2
    assert emulator.resources() == EMPTY


def test_a_delete_that_keeps_failing_is_reported_and_cleanup_finishes_it(emulator, target):
    broken = _fail("AccessDeniedException", "injected: not allowed to delete")
    target.boto_session.events.register("before-call.sagemaker.DeleteEndpointConfig", broken)
    with pytest.raises(sm.CleanupIncomplete, match="labkit cleanup") as info:
        with sm.deployment(target):
            pass
    assert [kind for kind, _ in info.value.leftovers] == ["endpoint config"]
    assert emulator.resources()["endpoints"] == [] and emulator.resources()["models"] == []
    target.boto_session.events.unregister("before-call.sagemaker.DeleteEndpointConfig", broken)
    found = sm.cleanup(target)
    assert [kind for kind, _ in found] == ["endpoint config"]
    assert emulator.resources() == EMPTY


def test_interrupted_training_is_stopped(emulator, target):
    stops = []

    def still_running(parsed, **_):
        if "TrainingJobStatus" in parsed:
            parsed["TrainingJobStatus"] = "InProgress"

    target.boto_session.events.register("after-call.sagemaker.DescribeTrainingJob", still_running)
    target.boto_session.events.register_first("before-call.sagemaker.StopTrainingJob", lambda **_: stops.append(1))
    uri = sm.upload_training_data(target, sm.training_records(limit=5))
    with pytest.raises(Exception, match="(?i)timeout|timed out|still running"):
        sm.fine_tune(target, uri, timeout_s=1)
    assert stops == [1]


# --- the spec decides LoRA and the payload ---------------------------------------------------------

def test_no_lora_when_the_spec_does_not_offer_it(emulator, target):
    def without_peft(parsed, **_):
        document = json.loads(parsed["HubContentDocument"])
        document["Hyperparameters"] = [h for h in document["Hyperparameters"] if h["Name"] != "peft_type"]
        parsed["HubContentDocument"] = json.dumps(document)

    target.boto_session.events.register("after-call.sagemaker.DescribeHubContent", without_peft)
    assert not sm.lora_supported(sm.training_hyperparameters(target))
    uri = sm.upload_training_data(target, sm.training_records(limit=5))
    with pytest.raises(ValueError, match="no peft_type=lora"):
        sm.fine_tune(target, uri, lora=True)
    run = sm.fine_tune(target, uri)
    assert not run.lora and "peft_type" not in run.hyperparameters


def test_lora_off_uses_the_specs_own_spelling(emulator, target):
    def lora_by_default(parsed, **_):  # like specs whose peft_type defaults to "lora", options ["lora", "None"]
        document = json.loads(parsed["HubContentDocument"])
        for h in document["Hyperparameters"]:
            if h["Name"] == "peft_type":
                h["Default"], h["Options"] = "lora", ["lora", "None"]
        parsed["HubContentDocument"] = json.dumps(document)

    target.boto_session.events.register("after-call.sagemaker.DescribeHubContent", lora_by_default)
    uri = sm.upload_training_data(target, sm.training_records(limit=5))
    run = sm.fine_tune(target, uri, lora=False)
    job = target.boto_session.client("sagemaker").describe_training_job(TrainingJobName=run.job_name)
    assert not run.lora and job["HyperParameters"]["peft_type"] == "None"


def test_hyperparameters_are_checked_against_the_spec():
    spec = [{"name": "epochs", "options": []}, {"name": "lora_r", "options": []},
            {"name": "peft_type", "options": ["none", "lora"]}]
    assert sm.check_hyperparameters({"epochs": 3, "lora_r": 8, "peft_type": "lora"}, spec) == {
        "epochs": "3", "lora_r": "8", "peft_type": "lora"}
    with pytest.raises(ValueError, match="Did you mean 'lora_r'"):
        sm.check_hyperparameters({"lora_rank": 8}, spec)
    with pytest.raises(ValueError, match="allows"):
        sm.check_hyperparameters({"peft_type": "qlora"}, spec)


def test_payload_helpers_follow_the_format():
    fmt = sm.TEXT2TEXT_FALLBACK
    assert sm.build_payload(fmt, "Summarize: hi", max_length=20) == {"text_inputs": "Summarize: hi", "max_length": 20}
    assert sm.generated_text(fmt, {"generated_texts": ["a summary"]}) == "a summary"
    tgi = sm.PayloadFormat("application/json", "application/json", "inputs", {"parameters": {"max_new_tokens": 64}},
                           "[0].generated_text", "test")
    assert sm.build_payload(tgi, "hi", temperature=0.5) == {
        "inputs": "hi", "parameters": {"max_new_tokens": 64, "temperature": 0.5}}
    assert sm.generated_text(tgi, [{"generated_text": "x"}]) == "x"
    with pytest.raises(ValueError, match="No generated text"):
        sm.generated_text(fmt, {"something": "else"})


# --- the cost guard --------------------------------------------------------------------------------

def _creates(target) -> list:
    calls = []
    target.boto_session.events.register("before-call.sagemaker", lambda model, **_: calls.append(model.name))
    return calls


def test_cost_guard_refuses_an_instance_type_outside_the_allow_list(emulator, target, capsys):
    calls = _creates(target)
    with pytest.raises(sm.CostGuardError, match="allow-list.*override=True"):
        sm.deploy(target, instance_type="ml.p3.2xlarge")
    assert "ml.p3.2xlarge" in capsys.readouterr().out  # the plan was printed first
    assert calls == [] and emulator.resources() == EMPTY


def test_cost_guard_refuses_a_plan_above_the_hourly_limit(emulator, target):
    calls = _creates(target)
    with pytest.raises(sm.CostGuardError, match=r"above the limit of \$2.00/hour.*max_usd_per_hour"):
        sm.deploy(target, instance_count=3)  # 3 x ml.g4dn.xlarge
    with pytest.raises(sm.CostGuardError, match="above the limit"):
        sm.fine_tune(target, "s3://bucket/data/", instance_type="ml.g5.2xlarge", instance_count=2)
    assert calls == []


def test_cost_guard_override_goes_ahead(emulator, target, capsys):
    with sm.deployment(target, instance_count=3, override=True) as dep:
        assert dep.instance_count == 3
    assert "overridden" in capsys.readouterr().out
    p = sm.plan("deploy", "ml.g4dn.xlarge", 3)
    sm.check_plan(p, max_usd_per_hour=2.5)  # a raised limit is an override too


def test_estimates():
    assert sm.estimate_cost("ml.g4dn.xlarge", 64) == pytest.approx(0.74 * 64)
    assert sm.estimate_cost("ml.g5.xlarge", 10, instance_count=2) == pytest.approx(1.41 * 20)
    with pytest.raises(KeyError, match="PRICES_USD_PER_HOUR"):
        sm.estimate_cost("ml.x99.mega", 1)
    assert all(t in sm.PRICES_USD_PER_HOUR for t in sm.ALLOWED_INSTANCE_TYPES)


def test_a_real_account_needs_confirmation(emulator):
    t = sm.connect(emulator=emulator)
    t.kind, t.confirmed = "aws", False  # what connect() would build for an unconfirmed account
    with pytest.raises(sm.CostGuardError, match="confirm=True"):
        sm.deploy(t)
    assert emulator.resources() == EMPTY


# --- no credentials, and the cleanup command -------------------------------------------------------

@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "LABKIT_NO_NETWORK", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_no_credentials_prints_a_message_and_the_dry_run_plan(no_credentials, capsys):
    assert sm.credentials_source() is None
    assert sm.connect(emulator=False) is None  # no exception, nothing created
    out = capsys.readouterr().out
    assert "No AWS credentials found" in out
    assert out.count("PLAN") == 4 and "ml.g4dn.xlarge" in out and "$0.74/hour" in out


def test_no_credentials_falls_back_to_the_labelled_emulator(emulator, no_credentials, capsys):
    with sm.connect() as t:
        assert t.is_emulator and "emulator" in t.label
        assert "local AWS emulator" in capsys.readouterr().out
        assert t.emulator is emulator  # one emulator per process: the running one is reused...
    assert emulator.running  # ...and left running by a target that did not start it
    with pytest.raises(Exception, match="already running"):
        Emulator().start()


def test_credentials_that_do_not_work_fall_back_to_the_emulator(no_credentials, monkeypatch, capsys):
    port = free_port()  # a loopback port nobody listens on: AWS "refuses" at once
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "expired")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    with sm.connect(confirm=True) as t:
        assert t.is_emulator and t.boto_session.client("sagemaker").list_endpoints()["Endpoints"] == []
    out = capsys.readouterr().out
    assert "did not accept them" in out and out.count("PLAN") == 4


def test_cleanup_command_without_credentials(no_credentials):
    err = io.StringIO()
    with redirect_stderr(err):
        assert cli.main(["cleanup", "--region", "us-east-1"]) == 2
    assert "No AWS credentials found" in err.getvalue()


def test_cleanup_command_dry_run_then_delete(emulator, target):
    kept = sm.deploy(target)  # deliberately not in a `with`: a kernel that died mid-notebook
    client = target.boto_session.client("sagemaker")
    client.create_model(ModelName="not-labkit", ExecutionRoleArn=emulator.role_arn,
                        PrimaryContainer={"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["cleanup", "--dry-run", "--region", emulator.region]) == 0
    assert out.getvalue().count(kept.endpoint_name) == 3 and "not-labkit" not in out.getvalue()
    assert emulator.resources()["endpoints"] == [kept.endpoint_name]  # dry run deleted nothing
    with redirect_stdout(io.StringIO()):
        assert cli.main(["cleanup", "--region", emulator.region]) == 0
    assert emulator.resources() == {"endpoints": [], "endpoint_configs": [], "models": ["not-labkit"]}
    client.delete_model(ModelName="not-labkit")
    with redirect_stdout(out := io.StringIO()):
        assert cli.main(["cleanup", "--region", emulator.region]) == 0
    assert "No labkit-tagged" in out.getvalue()


# --- labkit's own training script as a distributed training job ------------------------------------

SCRIPT_HP = {"method": "full", "max-steps": 1558, "per-device-batch-size": 4, "output-dir": "/opt/ml/model"}


def _request_params(target, operation: str) -> list[dict]:
    """The API parameters of every ``operation`` call the target's session makes (what reached AWS)."""
    seen: list[dict] = []
    target.boto_session.events.register(f"before-parameter-build.sagemaker.{operation}",
                                        lambda params, **_: seen.append(dict(params)))
    return seen


def test_script_job_submits_labkit_train_under_torchrun(emulator, target):
    created = _request_params(target, "CreateTrainingJob")
    job = sm.train_script(target, SCRIPT_HP)  # the emulator runs no container: bookkeeping only
    assert job.status == "Completed" and job.instance_count == 2 and job.processes_per_node == 1
    request = created[0]
    assert request["Environment"] == {"LABKIT_PROFILE": "course"}  # moto does not keep it: checked as sent
    assert request["StoppingCondition"]["MaxRuntimeInSeconds"] == int(sm.SCRIPT_MAX_HOURS * 3600)
    assert request["HyperParameters"] == {"method": "full", "max-steps": "1558", "per-device-batch-size": "4",
                                          "output-dir": "/opt/ml/model"}
    client = target.boto_session.client("sagemaker")
    described = client.describe_training_job(TrainingJobName=job.job_name)
    assert described["AlgorithmSpecification"]["TrainingImage"] == job.image
    assert "/pytorch-training:2.10-gpu-" in job.image and job.image.startswith("763104351884.dkr.ecr.us-east-1")
    assert described["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert described["ResourceConfig"]["InstanceCount"] == 2
    assert _tag_keys(client, described["TrainingJobArn"]) == {sm.TAG_KEY: sm.TAG_VALUE, sm.RUN_TAG_KEY: job.run_id}
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in described["InputDataConfig"]}
    assert set(channels) == {"code", "sm_drivers"} and channels["code"] == job.code

    s3 = target.boto_session.client("s3")

    def objects(uri):
        bucket, prefix = uri[5:].split("/", 1)
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["Contents"]
        return {o["Key"][len(prefix) + 1:]: (bucket, o["Key"]) for o in listed}

    def text(location):
        return s3.get_object(Bucket=location[0], Key=location[1])["Body"].read().decode()

    code = objects(channels["code"])
    assert {sm.SCRIPT_ENTRY, "requirements.txt", "labkit/__init__.py", "labkit/sagemaker/__init__.py",
            "data/dialogsum/dialogsum.train.jsonl"} <= set(code)
    assert not [k for k in code if "__pycache__" in k or k.endswith(".pyc")]
    assert "runpy.run_module(\"labkit.train\"" in text(code[sm.SCRIPT_ENTRY])
    assert "transformers<6,>=5.0" in text(code["requirements.txt"]).splitlines()
    drivers = objects(channels["sm_drivers"])
    assert json.loads(text(drivers["sourcecode.json"]))["entry_script"] == sm.SCRIPT_ENTRY
    assert json.loads(text(drivers["distributed.json"]))["process_count_per_node"] == 1
    script = text(drivers["sm_train.sh"])  # what the container runs: requirements, then the torchrun driver
    assert "install_requirements.py requirements.txt" in script and "torchrun_driver.py" in script
    assert job.command[:3] == ["torchrun", "--nnodes=2", "--nproc_per_node=1"]
    assert job.command[-9:] == [sm.SCRIPT_ENTRY, "--method", "full", "--max-steps", "1558",
                                "--per-device-batch-size", "4", "--output-dir", "/opt/ml/model"]


def test_script_hyperparameters_are_refused_before_anything_is_uploaded(emulator, target):
    calls = []
    target.boto_session.events.register("before-call", lambda model, **_: calls.append(model.name))
    for wrong, hint in [({**SCRIPT_HP, "max_steps": 10}, "Use 'max-steps'"),
                        ({**SCRIPT_HP, "resume": True}, "on/off flag"),
                        ({**SCRIPT_HP, "output-dir": "runs/x"}, "uploads only /opt/ml/model"),
                        ({"method": "full"}, "requires --max-steps, --output-dir")]:
        with pytest.raises(ValueError, match=hint):
            sm.train_script(target, wrong)
    with pytest.raises(sm.CostGuardError, match="above the limit"):  # 2 x 1.41 $/h
        sm.train_script(target, SCRIPT_HP, instance_type="ml.g5.xlarge", instance_count=2)
    assert calls == []


def test_interrupted_script_job_is_stopped(emulator, target):
    emulator.keep_training_jobs_running()  # jobs report InProgress until stopped (still no container)
    described = {"n": 0}

    def interrupt(**_):  # Ctrl-C during the wait: the job's second DescribeTrainingJob
        described["n"] += 1
        if described["n"] == 2:
            raise KeyboardInterrupt

    target.boto_session.events.register("before-call.sagemaker.DescribeTrainingJob", interrupt)
    stops = _request_params(target, "StopTrainingJob")
    try:
        with pytest.raises(KeyboardInterrupt):
            sm.train_script(target, SCRIPT_HP)
    finally:
        emulator.keep_training_jobs_running(False)
    assert len(stops) == 1
    assert emulator.training_jobs()[stops[0]["TrainingJobName"]] == "Stopped"
    assert sm.stop_training_job(target, stops[0]["TrainingJobName"]) == "Stopped"  # stopping twice is fine


def test_cleanup_stops_running_labkit_training_jobs(emulator, target):
    emulator.keep_training_jobs_running()
    try:
        job = sm.train_script(target, SCRIPT_HP, wait=False)
        client = target.boto_session.client("sagemaker")
        client.create_training_job(  # running, but not labkit's
            TrainingJobName="not-labkit-job", RoleArn=emulator.role_arn,
            AlgorithmSpecification={"TrainingImage": "123.dkr.ecr.us-east-1.amazonaws.com/x:1",
                                    "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": f"s3://{emulator.bucket}/x"},
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
            StoppingCondition={"MaxRuntimeInSeconds": 60})
    finally:
        emulator.keep_training_jobs_running(False)
    assert job.status == "InProgress"
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["cleanup", "--dry-run", "--region", emulator.region]) == 0
    assert f"would stop training job     {job.job_name}" in out.getvalue() and "not-labkit" not in out.getvalue()
    assert emulator.training_jobs()[job.job_name] == "InProgress"
    with redirect_stdout(io.StringIO()):
        assert cli.main(["cleanup", "--region", emulator.region]) == 0
    jobs = emulator.training_jobs()
    assert jobs[job.job_name] == "Stopped" and jobs["not-labkit-job"] == "InProgress"
    assert ("training job", job.job_name) not in sm.cleanup(target, dry_run=True)  # stopped jobs are not listed


def test_container_command_is_what_the_sdk_driver_builds(tmp_path):
    """labkit's container_command against the SDK's own torchrun driver, run in a subprocess."""
    import os
    import subprocess

    hp = sm.script_hyperparameters({**SCRIPT_HP, "seed": 7})
    ours = sm.container_command(hp, instance_count=2, processes_per_node=4)
    probe = ("import json, sagemaker.train.container_drivers.distributed_drivers.torchrun_driver as d; "
             "print(json.dumps(d.create_commands()))")
    env = {**os.environ, "SM_ENTRY_SCRIPT": sm.SCRIPT_ENTRY, "SM_HPS": json.dumps(hp), "SM_HOST_COUNT": "2",
           "SM_DISTRIBUTED_CONFIG": json.dumps({"process_count_per_node": 4, "smp": None}),
           "SM_MASTER_ADDR": "$SM_MASTER_ADDR", "SM_MASTER_PORT": "$SM_MASTER_PORT",
           "SM_CURRENT_HOST_RANK": "$SM_CURRENT_HOST_RANK", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ours


def test_script_flags_are_labkit_trains():
    train = pytest.importorskip("labkit.train")
    actions = [a for a in train.build_parser()._actions if a.option_strings and a.dest != "help"]
    flag = {a.option_strings[0][2:]: a for a in actions}
    assert set(sm.SCRIPT_FLAGS) == {name for name, a in flag.items() if a.nargs != 0}
    assert set(sm.SCRIPT_SWITCHES) == {name for name, a in flag.items() if a.nargs == 0}
    assert set(sm.SCRIPT_REQUIRED) == {name for name, a in flag.items() if a.required}


def test_instance_table_agrees_with_the_sdk_and_requirements_carry_labkits_ranges():
    import importlib.resources

    info = json.loads(importlib.resources.files("sagemaker.core").joinpath(
        "image_uri_config/instance_gpu_info.json").read_text(encoding="utf-8"))["us-east-1"]
    compared = 0
    for name, (count, memory, _) in sm.INSTANCE_GPUS.items():
        if name in info:
            assert info[name]["Count"] == count and info[name]["TotalGpuMemoryInMiB"] == count * memory * 1024, name
            compared += 1
    assert compared >= 4
    assert set(sm.INSTANCE_GPUS) == set(sm.PRICES_USD_PER_HOUR)
    lines = sm.training_requirements()
    assert len(lines) == len(sm.TRAINING_REQUIREMENTS) and "peft<1,>=0.17" in lines and "transformers<6,>=5.0" in lines
    assert not any(line.startswith("torch") and not line.startswith("torch-") for line in lines)  # the image has it


@pytest.mark.slow
def test_staged_code_trains_under_torchrun(tmp_path):
    """What the container does with the code channel, run here: torchrun on the entry script with the
    hyperparameters as the SDK's driver passes them (tiny profile, 2 steps, one process, CPU)."""
    import os
    import subprocess

    pytest.importorskip("labkit.train")
    bundle = sm.stage_training_code(tmp_path / "code")
    hp = sm.script_hyperparameters({"method": "lora", "max-steps": 2, "output-dir": "/opt/ml/model", "n-train": 32})
    command = sm.container_command(hp, instance_count=1, processes_per_node=1)
    command[command.index("/opt/ml/model")] = str(tmp_path / "model")  # no /opt/ml here
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(LABKIT_PROFILE="tiny", OMP_NUM_THREADS="1")
    env["PET_MASTER_PORT"] = str(free_port())  # torchrun's static rendezvous: a free port, not the default 29500
    which = subprocess.run([sys.executable, "-c", "import labkit; print(labkit.__file__)"], cwd=bundle, env=env,
                           capture_output=True, text=True, timeout=60)
    assert which.stdout.strip() == str(bundle / "labkit" / "__init__.py")  # the uploaded copy, not the repo's
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", *command[1:]], cwd=bundle, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["steps"] == 2

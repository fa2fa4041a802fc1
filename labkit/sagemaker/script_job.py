"""labkit's own training script (``labkit.train``) as a distributed SageMaker training job."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from labkit import config
from labkit.sagemaker.costs import (
    INSTANCE_GPUS,
    SCRIPT_INSTANCE_COUNT,
    SCRIPT_INSTANCE_TYPE,
    SCRIPT_JOB_ACTION,
    SCRIPT_MAX_HOURS,
    SCRIPT_MODEL,
    CleanupIncomplete,
    Plan,
    check_plan,
    gpus,
    plan,
)
from labkit.sagemaker.deploy import _run_id, tags
from labkit.sagemaker.resources import remove
from labkit.sagemaker.sdk import _sdk
from labkit.sagemaker.target import Target, _require_confirmed
from labkit.sagemaker.training import _wait_or_stop, unknown_name

# --- labkit's own training script as a distributed SageMaker training job -------------------------

SCRIPT_MODULE = "labkit.train"  # submitted by name: this module never imports it
SCRIPT_ENTRY = "labkit_train.py"  # torchrun needs a file: this one runs SCRIPT_MODULE as `python -m` would
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
    package = Path(__file__).resolve().parent.parent  # labkit/, this package's parent
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

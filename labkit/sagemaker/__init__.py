"""Notebook 11: deploy, invoke, fine-tune and delete a SageMaker JumpStart model, run labkit's own training
script as a distributed SageMaker training job - and never leave anything running.

Everything goes through the SageMaker Python SDK 3.x (``ModelBuilder.from_jumpstart_config``,
``ModelTrainer.from_jumpstart_config``, ``ModelTrainer`` with ``SourceCode`` and ``Torchrun``,
``sagemaker.core.resources``). The same functions run against a real AWS account or against labkit's
local emulator (:mod:`labkit.sagemaker.emulator`); only the endpoint URLs and credentials differ. What labkit adds
around the SDK:

* a cost guard: every call that creates something prints a plan (instance type, count, estimated
  $/hour from :data:`PRICES_USD_PER_HOUR`, and for training jobs the most the run can cost) and refuses
  instance types outside :data:`ALLOWED_INSTANCE_TYPES` or above :data:`MAX_USD_PER_HOUR` unless
  overridden; a real account is used only after an explicit confirmation (``connect(confirm=True)`` or
  ``LABKIT_SAGEMAKER_CONFIRM=1``);
* tags: every model, endpoint config, endpoint and training job carries ``labkit=notebook-11``, so
  :func:`cleanup` (and ``labkit cleanup``) can find what a crashed kernel left behind;
* guaranteed deletion: :func:`deployment` is a context manager that deletes the endpoint, its
  endpoint config and the model on exit, on error, and when creation fails half-way; a training job
  whose wait is interrupted is stopped. One remover (:func:`remove`, with retries) and one table of
  resource kinds (:data:`RESOURCE_KINDS`) serve :func:`delete` and :func:`cleanup` alike.

The package has one module per job, in the order they build on each other: :mod:`~labkit.sagemaker.costs`
(prices, the cost guard, plans), :mod:`~labkit.sagemaker.resources` (the kinds labkit creates and one remover),
:mod:`~labkit.sagemaker.emulator` (the local AWS stand-in), :mod:`~labkit.sagemaker.sdk` (the SDK, imported
late, and its quirks), :mod:`~labkit.sagemaker.target` (where the notebook runs),
:mod:`~labkit.sagemaker.jumpstart` (what a model's spec says), :mod:`~labkit.sagemaker.deploy`,
:mod:`~labkit.sagemaker.training`, :mod:`~labkit.sagemaker.script_job` and :mod:`~labkit.sagemaker.cleanup`.
Notebooks use the names re-exported here: ``from labkit import sagemaker``, ``sagemaker.deploy(...)``.
"""

from labkit.sagemaker import emulator  # noqa: F401
from labkit.sagemaker.cleanup import (  # noqa: F401
    cleanup,
    tagged_resources,
)
from labkit.sagemaker.costs import (  # noqa: F401
    ALLOWED_INSTANCE_TYPES,
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_MODEL_ID,
    DEFAULT_REGION,
    DEFAULT_TRAINING_INSTANCE_TYPE,
    INSTANCE_GPUS,
    MAX_USD_PER_HOUR,
    PRICES_AS_OF,
    PRICES_USD_PER_HOUR,
    RUN_TAG_KEY,
    SCRIPT_INSTANCE_COUNT,
    SCRIPT_INSTANCE_TYPE,
    SCRIPT_JOB_ACTION,
    SCRIPT_MAX_HOURS,
    SCRIPT_MODEL,
    TAG_KEY,
    TAG_VALUE,
    CleanupIncomplete,
    CostGuardError,
    DeploymentError,
    Plan,
    check_plan,
    estimate_cost,
    gpus,
    instances,
    plan,
    price,
)
from labkit.sagemaker.deploy import (  # noqa: F401
    Deployment,
    delete,
    deploy,
    deployment,
    invoke,
    summarize,
    tags,
)
from labkit.sagemaker.jumpstart import (  # noqa: F401
    TEXT2TEXT_FALLBACK,
    PayloadFormat,
    build_payload,
    generated_text,
    lora_supported,
    payload_format,
    resolve_version,
    training_hyperparameters,
)
from labkit.sagemaker.resources import (  # noqa: F401
    ACTIVE,
    KINDS,
    RESOURCE_KINDS,
    ResourceKind,
    remove,
    remove_all,
)
from labkit.sagemaker.script_job import (  # noqa: F401
    ENTRY_SCRIPT_TEXT,
    PYTORCH_VERSION,
    SCRIPT_ENTRY,
    SCRIPT_FLAGS,
    SCRIPT_MODULE,
    SCRIPT_OUTPUT_DIR,
    SCRIPT_REQUIRED,
    SCRIPT_SWITCHES,
    TRAINING_REQUIREMENTS,
    ScriptJob,
    container_command,
    script_hyperparameters,
    stage_training_code,
    stop_training_job,
    train_script,
    training_image,
    training_requirements,
)
from labkit.sagemaker.sdk import (  # noqa: F401
    _sdk,
    validate_each_config_once,
)
from labkit.sagemaker.target import (  # noqa: F401
    NO_CREDENTIALS,
    Target,
    connect,
    credentials_source,
    notebook_plans,
    show_plans,
)
from labkit.sagemaker.training import (  # noqa: F401
    TrainingRun,
    check_hyperparameters,
    fine_tune,
    training_records,
    unknown_name,
    upload_training_data,
)

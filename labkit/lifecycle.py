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
* **How much compute does pre-training cost, and how big should the model be?**
  See :func:`training_flops`, :func:`petaflop_s_days`, :func:`petaflop_gpu_table` (the lecture's
  "8 V100s or 2 A100s for one petaflop/s-day") and the Chinchilla rule of thumb in
  :func:`compute_optimal_tokens` / :func:`compute_optimal_params`.

Everything here is pure Python + torch + pandas, runs on CPU and never touches
the network.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

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

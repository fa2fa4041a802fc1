"""Model optimization: quantization, distillation, pruning, quantization-aware training and QLoRA (notebook 08).

The running example is an *encoder* task, where the lecture says distillation works best: naming the
topic of a dialogue. The **teacher** is all-MiniLM-L6-v2 (22 M parameters) with a linear head on its
sentence embedding; the **student** is a bag-of-words model about a tenth of its size. Every technique is
measured the same way: size on disk and in memory, CPU latency on a fixed batch, accuracy.

Two sections go below 8 bits. **Quantization-aware training** fine-tunes the student with fake-quantized
weights (a straight-through estimator) and compares it with post-training quantization at the same bit width.
**QLoRA** (Dettmers et al. 2023) builds NF4 by hand - the code book from normal quantiles, block-wise absmax,
double quantization of the constants - checks it against bitsandbytes, then fine-tunes the instruct LLM with
LoRA on a frozen 4-bit base next to LoRA on the fp32 base.
"""

from __future__ import annotations

import contextlib
import copy
import io
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from labkit import config
from labkit.metrics import bootstrap_ci  # noqa: F401  (notebook 08 uses optimization.bootstrap_ci)

# --- settings per profile ------------------------------------------------------------------------------------
# Sizes of notebook 08's quantization-aware training and QLoRA sections, per profile (to move into config.SETTINGS).
# qat: the distilled students (section 2) are fine-tuned `steps` more steps twice - in float, then quantized after
# training (PTQ), and with fake-quantized weights (QAT) - at `bits` bits per weight.
# qlora: LoRA on the frozen instruct LLM, 4-bit NF4 base vs fp32 base, on (summary -> topic) pairs: `steps` steps
# of `batch_size` examples, prompts cut to `max_prompt_tokens`, scored on `n_eval` held-out summaries.
OPTIMIZATION_SETTINGS: dict[str, dict[str, dict]] = {
    "course": {
        "qat": {"bits": 2, "steps": 50, "learning_rate": 1e-2},
        "qlora": {"steps": 40, "batch_size": 8, "learning_rate": 2e-4, "max_prompt_tokens": 96, "n_eval": 64,
                  "blocksize": 64, "double_quant": True, "compute_dtype": "bfloat16",
                  "lora": {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
                           "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}},
    },
    "tiny": {
        "qat": {"bits": 2, "steps": 50, "learning_rate": 1e-2},
        # the 4-bit CPU path dequantizes every weight on every forward and backward: a few short steps
        "qlora": {"steps": 8, "batch_size": 4, "learning_rate": 3e-3, "max_prompt_tokens": 40, "n_eval": 16,
                  "blocksize": 64, "double_quant": True, "compute_dtype": "float32",
                  "lora": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0,
                           "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}},
    },
}
# LABKIT_SIZES=smoke: the same code path with a handful of steps and examples (its numbers mean nothing).
OPTIMIZATION_SMOKE: dict[str, dict] = {"qat": {"steps": 2}, "qlora": {"steps": 1, "batch_size": 2, "n_eval": 2}}


def settings(name: str) -> dict:
    """Notebook 08's settings ``name`` ("qat" or "qlora") for the active profile (and ``LABKIT_SIZES`` scale).

    bf16 compute for the 4-bit base is used only where the hardware does bf16 natively (a recent CUDA GPU);
    elsewhere the compute dtype falls back to float32.
    """
    profile = config.get_profile()
    chosen = copy.deepcopy(OPTIMIZATION_SETTINGS[profile.name][name])
    if profile.scale == "smoke":
        chosen.update(OPTIMIZATION_SMOKE.get(name, {}))
    if chosen.get("compute_dtype") == "bfloat16" and not config.supports_bf16():
        chosen["compute_dtype"] = "float32"
    return chosen


# --- the teacher: MiniLM + a linear head ------------------------------------------------------------

class TopicClassifier(nn.Module):
    """A sentence encoder (mean-pooled transformer) plus a linear layer over the topics."""

    def __init__(self, encoder, n_labels: int, max_length: int = 128):
        super().__init__()
        self.encoder = encoder  # a sentence_transformers.SentenceTransformer
        self.encoder.max_seq_length = max_length
        self.head = nn.Linear(encoder.get_embedding_dimension() if hasattr(encoder, "get_embedding_dimension")
                              else encoder.get_sentence_embedding_dimension(), n_labels)

    def embed(self, texts, batch_size: int = 32, cache: bool = False) -> torch.Tensor:
        """Unit-length sentence embeddings of ``texts``.

        ``cache=True`` keeps them in labkit's cache under a hash of the encoder's weights and settings and
        of the texts, so a re-run (or another kernel on the same machine) loads them instead of running the
        encoder again; any change to the weights or the texts computes them afresh.
        """
        texts = list(texts)
        if cache:
            return _cached_embeddings(self, texts, batch_size)
        vectors = self.encoder.encode(texts, batch_size=batch_size, convert_to_tensor=True,
                                      normalize_embeddings=True, show_progress_bar=False)
        return vectors.clone()  # a normal tensor (encode returns inference-mode tensors)

    def logits(self, texts, batch_size: int = 32) -> torch.Tensor:
        weight = getattr(self.head, "weight", None)  # a method, not a tensor, on int8 dynamic layers
        dtype = weight.dtype if isinstance(weight, torch.Tensor) else torch.float32
        with torch.no_grad():
            return self.head(self.embed(texts, batch_size).to(dtype)).float()


def _cached_embeddings(classifier: TopicClassifier, texts: list[str], batch_size: int) -> torch.Tensor:
    from labkit import cache

    key = cache.content_hash(classifier.encoder, texts, classifier.encoder.max_seq_length, batch_size,
                             str(classifier.encoder.device))

    def build(folder):
        torch.save(classifier.embed(texts, batch_size), folder / "embeddings.pt")
        return {"texts": len(texts)}

    return torch.load(cache.artifact("embeddings", key, build) / "embeddings.pt")


def train_head(classifier: TopicClassifier, embeddings: torch.Tensor, labels: torch.Tensor, steps: int = 300,
               lr: float = 0.05, seed: int = 0) -> list[float]:
    """Fit the classifier's linear head on precomputed (frozen) sentence embeddings; returns the losses."""
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(classifier.head.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(classifier.head(embeddings), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def accuracy(logits: torch.Tensor, labels) -> float:
    """Share of examples whose highest logit is the true label."""
    return float((logits.argmax(-1) == torch.as_tensor(labels)).float().mean())


# --- measuring a variant ----------------------------------------------------------------------------

def linear_weight_bytes(model: nn.Module) -> int:
    """Bytes held by the weights of the model's Linear layers (float or dynamically quantized int8)."""
    total = 0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            total += module.weight.numel() * module.weight.element_size()
        elif type(module).__name__ == "Linear" and hasattr(module, "_packed_params"):  # torch.ao dynamic int8
            weight = module.weight()
            total += weight.numel() * weight.element_size()
    return total


def disk_bytes(model: nn.Module) -> int:
    """Size of the model's state dict when saved with torch.save (dense storage)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def memory_bytes(model: nn.Module) -> int:
    """Bytes of every tensor in the state dict (packed int8 weights included)."""
    total = 0
    for value in model.state_dict().values():
        tensors = value if isinstance(value, (tuple, list)) else [value]
        for t in tensors:
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()
    return total


def latency_ms(fn, repeats: int = 3) -> float:
    """Median wall-clock milliseconds of ``fn()`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


# --- quantization -----------------------------------------------------------------------------------

def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """Post-training dynamic quantization (a copy): int8 Linear weights, activations quantized per batch."""
    import warnings

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note that eager-mode quantization moves to torchao
        return quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)


def cast(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A copy of the model with every floating point weight cast to ``dtype`` (fp16 / bf16)."""
    return copy.deepcopy(model).to(dtype)


def record_activation_ranges(model: nn.Module, run, names=None) -> dict[str, float]:
    """Calibration: run sample data through the model and record each Linear input's largest |value|."""
    ranges: dict[str, float] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and (names is None or name in names):
            def hook(mod, args, name=name):
                ranges[name] = max(ranges.get(name, 0.0), float(args[0].detach().abs().max()))
            hooks.append(module.register_forward_pre_hook(hook))
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return ranges


@contextlib.contextmanager
def static_int8_activations(model: nn.Module, ranges: dict[str, float] | None, default_range: float = 1.0):
    """Simulate *static* int8 activations: every Linear input is rounded to 255 levels over a fixed range.

    With ``ranges`` from :func:`record_activation_ranges` each layer uses its calibrated range; without,
    every layer assumes ``default_range`` - values outside it are clipped, values inside it coarsely rounded.
    """
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            scale = max((ranges or {}).get(name, default_range), 1e-8) / 127

            def hook(mod, args, scale=scale):
                q = torch.clamp(torch.round(args[0] / scale), -127, 127)
                return (q * scale,) + tuple(args[1:])
            hooks.append(module.register_forward_pre_hook(hook))
    try:
        yield model
    finally:
        for h in hooks:
            h.remove()


# --- distillation ------------------------------------------------------------------------------------

class BagOfWordsStudent(nn.Module):
    """The student: the mean of learned token embeddings and a linear layer - about a tenth of MiniLM.

    It reads the same WordPiece tokens as the teacher but has no attention layers, so it trains in
    seconds on a laptop CPU.
    """

    def __init__(self, vocab_size: int, n_labels: int, dim: int = 64, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=0)
        self.classifier = nn.Linear(dim, n_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        hidden = self.embedding(input_ids)
        return _Output(self.classifier(hidden))


@dataclass
class _Output:
    logits: torch.Tensor


def small_student(vocab_size: int, n_labels: int, seed: int = 0, dim: int = 64) -> BagOfWordsStudent:
    """A freshly initialised student (seeded)."""
    return BagOfWordsStudent(vocab_size, n_labels, dim=dim, seed=seed)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      temperature: float = 4.0, alpha: float = 0.5) -> torch.Tensor:
    """The lecture's recipe: alpha x distillation loss + (1 - alpha) x student loss.

    Distillation loss: KL divergence between the teacher's *soft labels* softmax(z_t / T) and the
    student's *soft predictions* softmax(z_s / T), multiplied by T² so its gradients keep their size as
    T grows. Student loss: cross-entropy of the student's ordinary predictions with the hard labels.
    ``alpha=0`` is plain training on hard labels. Examples without a hard label (label -100: the
    teacher labelled them, a person did not) count in the distillation loss only.
    """
    labelled = labels != -100
    student_loss = (nn.functional.cross_entropy(student_logits[labelled], labels[labelled]) if labelled.any()
                    else student_logits.sum() * 0)
    if alpha == 0:
        return student_loss
    soft_predictions = nn.functional.log_softmax(student_logits / temperature, dim=-1)
    soft_labels = nn.functional.softmax(teacher_logits / temperature, dim=-1)
    distill = nn.functional.kl_div(soft_predictions, soft_labels, reduction="batchmean") * temperature ** 2
    return alpha * distill + (1 - alpha) * student_loss


@dataclass
class StudentRun:
    """A trained student and its training losses."""

    model: nn.Module
    losses: list[float]


def train_student(student, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                  teacher_logits: torch.Tensor | None, steps: int = 150, batch_size: int = 32, lr: float = 1e-3,
                  temperature: float = 4.0, alpha: float = 0.5, seed: int = 0, progress: bool = False,
                  loss_fn=None) -> StudentRun:
    """Train the student on pre-tokenized data, with distillation when ``teacher_logits`` and alpha > 0.

    ``loss_fn(student_logits, teacher_logits, labels, temperature, alpha)`` computes each batch's loss
    (default :func:`distillation_loss`; notebook 08 passes the learner's own). Without a teacher it is
    called with ``alpha=0`` (plain training on hard labels) and examples whose label is -100
    (unlabelled) are never sampled; with a teacher a batch may hold unlabelled examples, or only those.
    """
    loss_fn = distillation_loss if loss_fn is None else loss_fn
    generator = torch.Generator().manual_seed(seed)
    pool = torch.arange(len(labels)) if teacher_logits is not None else torch.nonzero(labels != -100).flatten()
    optimizer = torch.optim.AdamW(student.parameters(), lr=lr)
    student.train()
    losses = []
    for _ in tqdm(range(steps), disable=not progress, desc="student", leave=False):
        idx = pool[torch.randint(0, len(pool), (batch_size,), generator=generator)]
        logits = student(input_ids=input_ids[idx], attention_mask=attention_mask[idx]).logits
        teacher = teacher_logits[idx] if teacher_logits is not None else logits.detach()
        loss = loss_fn(logits, teacher, labels[idx], temperature, alpha if teacher_logits is not None else 0.0)
        if not torch.isfinite(loss):
            raise ValueError(f"The loss is {loss.item()} at step {len(losses)}: a batch with no hard labels "
                             "(all -100) must still give a finite loss (count the student loss over the "
                             "labelled examples only, or as 0 when there are none).")
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    student.eval()
    return StudentRun(student, losses)


@torch.inference_mode()
def student_logits(student, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   batch_size: int = 64) -> torch.Tensor:
    """The student's logits for pre-tokenized input, in batches."""
    return torch.cat([student(input_ids=input_ids[i:i + batch_size],
                              attention_mask=attention_mask[i:i + batch_size]).logits
                      for i in range(0, len(input_ids), batch_size)])


# --- quantization-aware training -----------------------------------------------------------------------------

def _quantizable(module: nn.Module) -> bool:
    """The layers whose weights go below 8 bits in notebook 08: Linear, Embedding and EmbeddingBag."""
    return isinstance(module, (nn.Linear, nn.Embedding, nn.EmbeddingBag))


def fake_quantize(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Round ``weight`` to a symmetric ``bits``-bit grid, one absmax scale per row, with a straight-through gradient.

    Each row is scaled so its largest |value| lands on ``2**(bits-1) - 1`` and rounded to the nearest integer level
    (2 bits: -1, 0, +1 times the scale). The forward pass returns the rounded weights; the backward pass treats the
    rounding as the identity - ``w + (q(w) - w).detach()`` - because rounding's true gradient is zero almost
    everywhere and would stop training. That trick is the *straight-through estimator* of QAT.
    """
    if bits < 2:
        raise ValueError(f"A symmetric grid needs at least 2 bits (levels -1, 0, +1), not {bits}.")
    levels = 2 ** (bits - 1) - 1
    scale = weight.detach().abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / levels
    rounded = torch.round(weight / scale).clamp(-levels, levels) * scale
    return weight + (rounded - weight).detach()


class _FakeQuantize(nn.Module):
    """A parametrization: the layer's weight, as the forward pass sees it, is :func:`fake_quantize`\\ d."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = bits

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return fake_quantize(weight, self.bits)


def quantization_aware(model: nn.Module, bits: int) -> nn.Module:
    """A copy of ``model`` ready for quantization-aware training at ``bits`` bits per weight.

    Every Linear / Embedding / EmbeddingBag weight is parametrized (``torch.nn.utils.parametrize``): the optimizer
    keeps updating the full-precision weights, while every forward pass computes with their rounded version. The
    model trains as usual (notebook 08 calls :func:`train_student`); :func:`quantize_weights` then keeps the rounded
    weights for deployment.
    """
    from torch.nn.utils import parametrize

    prepared = copy.deepcopy(model)
    for module in prepared.modules():
        if _quantizable(module):
            parametrize.register_parametrization(module, "weight", _FakeQuantize(bits))
    return prepared


def quantize_weights(model: nn.Module, bits: int) -> nn.Module:
    """A copy whose Linear / Embedding weights hold their ``bits``-bit values (stored as floats, on the grid).

    Post-training quantization of a float model, or the final step of quantization-aware training (a model from
    :func:`quantization_aware` keeps the rounded weights it trained with). Both give the same kind of model: the
    same grid, the same scales, the same size (:func:`low_bit_bytes`).
    """
    from torch.nn.utils import parametrize

    quantized = copy.deepcopy(model)
    for module in quantized.modules():
        if not _quantizable(module):
            continue
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        with torch.no_grad():
            module.weight.copy_(fake_quantize(module.weight, bits))  # a no-op for weights already on the grid
    return quantized


def pack_low_bit(weight: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What a deployment stores for one weight: the integer levels packed ``8 // bits`` to a byte, and the row scales.

    Returns ``(packed uint8 bytes, fp32 scale per row)``. Levels are shifted to be non-negative before packing.
    """
    if 8 % bits:
        raise ValueError(f"Packing whole values into bytes needs bits in (2, 4, 8), not {bits}.")
    levels = 2 ** (bits - 1) - 1
    w = weight.detach().float()
    scale = w.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / levels
    codes = (torch.round(w / scale).clamp(-levels, levels) + levels).to(torch.uint8).flatten()
    per_byte = 8 // bits
    codes = nn.functional.pad(codes, (0, (-len(codes)) % per_byte)).view(-1, per_byte)
    packed = torch.zeros(len(codes), dtype=torch.uint8)
    for k in range(per_byte):
        packed |= codes[:, k] << (bits * k)
    return packed, scale.flatten()


def low_bit_bytes(model: nn.Module, bits: int) -> int:
    """Bytes of the model stored at ``bits`` bits per Linear / Embedding weight: packed levels + fp32 row scales.

    Measured from the tensors :func:`pack_low_bit` produces; every other parameter and buffer keeps its bytes.
    """
    total = 0
    quantized = set()
    for module in model.modules():
        if _quantizable(module):
            packed, scales = pack_low_bit(module.weight, bits)
            total += packed.numel() * packed.element_size() + scales.numel() * scales.element_size()
            quantized.add(id(module.weight))
    for tensor in [*model.parameters(), *model.buffers()]:
        if id(tensor) not in quantized:
            total += tensor.numel() * tensor.element_size()
    return total


# --- pruning -----------------------------------------------------------------------------------------

def magnitude_prune(model: nn.Module, sparsity: float) -> nn.Module:
    """A copy with the smallest-magnitude ``sparsity`` share of all Linear weights set to zero (global)."""
    from torch.nn.utils import prune

    pruned = copy.deepcopy(model)
    targets = [(m, "weight") for m in pruned.modules() if isinstance(m, nn.Linear)]
    if sparsity > 0:
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=sparsity)
        for module, name in targets:
            prune.remove(module, name)  # make the zeros permanent (and drop the mask)
    return pruned


def sparsity_of(model: nn.Module) -> float:
    """Share of Linear weights that are exactly zero."""
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    return float(sum((w == 0).sum() for w in weights) / sum(w.numel() for w in weights))


def sparse_bytes(model: nn.Module) -> int:
    """Bytes the Linear weights take stored sparsely (CSR: values + column indices + row pointers)."""
    total = 0
    for m in model.modules():
        if isinstance(m, nn.Linear):
            csr = m.weight.detach().to_sparse_csr()
            total += sum(t.numel() * t.element_size() for t in (csr.values(), csr.col_indices(), csr.crow_indices()))
    return total


# --- QLoRA: NF4 by hand, then a 4-bit base under LoRA ----------------------------------------------------------

# The outermost quantile NF4 uses: 1 - (1/32 + 1/30) / 2, halfway between the levels a 16- and a 15-value code
# would put there, so that the code's ends are +-1 without putting a level at an infinite quantile.
NF4_OFFSET = 1 - (1 / 32 + 1 / 30) / 2


def nf4_code_book(offset: float = NF4_OFFSET) -> torch.Tensor:
    """The 16 NF4 levels (Dettmers et al. 2023): quantiles of a standard normal, scaled to [-1, 1], sorted.

    Trained weights are roughly normal, so levels at equal-probability quantiles of N(0, 1) use each of the 16
    codes about equally often. The code is asymmetric so that 0 is exactly representable: 8 positive quantiles
    (probabilities spaced evenly from ``offset`` down to 0.5, 0.5 itself dropped), 7 negative ones (the same with 7
    steps), and 0. Dividing by the largest value maps the ends to -1 and +1.
    """
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    positive = normal.icdf(torch.linspace(offset, 0.5, 9)[:-1].double())
    negative = -normal.icdf(torch.linspace(offset, 0.5, 8)[:-1].double())
    levels = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).sort().values
    return (levels / levels.max()).float()


def int4_code_book() -> torch.Tensor:
    """16 evenly spaced levels over [-1, 1] (the code an "int4 with absmax" would use), to compare with NF4."""
    return torch.linspace(-1, 1, 16)


@dataclass
class Blockwise4bit:
    """A weight quantized block-wise to a 4-bit code: one code index per weight, one absmax per block."""

    indices: torch.Tensor  # uint8, one per weight (values 0..15), in the weight's flattened order
    absmax: torch.Tensor  # fp32, one per block of ``blocksize`` weights
    code: torch.Tensor  # the 16 levels
    shape: tuple[int, ...]
    blocksize: int

    def dequantize(self) -> torch.Tensor:
        """The weight as the forward pass sees it: each index's level times its block's absmax."""
        scales = self.absmax.repeat_interleave(self.blocksize)[: self.indices.numel()]
        return (self.code[self.indices.long()] * scales).view(self.shape)


def quantize_blockwise_4bit(weight: torch.Tensor, code: torch.Tensor, blocksize: int = 64) -> Blockwise4bit:
    """Block-wise absmax quantization to a 16-level code, as bitsandbytes stores NF4 weights (notebook 08).

    The flattened weight is cut into blocks of ``blocksize`` numbers; each block is divided by its largest |value|
    (so one outlier only coarsens its own block, not the whole matrix) and every number is replaced by the index of
    the nearest level of ``code``.
    """
    code = torch.as_tensor(code, dtype=torch.float32)
    flat = weight.detach().float().flatten()
    blocks = flat.split(blocksize)
    absmax = torch.stack([block.abs().max() for block in blocks]).clamp(min=1e-12)
    scaled = (flat / absmax.repeat_interleave(blocksize)[: flat.numel()]).clamp(-1, 1)
    midpoints = (code[1:] + code[:-1]) / 2  # nearest level = how many midpoints lie below
    indices = torch.bucketize(scaled, midpoints).to(torch.uint8)
    return Blockwise4bit(indices, absmax, code, tuple(weight.shape), blocksize)


def dynamic_8bit_code() -> torch.Tensor:
    """The 256-level signed 8-bit code bitsandbytes uses for the second quantization (its "dynamic" data type)."""
    from bitsandbytes.functional import create_dynamic_map

    return create_dynamic_map(signed=True)


@dataclass
class DoubleQuantized:
    """Quantized quantization constants: 8-bit codes of (absmax - offset), an fp32 scale per block of them."""

    indices: torch.Tensor  # uint8, one per first-level absmax
    scales: torch.Tensor  # fp32, one per block of ``blocksize`` absmax values
    offset: torch.Tensor  # fp32, the mean absmax (subtracted first so the values are centred on 0)
    code: torch.Tensor  # the 256 levels
    blocksize: int

    def dequantize(self) -> torch.Tensor:
        scales = self.scales.repeat_interleave(self.blocksize)[: self.indices.numel()]
        return self.code[self.indices.long()] * scales + self.offset


def double_quantize(absmax: torch.Tensor, blocksize: int = 256, code: torch.Tensor | None = None) -> DoubleQuantized:
    """QLoRA's double quantization: quantize the fp32 absmax constants themselves to 8 bits, block-wise.

    The constants are all positive, so their mean is subtracted first; then blocks of ``blocksize`` constants are
    absmax-scaled and rounded to the nearest level of an 8-bit code (bitsandbytes' dynamic code by default). Cost per
    weight with 64-weight blocks: 32/64 = 0.5 bits before, 8/64 + 32/(64 x 256) = 0.127 bits after.
    """
    code = dynamic_8bit_code() if code is None else torch.as_tensor(code, dtype=torch.float32)
    offset = absmax.float().mean()
    centred = absmax.float() - offset
    blocks = centred.split(blocksize)
    scales = torch.stack([block.abs().max() for block in blocks]).clamp(min=1e-12)
    scaled = centred / scales.repeat_interleave(blocksize)[: centred.numel()]
    indices = torch.bucketize(scaled, (code[1:] + code[:-1]) / 2).to(torch.uint8)
    return DoubleQuantized(indices, scales, offset, code, blocksize)


def constant_bits_per_weight(blocksize: int = 64, double_quant: bool = False, blocksize2: int = 256) -> float:
    """Bits each weight pays for its block's scale: 32 / blocksize, or 8 / blocksize + 32 / (blocksize x blocksize2).

    The one fp32 offset per weight matrix is left out (a few bytes per layer).
    """
    return 8 / blocksize + 32 / (blocksize * blocksize2) if double_quant else 32 / blocksize


def unpack_4bit(packed: torch.Tensor, n: int) -> torch.Tensor:
    """bitsandbytes' packed 4-bit storage -> one index per weight (two per byte, the first in the high nibble)."""
    packed = packed.flatten().view(torch.uint8)
    return torch.stack([packed >> 4, packed & 0x0F], dim=1).flatten()[:n]


def compare_with_bitsandbytes(weight: torch.Tensor, code: torch.Tensor, stored=None, blocksize: int = 64) -> pd.Series:
    """Quantize one weight matrix by hand and compare every part with bitsandbytes' NF4 + double quantization.

    By hand: :func:`quantize_blockwise_4bit` with ``code`` (the learner's code book in notebook 08), then
    :func:`double_quantize` of its block absmax. bitsandbytes: ``stored``, the layer's 4-bit weight as a model
    loaded with ``BitsAndBytesConfig(bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)`` holds it (a
    ``Params4bit`` with its ``quant_state``), or, without it, ``functional.quantize_4bit`` of ``weight``.
    """
    from bitsandbytes import functional as bnbf

    weight = weight.detach().float().contiguous()
    if stored is None:
        packed, state = bnbf.quantize_4bit(weight, blocksize=blocksize, quant_type="nf4", compress_statistics=True)
    else:
        packed, state = stored.data, stored.quant_state
    if state.state2 is None:
        raise ValueError("This comparison needs double quantization: load with bnb_4bit_use_double_quant=True.")
    _, single = bnbf.quantize_4bit(weight, blocksize=state.blocksize, quant_type="nf4", compress_statistics=False)
    by_hand = quantize_blockwise_4bit(weight, code, state.blocksize)
    second = double_quantize(by_hand.absmax, blocksize=state.state2.blocksize, code=state.state2.code.cpu())
    their_absmax = bnbf.dequantize_blockwise(state.absmax, state.state2).cpu() + state.offset.cpu()
    our_absmax = second.dequantize()
    theirs = bnbf.dequantize_4bit(packed, state).float().cpu()
    ours = Blockwise4bit(by_hand.indices, our_absmax, by_hand.code, by_hand.shape, by_hand.blocksize).dequantize()
    same_codes = second.indices == state.absmax.flatten().cpu()
    relative = lambda a, b: float(((a - b).abs() / b.abs().clamp(min=1e-12)).max())  # noqa: E731
    return pd.Series({
        "code book: largest |difference| from bitsandbytes' NF4": float((by_hand.code - state.code.cpu()).abs().max()),
        "4-bit indices identical (share of weights)": float(
            (unpack_4bit(packed.cpu(), weight.numel()) == by_hand.indices).float().mean()),
        "block absmax before double quantization: largest relative difference": relative(by_hand.absmax,
                                                                                          single.absmax.cpu()),
        "8-bit codes of the absmax identical (share of blocks)": float(same_codes.float().mean()),
        "8-bit codes of the absmax that differ (blocks)": int((~same_codes).sum()),
        "absmax after double quantization: largest relative difference": relative(our_absmax, their_absmax),
        "dequantized weights: largest |difference|": float((ours - theirs).abs().max()),
        "mean |error| of the weights: bitsandbytes": float((theirs - weight).abs().mean()),
        "mean |error| of the weights: by hand": float((ours - weight).abs().mean()),
        "mean |error| of the weights: by hand, fp32 absmax (no double quantization)": float(
            (by_hand.dequantize() - weight).abs().mean()),
    })


def quantization_error(weight: torch.Tensor, codes: dict[str, torch.Tensor], blocksize: int = 64) -> pd.DataFrame:
    """Mean squared and mean absolute error of block-wise 4-bit quantization of ``weight`` with each code book."""
    rows = {}
    for name, code in codes.items():
        error = quantize_blockwise_4bit(weight, code, blocksize).dequantize() - weight.detach().float()
        rows[name] = {"mean squared error": float(error.pow(2).mean()), "mean |error|": float(error.abs().mean())}
    return pd.DataFrame(rows).T


def quantized_and_other_parameters(model: nn.Module) -> tuple[int, int]:
    """(numbers in the Linear layers bitsandbytes turns to 4 bits, every other parameter) of a float causal LM.

    transformers quantizes every ``nn.Linear`` of a model loaded with ``load_in_4bit`` except the output layer
    (``lm_head``, often tied to the input embeddings); embeddings and norms stay in float. Tied weights count once.
    """
    skip = set()
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None:
        skip.add(id(output))
    quantized = {id(m.weight): m.weight.numel() for m in model.modules()
                 if isinstance(m, nn.Linear) and id(m) not in skip}
    everything = {id(p): p.numel() for p in model.parameters()}
    n_quantized = sum(quantized.values())
    return n_quantized, sum(everything.values()) - sum(n for key, n in quantized.items() if key in everything)


def resident_bytes(model: nn.Module) -> int:
    """Bytes of every tensor the model keeps: parameters, buffers and bitsandbytes' quantization constants.

    Each storage counts once (tied weights are one tensor). A 4-bit layer's weight is its packed bytes (two weights
    per byte); its ``quant_state`` adds the block absmax (8-bit codes + fp32 scales under double quantization),
    the offset and the code books. transformers' ``get_memory_footprint()`` counts parameters and buffers only.
    """
    seen, total = set(), 0

    def add(tensor):
        nonlocal total
        if isinstance(tensor, torch.Tensor) and tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            total += tensor.numel() * tensor.element_size()

    for tensor in [*model.parameters(), *model.buffers()]:
        add(tensor)
        state = getattr(tensor, "quant_state", None)
        while state is not None:
            for name in ("absmax", "code", "offset"):
                add(getattr(state, name, None))
            state = getattr(state, "state2", None)
    return total


# --- QLoRA vs LoRA: the same short fine-tuning on a 4-bit and on an fp32 base ------------------------------------

TOPIC_PROMPT = "Summary: {summary}\nTopic:"


def topic_examples(summaries, topics, tokenizer, max_prompt_tokens: int = 40) -> list[dict]:
    """(summary -> topic) pairs as token ids for a causal LM: the prompt, then " <topic>" and the end token.

    The summary is cut to its first ``max_prompt_tokens`` tokens (short sequences keep the 4-bit CPU path quick).
    ``labels`` copy the answer's ids and mark the prompt with -100, so the loss counts the answer only.
    """
    head, tail = TOPIC_PROMPT.split("{summary}")
    encode = lambda text: tokenizer(text, add_special_tokens=False).input_ids  # noqa: E731
    head_ids, tail_ids = encode(head), encode(tail)
    end = tokenizer.eos_token_id
    examples = []
    for summary, topic in zip(summaries, topics, strict=True):
        prompt = head_ids + encode(summary)[:max_prompt_tokens] + tail_ids
        answer = encode(" " + topic) + [end]
        examples.append({"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer})
    return examples


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def collate_causal(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of :func:`topic_examples` to a batch; padding is masked out and never scored."""
    width = max(len(e["input_ids"]) for e in examples)
    batch = {"input_ids": [], "attention_mask": [], "labels": []}
    for e in examples:
        pad = width - len(e["input_ids"])
        batch["input_ids"].append(e["input_ids"] + [pad_id] * pad)
        batch["attention_mask"].append([1] * len(e["input_ids"]) + [0] * pad)
        batch["labels"].append(e["labels"] + [-100] * pad)
    return {key: torch.tensor(value) for key, value in batch.items()}


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def answer_scores(model, tokenizer, examples: list[dict], batch_size: int = 16) -> dict[str, float]:
    """Held-out scores of a causal LM on :func:`topic_examples`: answer loss and exact match of the greedy answer.

    ``loss``: mean negative log-likelihood per answer token (the end token included). ``exact match``: share of
    examples whose every answer token is the model's top prediction given the tokens before it - exactly the cases
    where greedy decoding from the prompt writes the reference topic and stops, computed without generating.
    """
    model.eval()
    total_nll, total_tokens, exact = 0.0, 0, 0
    device = _model_device(model)
    for start in range(0, len(examples), batch_size):
        chosen = examples[start:start + batch_size]
        batch = {k: v.to(device) for k, v in collate_causal(chosen, _pad_id(tokenizer)).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        logits, targets = logits[:, :-1], batch["labels"][:, 1:]  # position t predicts token t + 1
        scored = targets != -100
        nll = nn.functional.cross_entropy(logits.transpose(1, 2), targets.clamp(min=0), reduction="none")
        total_nll += float(nll[scored].sum())
        total_tokens += int(scored.sum())
        right = (logits.argmax(-1) == targets) | ~scored
        exact += int(right.all(dim=1).sum())
    return {"answer loss": total_nll / total_tokens, "exact match": exact / len(examples)}


def _status_kib(field_name: str) -> int | None:
    """A memory figure (KiB) from ``/proc/self/status`` (Linux), or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class PeakMemory:
    """Memory while a block ran: in use at its start and the peak it reached (``method`` says what was measured)."""

    start_bytes: int = 0
    peak_bytes: int = 0
    method: str = ""

    @property
    def extra_bytes(self) -> int:
        """How far the peak rose above the start: what the block itself needed at its worst moment."""
        return max(0, self.peak_bytes - self.start_bytes)


def _release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc's ``malloc_trim``), so RSS shows live memory."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc (macOS, musl): RSS then also holds memory freed earlier but not yet returned


@contextlib.contextmanager
def peak_memory(device=None):
    """Measure the peak memory of this process while the ``with`` block runs (notebook 08's QLoRA vs LoRA).

    * CUDA: the allocator's peak of allocated tensor bytes (``torch.cuda.max_memory_allocated``), reset first.
    * CPU on Linux: the resident set size (RSS). Freed heap memory is returned to the OS first and the kernel's
      high-water mark (VmHWM) is reset to the current RSS (``/proc/self/clear_refs``), so the peak belongs to this
      block alone; RSS counts everything resident - tensors, allocator slack, libraries touched for the first time.
    * Elsewhere: ``resource.getrusage``'s peak since the process started (a block that stays below an earlier
      peak shows no extra memory).
    """
    import resource

    found = PeakMemory()
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        found.method = "CUDA allocator: peak bytes of tensors allocated"
        found.start_bytes = torch.cuda.memory_allocated(device)
        try:
            yield found
        finally:
            torch.cuda.synchronize(device)
            found.peak_bytes = torch.cuda.max_memory_allocated(device)
        return
    _release_freed_memory()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        found.method = "process RSS: peak (VmHWM, reset at the start) above the RSS at the start"
    except OSError:
        found.method = "process RSS: peak since the process started (ru_maxrss) above the RSS at the start"
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    rss = _status_kib("VmRSS")
    found.start_bytes = rss * 1024 if rss is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    try:
        yield found
    finally:
        peak = _status_kib("VmHWM") if "VmHWM" in found.method else None
        found.peak_bytes = (peak * 1024 if peak is not None
                            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale)


@dataclass
class FineTuneRun:
    """A short LoRA run: loss per step, seconds per step (wall clock and this process's CPU), the memory it needed."""

    losses: list[float]
    seconds: list[float]
    cpu_seconds: list[float]
    memory: PeakMemory
    trainable: int
    state_bytes: int = 0  # trainable weights + their gradients + AdamW's two moments, counted at the last step

    @property
    def seconds_per_step(self) -> float:
        """Median wall-clock seconds per step, the first (warm-up) step left out when there are more."""
        return float(np.median(self.seconds[1:] if len(self.seconds) > 1 else self.seconds))

    @property
    def cpu_seconds_per_step(self) -> float:
        """Median CPU seconds of this process per step (steady on a shared machine; not a GPU's time)."""
        return float(np.median(self.cpu_seconds[1:] if len(self.cpu_seconds) > 1 else self.cpu_seconds))


def train_lora(model, tokenizer, examples: list[dict], steps: int, batch_size: int, learning_rate: float,
               seed: int = 0, progress: bool = True, desc: str = "LoRA steps") -> FineTuneRun:
    """Train a peft model's trainable parameters (the LoRA adapters) for ``steps`` AdamW steps; time and measure it.

    Batches take the examples in order (the same batches for every model given the same list). Each step's
    wall-clock and CPU time and the peak memory of the whole loop (:func:`peak_memory`) are recorded; at the last
    step the bytes of the trainable weights, their gradients and the optimizer's moments are counted from the
    tensors themselves.
    """
    torch.manual_seed(seed)
    device = _model_device(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate)
    model.train()
    losses, seconds, cpu_seconds = [], [], []
    with peak_memory(device) as memory:
        for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
            chosen = [examples[(step * batch_size + k) % len(examples)] for k in range(batch_size)]
            batch = {k: v.to(device) for k, v in collate_causal(chosen, _pad_id(tokenizer)).items()}
            start, start_cpu = time.perf_counter(), time.process_time()
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            state_bytes = sum(p.numel() * p.element_size() + p.grad.numel() * p.grad.element_size()
                              for p in trainable if p.grad is not None)
            state_bytes += sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values()
                               if isinstance(t, torch.Tensor) and t.dim() > 0)
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(time.process_time() - start_cpu)
            losses.append(loss.item())
    model.eval()
    return FineTuneRun(losses, seconds, cpu_seconds, memory, sum(p.numel() for p in trainable), state_bytes)


# --- one table for every variant ---------------------------------------------------------------------

def _float_dtype(model: nn.Module) -> torch.dtype:
    """The dtype the model computes in: that of its first floating point parameter (float32 if it has none)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def timed_logits(model, texts, evaluate, batch_size: int = 32) -> tuple[torch.Tensor, list[float]]:
    """The model's logits over ``texts`` in batches, and the seconds each batch took (tokenizing included)."""
    texts = list(texts)
    logits, seconds = [], []
    for start in range(0, len(texts), batch_size):
        began = time.perf_counter()
        logits.append(evaluate(model, texts[start:start + batch_size]).float())
        seconds.append(time.perf_counter() - began)
    return torch.cat(logits), seconds


def measure(variants: dict, texts, labels, evaluate=None, batch_size: int = 32) -> pd.DataFrame:
    """Size on disk, in memory, of the Linear weights, CPU latency of one batch, and accuracy, per variant.

    ``variants`` maps a name to a :class:`TopicClassifier` (or anything ``evaluate(model, texts)`` turns into
    logits). One pass over ``texts`` in batches of ``batch_size`` gives both the accuracy and the latency: the
    median seconds of a full batch. A variant whose dtype this device has no arithmetic for (float16 and, on most
    CPUs, bfloat16: torch emulates them, 6-7x slower than float32 here) is timed on its first batch in that dtype;
    its accuracy comes from the same rounded weights computed in float32, which is what a CPU runtime does with
    16-bit weights. The column "accuracy computed in" says which. The logits are kept in
    ``table.attrs["logits"]`` for later comparisons.
    """
    evaluate = evaluate or (lambda model, batch: model.logits(batch))
    texts = list(texts)
    rows, logits_of = {}, {}
    for name, model in tqdm(variants.items(), desc="measuring variants", leave=False):
        dtype = _float_dtype(model)
        if config.computes_natively(dtype):
            logits, seconds = timed_logits(model, texts, evaluate, batch_size)
            full = seconds[:len(texts) // batch_size] or seconds
            computed_in = str(dtype).replace("torch.", "")
        else:
            _, full = timed_logits(model, texts[:batch_size], evaluate, batch_size)
            logits, _ = timed_logits(cast(model, torch.float32), texts, evaluate, batch_size)
            computed_in = f"float32 from the {str(dtype).replace('torch.', '')} weights (not native here)"
        logits_of[name] = logits
        rows[name] = {
            "disk MB": disk_bytes(model) / 1e6,
            "memory MB": memory_bytes(model) / 1e6,
            "Linear weights MB": linear_weight_bytes(model) / 1e6,
            "latency ms": 1000 * float(np.median(full)),
            "accuracy": accuracy(logits, labels),
            "accuracy computed in": computed_in,
        }
    table = pd.DataFrame(rows).T
    table = table.astype({column: float for column in table.columns if column != "accuracy computed in"})
    table.attrs["logits"] = logits_of
    return table


def as_ratios(table: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Every numeric column divided by the baseline row: size and latency ratios < 1 are savings."""
    numbers = table.select_dtypes("number")
    return numbers / numbers.loc[baseline]

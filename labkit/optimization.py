"""Model optimization for deployment: quantization, distillation, pruning (notebook 08).

The running example is an *encoder* task, where the lecture says distillation works best: naming the
topic of a dialogue. The **teacher** is all-MiniLM-L6-v2 (22 M parameters) with a linear head on its
sentence embedding; the **student** is a 2-layer BERT about a fifth of its size. Every technique is
measured the same way: size on disk and in memory, CPU latency on a fixed batch, accuracy.
"""

from __future__ import annotations

import contextlib
import copy
import io
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from labkit.metrics import bootstrap_ci  # noqa: F401  (notebook 08 uses optimization.bootstrap_ci)

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


# --- one table for every variant ---------------------------------------------------------------------

def measure(variants: dict, texts, labels, latency_texts=None, evaluate=None) -> pd.DataFrame:
    """Size on disk, in memory, of the Linear weights, CPU latency on a fixed batch, and accuracy.

    ``variants`` maps a name to a :class:`TopicClassifier` (or anything ``evaluate(model, texts)`` turns
    into logits). Latency is the median of a few runs over ``latency_texts`` (default: the first 32 texts).
    """
    evaluate = evaluate or (lambda model, batch: model.logits(batch))
    latency_texts = list(latency_texts or list(texts)[:32])
    rows = {}
    for name, model in tqdm(variants.items(), desc="measuring variants", leave=False):
        rows[name] = {
            "disk MB": disk_bytes(model) / 1e6,
            "memory MB": memory_bytes(model) / 1e6,
            "Linear weights MB": linear_weight_bytes(model) / 1e6,
            "latency ms": latency_ms(lambda model=model: evaluate(model, latency_texts)),
            "accuracy": accuracy(evaluate(model, list(texts)).float(), labels),
        }
    return pd.DataFrame(rows).T


def as_ratios(table: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Every column divided by the baseline row: size and latency ratios < 1 are savings."""
    return table / table.loc[baseline]

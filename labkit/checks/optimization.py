"""Checks for notebook 07_model_optimization: one function per exercise, registered under its id."""

from __future__ import annotations

import math

from labkit.checks.base import close, exercise, ok, require


@exercise("07.1")
def check_int8_quantizer(quantize_int8) -> None:
    """symmetric int8 quantization of a tensor: (int8 values, scale)."""
    import torch

    torch.manual_seed(0)
    w = torch.randn(64, 32) * 0.05
    w[3, 4] = 0.4  # an outlier sets the range
    out = quantize_int8(w)
    require(isinstance(out, tuple) and len(out) == 2, "Return a pair: (q, scale).")
    q, scale = out
    require(isinstance(q, torch.Tensor) and q.dtype == torch.int8, "q should be a torch.int8 tensor (use .to(torch.int8)).")
    scale = float(scale)
    require(math.isclose(scale, 0.4 / 127, rel_tol=1e-4),
             f"scale is {scale:.6f}; symmetric int8 maps the largest |value| to 127: scale = max|w| / 127.")
    require(int(q.abs().max()) == 127, "The largest |value| should map to ±127.")
    error = (q.float() * scale - w).abs().max().item()
    require(error <= scale / 2 + 1e-7, f"Reconstruction error {error:.5f} is larger than half a step: round, don't truncate.")
    ok(f"int8 with scale {scale:.5f}: worst error {error:.5f} (half a step is {scale / 2:.5f}).")


@exercise("07.3")
def check_distillation_loss(distill_loss) -> None:
    """the distillation loss (KL on softened outputs, x T²) plus the student loss."""
    import torch

    from labkit.optimize import distillation_loss

    torch.manual_seed(0)
    student, teacher = torch.randn(8, 5), torch.randn(8, 5) * 3
    labels = torch.randint(0, 5, (8,))
    for temperature, alpha in [(4.0, 0.5), (1.0, 0.5), (2.0, 0.0), (3.0, 1.0)]:
        expected = float(distillation_loss(student, teacher, labels, temperature, alpha))
        got = float(distill_loss(student, teacher, labels, temperature, alpha))
        if math.isclose(got, expected, rel_tol=1e-4):
            continue
        if alpha > 0:
            no_t2 = float(distillation_loss(student, teacher, labels, temperature, alpha)) - alpha * float(
                distillation_loss(student, teacher, labels, temperature, 1.0)) * (1 - 1 / temperature ** 2)
            require(not math.isclose(got, no_t2, rel_tol=1e-4),
                     "Multiply the KL term by T²: softening by T shrinks its gradients by 1/T².")
        require(False, f"At T={temperature}, alpha={alpha} the loss is {got:.4f}, expected {expected:.4f}. Soft labels: "
                        "softmax(teacher / T); soft predictions: log_softmax(student / T); KL with reduction "
                        "'batchmean', times T²; then alpha * that + (1 - alpha) * cross-entropy with the hard labels.")
    ok("Distillation loss matches at every temperature and weight.")


@exercise("07.2")
def check_shrink_factor(shrink, table, baseline: str = "fp32", variant: str = "int8 dynamic") -> None:
    """how much smaller dynamic int8 makes the Linear weights, read from the table."""
    expected = table.loc[baseline, "Linear weights MB"] / table.loc[variant, "Linear weights MB"]
    require(shrink is not None, "Set `shrink` to a number (fp32 size / int8 size).")
    require(not close(shrink, 1 / expected, 1e-3), "Invert it: fp32 size divided by int8 size (a number above 1).")
    require(not close(shrink, table.loc[baseline, "disk MB"] / table.loc[variant, "disk MB"], 1e-3),
             "That is the whole file; the question is about the Linear layers' weights (embeddings are not quantized).")
    require(close(shrink, expected, 1e-3), f"Not quite: divide the two 'Linear weights MB' values.")
    ok(f"Dynamic int8 stores the Linear weights {expected:.2f}x smaller.")

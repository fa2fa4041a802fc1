"""Checks for notebook 00_setup_and_lifecycle: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import close, exercise, ok, require


@exercise("00.1")
def check_training_memory(gb, n_params: float, dtype: str = "fp32") -> None:
    """GPU memory (GB) to train a model of ``n_params`` parameters at ``dtype``."""
    from labkit import lifecycle

    expected = float(lifecycle.memory_table(n_params, dtypes=(dtype,)).loc["training_total", dtype])
    inference = float(lifecycle.memory_table(n_params, dtypes=(dtype,)).loc["inference_total", dtype])
    require(gb is not None, "Set `training_gb` to a number of gigabytes.")
    require(not close(gb, inference, 1e-3),
             f"{gb} GB is what *inference* needs: training also holds gradients, Adam's two states and "
             "activations - add them per parameter.")
    require(not close(gb, expected * 4 / lifecycle.DTYPE_BYTES[dtype], 1e-3) or dtype == "fp32",
             f"{gb} GB is the fp32 figure: at {dtype} every component takes "
             f"{lifecycle.DTYPE_BYTES[dtype]} bytes instead of 4 (the course's simplification).")
    require(close(gb, expected, 1e-3),
             f"{gb} GB is not right. Add up the bytes per parameter for training at {dtype} "
             "(weights + Adam states + gradients + activations), multiply by the parameter count, divide by 1e9.")
    ok(f"Training {n_params:.3g} parameters at {dtype} needs about {expected:.1f} GB of GPU memory.")


@exercise("00.2")
def check_compute_optimal_tokens(tokens, n_params: float) -> None:
    """the compute-optimal number of training tokens for ``n_params`` (Chinchilla)."""
    from labkit import lifecycle

    expected = lifecycle.compute_optimal_tokens(n_params)
    require(tokens is not None, "Set `optimal_tokens` to a number of tokens.")
    require(not close(tokens, n_params, 1e-3),
             "That is the parameter count itself: Chinchilla's rule of thumb is about 20 tokens per parameter.")
    require(close(tokens, expected, 1e-3),
             f"{tokens:.3g} tokens is not the compute-optimal size. Use about 20 training tokens per parameter.")
    ok(f"A compute-optimal {n_params:.3g}-parameter model trains on about {expected:.3g} tokens.")

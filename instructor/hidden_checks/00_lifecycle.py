"""Hidden checks of notebook 00: run only by `labkit grade`, never shipped to learners (`labkit release` leaves
the whole instructor/ folder behind).

Each function takes the learner's namespace (the notebook's globals, after the exercise and its check ran) and
raises ``CheckFailed`` with a hint for the instructor; the learner's feedback says only that a hidden check
failed. ``HIDDEN`` maps exercise ids to the functions that check them (the grader reads its keys without running
this file). docs/grading.md, "Hidden checks", says how to add one.
"""

from labkit import lifecycle
from labkit.checks.base import CheckFailed, close, require

# GPU counts and model sizes the lab's own check never tries: a function that special-cases the visible cases
# (or only works for powers of two) fails here.
_OTHER_CASES = ((3e9, 3), (125e6, 5), (40e9, 24), (2e9, 1))


def zero_memory_at_other_sizes(ns):
    """00.2: ``zero_memory_gb`` agrees with labkit's model-state arithmetic on sizes the visible check skips."""
    zero_memory_gb = ns.get("zero_memory_gb")
    require(callable(zero_memory_gb), "zero_memory_gb is not a function in the graded notebook")
    for n_params, n_gpus in _OTHER_CASES:
        for stage in range(4):
            expected = lifecycle.memory_per_gpu(n_params, n_gpus, stage)["total"]
            try:
                got = float(zero_memory_gb(n_params, n_gpus, stage))
            except Exception as err:  # the learner's function failed on an input it was not shown
                raise CheckFailed(f"zero_memory_gb({n_params:g}, {n_gpus}, {stage}) raised "
                                  f"{type(err).__name__}: {err}") from None
            require(close(got, expected, 1e-6), f"zero_memory_gb({n_params:g}, {n_gpus}, {stage}) returned "
                                                f"{got:.4g} GB instead of {expected:.4g}")


HIDDEN = {"00.2": [zero_memory_at_other_sizes]}

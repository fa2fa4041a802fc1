"""What every check shares: the failure type, the pass message, and the exercise registry.

Each check is registered under the id of the exercise it grades (``"03.2"`` is notebook 03's second
exercise). The id also sits in the solution notebook, in the exercise cell's metadata
(``{"labkit": {"exercise": "03.2"}}``) and in the heading ("### Exercise 03.2 · ..."); a test checks
that the three agree, and ``labkit grade`` reports scores under it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from labkit.exercises import require_id

EXERCISES: dict[str, Callable] = {}


class CheckFailed(AssertionError):
    """The answer to an exercise is not right yet; the message says what to look at."""


def exercise(exercise_id: str) -> Callable[[Callable], Callable]:
    """Register a check function as the check of exercise ``exercise_id`` (``"NN.k"``)."""
    require_id(exercise_id)

    def register(check: Callable) -> Callable:
        if exercise_id in EXERCISES and EXERCISES[exercise_id] is not check:
            raise ValueError(f"Exercise {exercise_id} already has a check: {EXERCISES[exercise_id].__name__}")
        EXERCISES[exercise_id] = check
        check.exercise_id = exercise_id
        return check

    return register


def exercise_of(check: Callable) -> str | None:
    """The id of the exercise a check grades (None for a function that is not a registered check)."""
    return getattr(check, "exercise_id", None)


def ok(message: str) -> None:
    print(f"\u2705 {message}")


def require(condition: bool, hint: str) -> None:
    if not condition:
        raise CheckFailed(hint)


def call(function: Callable, *args, name: str, hints: dict[type, str] | None = None):
    """Call the learner's function; a crash becomes a one-line hint instead of a traceback into labkit.

    ``NotImplementedError`` (an unfinished exercise) and ``CheckFailed`` pass through unchanged, so an
    unfinished lab stops where the learner expects and a nested check keeps its own message. ``hints``
    adds a sentence for a given kind of crash (``{ZeroDivisionError: " (return 0.0 there)"}``).
    """
    try:
        return function(*args)
    except (CheckFailed, NotImplementedError):
        raise
    except Exception as err:  # noqa: BLE001 - the learner's bug, reported where it happened
        hint = next((text for kind, text in (hints or {}).items() if isinstance(err, kind)), "")
        raise CheckFailed(f"{name}{args!r:.120} raised {type(err).__name__}: {err}{hint}") from err


def close(value, expected: float, rel: float = 1e-6) -> bool:
    try:
        return math.isclose(float(value), expected, rel_tol=rel, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False

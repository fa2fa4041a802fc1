"""One check per exercise: each passes quietly with a short confirmation, or fails with a hint.

A check cell follows every exercise in the notebooks. The checks compare the learner's answer with
what labkit computes, so they cannot be satisfied by a hard-coded number that happens to be right
for another input, and each one names what to look at when the answer is wrong.

One module per chapter, named by the chapter's slug (:data:`labkit.chapters.CHAPTERS`):
``labkit.checks.prompts`` holds notebook 02's checks, and so on. Every check is re-exported here, so
notebooks call ``checks.check_top_p_filter(...)``; this namespace holds the checks and the registry
(:data:`EXERCISES`, see :mod:`labkit.checks.base`); besides them only its submodules, one per chapter.
"""

import importlib as _importlib

from labkit.chapters import CHAPTERS as _CHAPTERS
from labkit.checks.base import EXERCISES, CheckFailed, exercise, exercise_of

for _chapter in _CHAPTERS:
    _importlib.import_module(_chapter.checks_module)

globals().update({check.__name__: check for check in EXERCISES.values()})
__all__ = ["EXERCISES", "CheckFailed", "exercise", "exercise_of",
           *sorted(check.__name__ for check in EXERCISES.values())]
del _chapter

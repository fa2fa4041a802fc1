"""Old name of :mod:`labkit.grading` (the grader became a package of small modules).

Kept so what was written against it keeps working: ``from labkit import grade; grade.grade_class(...)``,
``python -m labkit.grade``, and the grader cells of notebooks graded before the move
(``import labkit.grade as _labkit_grade; _labkit_grade.kernel_verify(...)``). A grading kernel today imports only
:mod:`labkit.grading.integrity`.
"""

import sys

from labkit import grading

if __name__ == "__main__":  # pragma: no cover
    from labkit.grading.cli import main

    sys.exit(main())
else:
    sys.modules[__name__] = grading

"""Old name of :mod:`labkit.evaluation` (the chapter's slug since the chapters got one name each).

Kept so a learner's lab saved before the rename still runs: ``from labkit import benchmarks`` gives the same module
object as ``labkit.evaluation``, private names included.
"""

import sys

from labkit import evaluation

sys.modules[__name__] = evaluation

"""Old name of :mod:`labkit.optimization` (the chapter's slug since the chapters got one name each).

Kept so a learner's lab saved before the rename still runs: ``from labkit import optimize`` gives the same module
object as ``labkit.optimization``, private names included.
"""

import sys

from labkit import optimization

sys.modules[__name__] = optimization

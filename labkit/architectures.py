"""Old name of :mod:`labkit.pretraining` (the chapter's slug since the chapters got one name each).

Kept so a learner's lab saved before the rename still runs: ``from labkit import architectures`` gives the same module
object as ``labkit.pretraining``, private names included.
"""

import sys

from labkit import pretraining

sys.modules[__name__] = pretraining

"""One check per exercise: each passes quietly with a short confirmation, or fails with a hint.

A check cell follows every exercise in the notebooks. The checks compare the learner's answer with
what labkit computes, so they cannot be satisfied by a hard-coded number that happens to be right
for another input, and each one names what to look at when the answer is wrong.

One module per notebook (``labkit.checks.prompting`` holds notebook 02's checks, and so on); every
check is re-exported here, so notebooks call ``checks.check_top_p_filter(...)``. Each check is
registered under its exercise id in :data:`EXERCISES` (see :mod:`labkit.checks.base`).
"""

from labkit.checks.agents import *  # noqa: F401,F403
from labkit.checks.base import EXERCISES, CheckFailed, exercise, exercise_of  # noqa: F401
from labkit.checks.evaluation import *  # noqa: F401,F403
from labkit.checks.fine_tuning import *  # noqa: F401,F403
from labkit.checks.lifecycle import *  # noqa: F401,F403
from labkit.checks.optimization import *  # noqa: F401,F403
from labkit.checks.preference import *  # noqa: F401,F403
from labkit.checks.prompting import *  # noqa: F401,F403
from labkit.checks.rag import *  # noqa: F401,F403
from labkit.checks.rlhf import *  # noqa: F401,F403
from labkit.checks.sagemaker import *  # noqa: F401,F403
from labkit.checks.transformers import *  # noqa: F401,F403

# the module each notebook's checks live in (by notebook number)
MODULES = {"00": "lifecycle", "01": "transformers", "02": "prompting", "03": "fine_tuning", "04": "evaluation",
           "05": "rlhf", "06": "preference", "07": "optimization", "08": "rag", "09": "agents", "10": "sagemaker"}

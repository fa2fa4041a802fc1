"""Old name of :mod:`labkit.sagemaker.emulator` (the emulator now lives in the SageMaker package it serves).

Kept so code written against ``labkit.emulator`` still runs: it is the same module object.
"""

import sys

from labkit.sagemaker import emulator

sys.modules[__name__] = emulator

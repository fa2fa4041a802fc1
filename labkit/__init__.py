"""labkit: the toolbox behind the notebooks of "Generative AI with Large Language Models".

Each module backs one topic of the course; the notebooks in ``solutions/`` (and the learner copies in
``labs/``) call it so that cells read like the lesson while mechanics live here.
"""

from labkit import netguard as _netguard

_netguard.install()

__version__ = "0.1.0"

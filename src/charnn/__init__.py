"""charnn: character-level vanilla RNN language models.

The public API re-exported here is the readable reference implementation.
"""

from .corpus import Vocab
from .model import init_params, loss_and_grads
from .sampling import synthesize

__all__ = ["Vocab", "init_params", "loss_and_grads", "synthesize"]
__version__ = "0.1.0"

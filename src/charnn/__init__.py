"""charnn: character-level recurrent language models.

The public API re-exported here is the readable reference implementation.
It is loaded on first use, so `charnn --help` imports no NumPy.
"""

__all__ = ["Vocab", "init_params", "loss_and_grads", "synthesize"]
__version__ = "0.1.0"

_API = {
    "Vocab": "data.vocab",
    "init_params": "nn.rnn",
    "loss_and_grads": "nn.rnn",
    "synthesize": "nn.sampling",
}


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'charnn' has no attribute {name!r}")

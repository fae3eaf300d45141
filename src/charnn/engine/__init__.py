"""The fast engine: compiled equivalents of the float64 reference, for the
seed's RNN and for GRU and LSTM stacks (chosen from the params, dispatch.py).

    train_chunk      nn.step.reference_chunk, all n updates in one compiled call
    loss_and_grads   nn.step.batch_loss_and_grads
    synthesize       nn.sampling.synthesize (same ids for the same rng state)
    text_loss        nn.rnn.text_loss
    prime            nn.sampling.prime
    warmup, cache_ready   compile, or check numba's on-disk cache
    prepare          load from the cache, filled by a child process if need be
    preload          load the kernels a training thread calls first

Training runs in the dtype of ``state.params["W"]`` (float32 or float64);
the loss is always accumulated in float64.
"""

from ..errors import SetupError

try:
    from .dispatch import loss_and_grads, prime, synthesize, text_loss, train_chunk
    from .warmup import cache_ready, preload, prepare, warmup
except RuntimeError as e:  # numba compiles with cache=True, and has nowhere to keep it
    if "no locator available" not in str(e):
        raise
    raise SetupError(
        "numba finds no writable folder to keep the compiled kernels in; "
        "set NUMBA_CACHE_DIR to a writable folder"
    ) from None

__all__ = [
    "train_chunk",
    "loss_and_grads",
    "synthesize",
    "text_loss",
    "prime",
    "warmup",
    "cache_ready",
    "prepare",
    "preload",
]

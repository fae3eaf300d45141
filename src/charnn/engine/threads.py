"""How many threads one training run uses. numba's threads run the stream
groups of the training kernel (see rnn.GROUP) side by side; BLAS stays on
one thread inside each of them, so nothing is oversubscribed. The groups
and the order in which their gradients are summed depend on B only, so the
results are the same for every thread count."""

from __future__ import annotations

from ..errors import ConfigError
from .rnn import GROUP


def available() -> int:
    """The most threads numba may use here (cores, or NUMBA_NUM_THREADS)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def groups(B: int) -> int:
    """The number of stream groups at batch size B (rnn.group_starts)."""
    return B // GROUP if B >= 2 * GROUP else 1


def default_threads(B: int) -> int:
    """One thread per group, up to every core: 1 below B = 2 * GROUP."""
    return max(1, min(available(), groups(B)))


def use_threads(n: int, B: int) -> int:
    """Use n threads (0: default_threads(B)) from now on; returns the count."""
    n = n or default_threads(B)
    if n > available():
        raise ConfigError(
            f"--threads {n} is more than the {available()} this machine offers; "
            "give a smaller --threads (0 chooses)"
        )
    import numba
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS the kernels call, loaded now)
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(n)
    threadpool_limits(1, user_api="blas")
    return n

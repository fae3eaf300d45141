"""The readable float64 specification, NumPy only: the cells (rnn, gru,
lstm, one file each with its equations), the stacked model built from them
(arch, stack), the optimizers, sampling, the gradient check and the
reference training step. Every fast path in `charnn.engine` is tested
against it."""

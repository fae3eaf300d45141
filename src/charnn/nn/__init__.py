"""The readable float64 specification, NumPy only: the model, the optimizers,
sampling, the gradient check and the reference training step. Every fast
path in `charnn.engine` is tested against it."""

"""A training run: its configuration, data split, backend, loop and folder."""

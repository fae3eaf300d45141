"""Sweeps: many training runs (a grid of options times seeds) on Dask.

spec      the TOML spec, expanded and checked before anything starts
folder    the sweep folder: sweep.json, runs/NAME/, status of each run
worker    one run inside a Dask worker process
execute   the local or remote Dask cluster, submission and results
summary   summary.csv, means and spreads over seeds, ranking, curves
"""

from .spec import Sweep, load_spec

__all__ = ["Sweep", "load_spec"]

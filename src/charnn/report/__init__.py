"""Reports read from run folders: one run, a comparison, their plots."""

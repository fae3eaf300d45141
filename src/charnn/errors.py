"""Exceptions a user can act on. The CLI turns each into one line on stderr
and exit code 2; library code raises them and never prints or exits."""


class CharnnError(Exception):
    """Base class: the message says what is wrong and what to do."""


class CorpusError(CharnnError):
    """A text that cannot be used as a corpus."""


class VocabError(CharnnError):
    """Characters outside a model's vocabulary."""


class ConfigError(CharnnError):
    """An option outside its allowed range, or options that do not fit together."""


class CheckpointError(CharnnError):
    """A run directory or checkpoint that cannot be used."""


class DivergenceError(CharnnError):
    """Training produced a non-finite or exploding loss."""


class SetupError(CharnnError):
    """The machine's setup keeps charnn from running (no folder to cache its kernels in)."""


class SweepError(CharnnError):
    """A cluster that cannot run a sweep: unreachable, no workers, no shared folder."""

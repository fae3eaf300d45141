"""Shared fixtures: small texts and an isolated corpus cache."""

import numpy as np
import pytest

TEXT = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
    "Or to take arms against a sea of troubles\n"
) * 8


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch):
    """Named corpora are converted into a per-session cache, never ~/.cache."""
    folder = tmp_path_factory.getbasetemp() / "charnn-cache"
    monkeypatch.setenv("CHARNN_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

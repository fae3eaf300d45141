"""engine.* picks the kernels from the params: RNN, GRU or LSTM."""

import numpy as np
import pytest

from charnn import engine
from charnn.engine import api, cells, dispatch
from charnn.nn import rnn

from .torch_judge import random_params


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_params_reach_the_gated_kernels(cell):
    params = random_params(cell, 7, 6, 2, np.random.default_rng(1))
    ids = np.random.default_rng(2).integers(0, 7, 30)
    assert dispatch.is_gated(params)
    assert engine.text_loss(params, ids) == cells.text_loss(params, ids)
    X, Y = ids[None, :-1], ids[None, 1:]
    assert engine.loss_and_grads(params, X, Y)[0] == cells.loss_and_grads(params, X, Y)[0]
    a = engine.synthesize(params, None, 1, 20, np.random.default_rng(3), top_k=4)
    b = cells.synthesize(params, None, 1, 20, np.random.default_rng(3), top_k=4)
    assert np.array_equal(a, b)


def test_rnn_params_reach_the_rnn_kernels_and_stacks_are_refused():
    params = rnn.init_params(7, 6, np.random.default_rng(0), sig=0.3)
    ids = np.random.default_rng(2).integers(0, 7, 30)
    assert not dispatch.is_gated(params)
    assert engine.text_loss(params, ids) == api.text_loss(params, ids)
    stacked = dict(params, W1=params["W"], U1=params["W"], b1=params["b"])
    with pytest.raises(ValueError, match="stacked RNN"):
        engine.text_loss(stacked, ids)


def test_gated_stop_ends_early():
    params = random_params("gru", 7, 6, 2, np.random.default_rng(1))
    full = engine.synthesize(params, None, 1, 200, np.random.default_rng(3))
    stop = int(full[5])
    short = engine.synthesize(params, None, 1, 200, np.random.default_rng(3), stop=stop)
    first = int(np.flatnonzero(full == stop)[0])
    assert np.array_equal(short, full[: first + 1])

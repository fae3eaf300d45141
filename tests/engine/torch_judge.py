"""PyTorch float64 twin of a gated stack (nn.LSTM / nn.GRU + the output
layer) for judging the compiled cells: same parameters, same loss."""

from __future__ import annotations

import numpy as np

torch = __import__("pytest").importorskip("torch")


def random_params(cell: str, K: int, m: int, layers: int, rng, scale=0.5) -> dict:
    """Parameters in the shared layout, with non-zero biases."""
    G = 4 if cell == "lstm" else 3
    p = {}
    for l in range(layers):
        s = str(l) if l else ""
        p["W" + s] = scale * rng.standard_normal((G * m, m))
        p["U" + s] = scale * rng.standard_normal((G * m, K if l == 0 else m))
        p["b" + s] = 0.2 * rng.standard_normal(G * m)
        if cell == "gru":
            p["bn" + s] = 0.2 * rng.standard_normal(m)
    p["V"] = rng.standard_normal((K, m))
    p["c"] = 0.2 * rng.standard_normal(K)
    return p


def torch_net(cell: str, params: dict, layers: int):
    """nn.LSTM / nn.GRU (float64) holding params, and V, c as leaf tensors."""
    m, K = params["W"].shape[1], params["V"].shape[0]
    net = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(K, m, layers).double()
    with torch.no_grad():
        for l in range(layers):
            s = str(l) if l else ""
            getattr(net, f"weight_hh_l{l}").copy_(torch.from_numpy(params["W" + s]))
            getattr(net, f"weight_ih_l{l}").copy_(torch.from_numpy(params["U" + s]))
            getattr(net, f"bias_ih_l{l}").copy_(torch.from_numpy(params["b" + s]))
            bias_hh = getattr(net, f"bias_hh_l{l}")
            bias_hh.zero_()
            if cell == "gru":
                bias_hh[2 * m :] = torch.from_numpy(params["bn" + s])
    V = torch.tensor(params["V"], requires_grad=True)
    c = torch.tensor(params["c"], requires_grad=True)
    return net, V, c


def torch_state(cell: str, state: np.ndarray, layers: int, m: int):
    """(B, S) state -> torch's h0 (L, B, m) [and c0]."""
    parts = state.reshape(state.shape[0], layers, -1, m)  # (B, L, 1 or 2, m)
    h0 = torch.tensor(np.ascontiguousarray(parts[:, :, 0].transpose(1, 0, 2)))
    if cell == "gru":
        return h0
    return h0, torch.tensor(np.ascontiguousarray(parts[:, :, 1].transpose(1, 0, 2)))


def loss_and_grads(cell: str, params: dict, X, Y, state):
    """(loss, grads keyed like params, state_T (B, S)) by autograd."""
    layers = 1 + sum(1 for k in params if k.startswith("W") and k != "W")
    m, K = params["W"].shape[1], params["V"].shape[0]
    net, V, c = torch_net(cell, params, layers)
    B, T = X.shape
    x = torch.nn.functional.one_hot(torch.tensor(X.T, dtype=torch.long), K).double()
    out, hT = net(x, torch_state(cell, state, layers, m))
    logits = out @ V.T + c  # (T, B, K)
    y = torch.tensor(Y.T, dtype=torch.long)
    loss = (
        torch.nn.functional.cross_entropy(logits.reshape(-1, K), y.reshape(-1), reduction="sum") / B
    )
    loss.backward()
    grads = {"V": V.grad.numpy(), "c": c.grad.numpy()}
    for l in range(layers):
        s = str(l) if l else ""
        grads["W" + s] = getattr(net, f"weight_hh_l{l}").grad.numpy()
        grads["U" + s] = getattr(net, f"weight_ih_l{l}").grad.numpy()
        grads["b" + s] = getattr(net, f"bias_ih_l{l}").grad.numpy()
        if cell == "gru":
            grads["bn" + s] = getattr(net, f"bias_hh_l{l}").grad.numpy()[2 * m :]
    hs = [hT] if cell == "gru" else list(hT)
    new = np.stack([t.detach().numpy() for t in hs], axis=2)  # (L, B, 1|2, m)
    return float(loss.detach()), grads, new.transpose(1, 0, 2, 3).reshape(B, -1)

"""bench/results.md from the measurements of bench_speed.py: the contenders'
rates beside the machine's own limits, the forward-only kernels, thread
scaling and the whole-process comparison."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

import ceiling


def fma_per_update(K: int, m: int, T: int, B: int) -> int:
    """Multiply-adds of one update: W h, V h, V^T g, W^T da (T-1 steps), dW, dV;
    the input layer is a gather and the optimizer is element-wise (not counted)."""
    return B * (m * m * (3 * T - 1) + 3 * T * K * m)


def bound_per_update(K: int, m: int, T: int, lim: dict, dtype: str) -> dict:
    """Seconds one B = 1 update needs at the limits that bind its parts: the
    recurrence's W h and W^T da (m²(2T−1) FMAs) stream W at the measured
    streaming rate, dW and the output layer (m²T + 3TKm) run at the FMA peak,
    and AdaGrad's step visits m² + Km + m + K parameters plus the U columns of
    the distinct ids read (K(1 − (1 − 1/K)^T) expected for random ids) at
    the measured rate of the engine's own step. Exp and tanh are not counted."""
    bits = "64" if dtype == "float64" else "32"
    ids = K * (1 - (1 - 1 / K) ** T)
    parts = {
        "recurrence": m * m * (2 * T - 1) / lim["stream" + bits],
        "GEMMs": (m * m * T + 3 * T * K * m) / lim["fma" + bits],
        "AdaGrad": (m * m + K * m + m + K + ids * m) / lim["rule" + bits],
    }
    return {**parts, "total": sum(parts.values())}


def _versions() -> str:
    import numba

    out = f"numba {numba.__version__}"
    try:
        import torch

        out += f", torch {torch.__version__}"
    except ImportError:
        out += ", torch not installed"
    return out


def machine_lines(res: dict) -> list[str]:
    import llvmlite.binding as llvm

    lim, reg = res["limits"], res["limits"]["registers"]
    width = "AVX-512 (zmm)" if reg["zmm"] else "AVX2 (ymm)" if reg["ymm"] else "SSE (xmm)"
    l0, l1 = res["load"][0], res["load"][-1]
    return [
        f"Machine: {ceiling.cpu_name()} ({platform.machine()}), vector extensions: "
        f"{', '.join(ceiling.vector_extensions())}; LLVM target `{llvm.get_host_cpu_name()}`. "
        f"The engine's vector loops compile to {width} code here "
        f"({reg['zmm']} zmm, {reg['ymm']} ymm, {reg['xmm']} xmm register uses).",
        f"Python {platform.python_version()}, NumPy {np.__version__}, {_versions()}. "
        f"Load average {l0[0]:.1f} at the start, {l1[0]:.1f} at the end (shared machine).",
        "",
        "The machine's limits, one thread, measured in this run: FMA peak "
        f"{lim['fma64'] / 1e9:.1f} G/s float64, {lim['fma32'] / 1e9:.1f} G/s float32 "
        "(a loop of 16 independent vector FMAs compiled here); GEMM 1024³ through the "
        f"kernels' BLAS {lim['gemm64'] / 1e9:.1f} GFLOP/s float64, "
        f"{lim['gemm32'] / 1e9:.1f} GFLOP/s float32; FMAs taking one operand from an array "
        f"the size of W (m² values, read over and over) {lim['stream64'] / 1e9:.1f} G/s "
        f"float64, {lim['stream32'] / 1e9:.1f} G/s float32; AdaGrad's step as the engine "
        f"takes it (float64: Newton's 1/√ on the FMA units, from AVX-512's 14-bit estimate "
        f"where the kernels compile for it; float32: the divider's square "
        f"root and division) {lim['rule64'] / 1e9:.2f} G elements/s float64, "
        f"{lim['rule32'] / 1e9:.2f} G/s float32.",
    ]


def table_lines(res: dict, dims) -> list[str]:
    K, m, T = dims[:3]
    rates, lim = res["rates"], res["limits"]
    plain = rates[("plain NumPy loop", 1)]
    lines = [
        "| contender | dtype | B | updates/s | chars/s | × plain loop | × PyTorch float32 "
        "| % FMA peak | % GEMM |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, B), r in rates.items():
        dtype = "float32" if "float32" in name else "float64"
        torch_r = rates.get(("PyTorch nn.RNN float32", B))
        vs = f"{r / torch_r:.1f}" if torch_r else "–"
        fma = r * fma_per_update(K, m, T, B)
        suffix = ["–", "–"]
        if name.startswith("engine"):
            peak = lim["fma64" if dtype == "float64" else "fma32"]
            gemm = lim["gemm64" if dtype == "float64" else "gemm32"]
            suffix = [f"{100 * fma / peak:.1f}%", f"{100 * 2 * fma / gemm:.1f}%"]
        short = name.replace(" float32", "").replace(" float64", "")
        lines.append(
            f"| {short} | {dtype} | {B} | {r:,.0f} | {r * B * T:,.0f} | {r * B / plain:.1f} "
            f"| {vs} | {' | '.join(suffix)} |"
        )
    return lines


def extra_lines(res: dict, dims) -> list[str]:
    T = dims[2]
    rates = res["rates"]
    train = rates[("engine float64", 1)] * T
    fwd, (fast, ref) = res["forward"], res["sampling"]
    lines = ["", *bound_lines(res, dims)]
    lines += [
        "",
        f"**Forward-only kernels** (float64, one stream from a zero state): `text_loss` "
        f"{fwd['text_loss']:,.0f} chars/s ({fwd['text_loss'] / train:.2f}× the characters/s of "
        f"float64 training at B = 1), `prime` {fwd['prime']:,.0f} chars/s.",
        "",
        f"**Sampling** (engine.synthesize): {fast:,.0f} chars/s (reference: {ref:,.0f}).",
    ]
    for dtype, r in res["threads"].items():
        lines.append(
            f"\n**Threads**, B = 64 {dtype}: {r[1]:,.1f} updates/s on one thread, {r[2]:,.1f} on "
            f"two: {r[2] / r[1]:.2f}× (the same results: see `--threads`)."
        )
    w = res["whole"]
    if w:
        sp = w["split"]
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in sp["parts"].items())
        beside = ", ".join(f"{k} {v:.2f} s" for k, v in (sp.get("beside_s") or {}).items())
        lines += [
            "",
            f"**Whole run** ({w['updates']:,} updates, whole processes, one BLAS thread each, "
            "Python's bytecode cache on as by default): "
            f"`charnn train` at the seed's settings {w['charnn_s']:.1f} s, a plain min-char-rnn "
            f"NumPy loop {w['plain_s']:.1f} s: **{w['ratio']:.1f}×**. Inside charnn's process: "
            f"{parts}, other {sp['other_s']:.2f} s; updates are "
            f"{100 * sp['updates_fraction']:.0f}% of its wall time"
            + (f"; beside the updates, on the second core: {beside}." if beside else "."),
        ]
        one = w.get("one_core")
        if one:
            osp = w["one_core_split"]
            lines.append(
                f"Held to one core, where validation and checkpoints run in turn with the "
                f"updates: {one['charnn_s']:.1f} s, **{one['ratio']:.1f}×**, updates "
                f"{100 * osp['updates_fraction']:.0f}% of the wall time (validation "
                f"{osp['parts']['validation']:.2f} s). CPU seconds: charnn "
                f"{w['charnn_cpu_s']:.1f} (two cores), {one['cpu_s']:.1f} (one); the plain "
                f"loop {w['plain_cpu_s']:.1f}."
            )
    return lines


def bound_lines(res: dict, dims) -> list[str]:
    """B = 1 against the limits that bind it (bound_per_update)."""
    K, m, T = dims[:3]
    out = []
    for dtype in ("float64", "float32"):
        r = res["rates"].get((f"engine {dtype}", 1))
        if not r:
            continue
        b = bound_per_update(K, m, T, res["limits"], dtype)
        us = ", ".join(f"{k} {1e6 * v:.1f} µs" for k, v in b.items() if k != "total")
        out += [] if not out else [""]
        out.append(
            f"**B = 1 {dtype} against the limits that bind it:** {us}; together "
            f"{1 / b['total']:,.0f} updates/s. The engine's {r:,.0f} updates/s are "
            f"{100 * r * b['total']:.0f}% of that."
        )
    return [
        *out,
        "",
        "(The FMA peak is out of reach at B = 1: each step of the recurrence reads all of W, "
        f"at m = {m} {m * m * 8 // 1000} kB in float64, more than an L1 data cache holds "
        "(32–48 kB), and AdaGrad's step per parameter is its own work: a square root and a "
        "division sharing one unit (float32), or Newton's 1/√ (float64). "
        "Exp and tanh are not counted, so the bound is optimistic.)",
    ]


def write(path, res: dict, dims) -> None:
    K, m, T, lr, clip = dims
    lines = [
        "# charnn speed",
        "",
        f"K = {K}, m = {m}, T = {T}, AdaGrad lr {lr}, clip {clip}, random ids; one thread; "
        f"medians over interleaved rounds{' (--quick)' if res['quick'] else ''}.",
        "",
        *machine_lines(res),
        "",
        "The table's figures are **bare kernels** (many updates per call, random ids); the "
        "**whole run** below is a whole `charnn train` process. PyTorch runs float32 unless "
        "labelled; % FMA peak and % GEMM relate each engine row's multiply-adds "
        f"(B·(m²(3T−1) + 3TKm) = {fma_per_update(K, m, T, 1):,} per stream and update) to the "
        "limits above.",
        "",
        *table_lines(res, dims),
        *extra_lines(res, dims),
        "",
        "BLAS in use:",
        *res["blas"],
        *(["", "Notes:", *(f"- {n}" for n in res["notes"])] if res["notes"] else []),
        "",
        f"Benchmark wall time: {res['elapsed']:.0f} s.",
        "",
    ]
    Path(path).write_text("\n".join(lines))

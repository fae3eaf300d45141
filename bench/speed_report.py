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
        f"{lim['gemm32'] / 1e9:.1f} GFLOP/s float32.",
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
            suffix = [f"{100 * fma / peak:.0f}%", f"{100 * 2 * fma / gemm:.0f}%"]
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
    lines = [
        "",
        f"**Forward-only kernels** (float64, one stream from a zero state): `text_loss` "
        f"{fwd['text_loss']:,.0f} chars/s ({fwd['text_loss'] / train:.1f}× the characters/s of "
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
        lines += [
            "",
            f"**Whole run** ({w['updates']:,} updates, whole processes, one thread each): "
            f"`charnn train` at the seed's settings {w['charnn_s']:.1f} s, a plain min-char-rnn "
            f"NumPy loop {w['plain_s']:.1f} s: **{w['ratio']:.1f}×**. Inside charnn's process: "
            f"{parts}, other {sp['other_s']:.2f} s; updates are "
            f"{100 * sp['updates_fraction']:.0f}% of its wall time.",
        ]
    return lines


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

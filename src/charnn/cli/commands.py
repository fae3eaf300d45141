"""The command line's subcommands (part of the CLI: these print, nothing else does)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import numpy as np

from ..data import corpus
from ..data.documents import END, END_MARK
from ..data.text import read_text
from ..data.vocab import Vocab
from ..errors import CheckpointError, ConfigError, CorpusError
from ..nn import gradcheck as gc
from ..nn import sampling, stack
from ..nn.arch import default_sig
from ..run import bestval, budget, identity, rundir, snapshot, timing
from ..run.backend import for_model
from ..run.config import TrainConfig
from ..run.evaluation import per_char_bpc, score, start_state, uniform_bpc, uniform_warning
from ..run.loop import Interrupted, Run
from ..run.options import OPTIONS, PRESETS
from .progress import Printer
from .sweep import sweep  # noqa: F401  (the `charnn sweep` subcommand)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


# -- gradcheck ---------------------------------------------------------------
def gradcheck(args) -> int:
    c = corpus.load(args.corpus, min_chars=args.seq_length + 1)
    vocab = Vocab.from_text(c.text)
    sig = default_sig(args.cell, args.hidden) if args.sig is None else args.sig
    budget.check(
        budget.model_bytes(vocab.size, args.hidden, 8, 8, args.layers, args.cell),
        f"--hidden {args.hidden}",
        "use a smaller --hidden",
    )
    rows, T = gc.check_on_text(
        vocab,
        c.text,
        args.hidden,
        args.seq_length,
        args.seed,
        sig,
        args.max_entries,
        cell=args.cell,
        layers=args.layers,
    )
    state = "h0 and c0" if args.cell == "lstm" else "h0"
    print(
        f"gradient check on {c.name}: {args.cell}, {args.layers} layer(s), K={vocab.size}, "
        f"m={args.hidden}, T={T}, sig={sig:g}, non-zero {state}, float64"
    )
    print(format_gradcheck(rows))
    ok = all(r.passed for r in rows)
    print("all gradients pass (max relative error < 1e-6)" if ok else "GRADIENT CHECK FAILED")
    return 0 if ok else 1


def format_gradcheck(rows) -> str:
    lines = [
        f"{'param':<6} {'shape':<10} {'checked':>8} {'max abs err':>12} {'max rel err':>12}  result"
    ]
    for r in rows:
        lines.append(
            f"{r.name:<6} {str(r.shape):<10} {r.checked:>8} {r.max_abs:>12.2e} "
            f"{r.max_rel:>12.2e}  {'pass' if r.passed else 'FAIL'}"
        )
    return "\n".join(lines)


# -- sample ------------------------------------------------------------------
def _model_path(source: str | Path, which: str) -> Path:
    p = Path(source)
    if p.is_dir():
        rundir.read_config(p)
        path = bestval.model_file(p, which)
        if not path.exists():
            raise CheckpointError(f"{p} has no {path.name}; is it a finished charnn run?")
        identity.check_checkpoint(p, path)
        return path
    if not p.exists():
        raise CheckpointError(f"no run directory or checkpoint at {p}")
    return p


def _load_model(source: str | Path, which: str):
    """(config, vocab, params, h, x) of a run's best or latest model, checked
    to belong to the run when source is a run folder."""
    folder = Path(source)
    try:
        return snapshot.load_model(_model_path(source, which))
    except CheckpointError as e:
        about_best = str(folder / rundir.BEST) in str(e)
        if which == "best" and about_best and (folder / rundir.CHECKPOINT).exists():
            raise CheckpointError(f"{e}; or use the latest model: --checkpoint latest") from None
        raise


def _prime_text(args) -> str:
    if args.prime is not None and args.prime_file is not None:
        raise ConfigError("give --prime TEXT or --prime-file PATH, not both")
    if args.prime_file is not None:
        text = read_text(args.prime_file)
        if not text:
            raise ConfigError(f"--prime-file {args.prime_file} is empty")
        return text
    return args.prime or ""


def _sample_model(args, rng: np.random.Generator):
    """(cfg, vocab, params, h, x, what): the model and the state sampling starts from."""
    if args.untrained is not None:
        c = corpus.load(args.untrained or None)
        vocab = Vocab.from_text(c.text)
        budget.check(
            budget.model_bytes(vocab.size, args.hidden, 8, 2, args.layers, args.cell),
            f"--hidden {args.hidden}",
            "use a smaller --hidden",
        )
        cfg = TrainConfig(
            cell=args.cell, layers=args.layers, hidden=args.hidden, engine="reference"
        )
        params = stack.init_params(vocab.size, args.hidden, rng, None, args.cell, args.layers)
        h = np.zeros(stack.describe(params).state_size)
        x = int(vocab.encode(c.text[0])[0])
        return cfg, vocab, params, h, x, "an untrained model, from h = 0"
    if args.source is None:
        raise ConfigError("give a run directory or checkpoint, or --untrained [CORPUS]")
    cfg, vocab, params, h, x = _load_model(args.source, args.checkpoint)
    h = start_state(h, args.start)
    state = "its carried state" if args.start == "model" else "h = 0"
    name = _model_path(args.source, args.checkpoint).name
    return cfg, vocab, params, h, x, f"{name}, from {state}"


def sample(args) -> int:
    budget.check_sample(args.length)  # samples are made one at a time
    if args.documents is not None:
        from .documents import sample_documents

        budget.check_sample(args.documents * args.max_length, "--documents × --max-length")
        return sample_documents(args, _model_path)
    prime = _prime_text(args)
    seed = args.seed
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**32)
    rng = np.random.default_rng(seed)
    cfg, vocab, params, h, x, what = _sample_model(args, rng)
    if prime:
        if cfg.cell == "rnn" and cfg.layers == 1:  # the compiled recurrence
            from ..engine import prime as run_prime
        else:
            run_prime = sampling.prime
        h, x = run_prime(params, h, vocab.encode(prime))
        what += f", primed with {len(prime):,} characters"
    chosen = "" if args.seed is not None else " (chosen; give --seed to repeat)"
    _err(f"charnn sample: {what}; seed {seed}{chosen}")
    synthesize = for_model(cfg).synthesize
    for i in range(args.num_samples):
        out = synthesize(
            params,
            h.astype(cfg.dtype),
            x,
            args.length,
            rng,
            args.temperature,
            args.top_k,
            args.top_p,
        )
        if args.num_samples > 1:
            print(f"=== sample {i + 1} of {args.num_samples} ===")
        print((prime + vocab.decode(out)).replace(END, END_MARK))
    return 0


# -- evaluate ----------------------------------------------------------------
def evaluate(args) -> int:
    if args.documents is not None:
        from .documents import evaluate_documents

        return evaluate_documents(args, _model_path)
    cfg, vocab, params, h, _ = _load_model(args.run, args.checkpoint)
    name = _model_path(args.run, args.checkpoint).name
    text = read_text(args.text)
    unknown = vocab.unknown(text)
    kept = "".join(ch for ch in text if ch in vocab.index) if unknown else text
    if len(kept) < 2:
        raise CorpusError(
            f"{args.text} has no two characters from the model's vocabulary "
            f"({len(text) - len(kept)} unknown characters skipped)"
        )
    from ..engine.threads import use_threads

    use_threads(1, 1)  # one stream: BLAS threads would only contend
    ids = vocab.encode(kept)
    nats, bpc = score(for_model(cfg).text_loss, params, ids, start_state(h, args.start))
    warning = uniform_warning(bpc, vocab.size)
    result = {
        "text": str(args.text),
        "model": name,
        "start": "carried" if args.start == "model" else "zero",
        "characters": len(ids) - 1,
        "skipped": len(text) - len(kept),
        "nats_per_char": nats,
        "bits_per_char": bpc,
        "uniform_bits_per_char": uniform_bpc(vocab.size),
        "unknown": unknown[:50],
        "warning": warning,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        state = "its carried state" if args.start == "model" else "h = 0"
        print(
            f"{bpc:.4f} bits/char ({nats:.4f} nats/char) over {len(ids) - 1:,} characters of "
            f"{args.text}, {name} from {state}; uniform guessing: "
            f"{uniform_bpc(vocab.size):.4f}; {result['skipped']:,} unknown characters skipped"
        )
        if warning:
            print(warning)
    return 0


# -- train -------------------------------------------------------------------
def _train_options(args) -> dict:
    return {o.name: getattr(args, o.name) for o in OPTIONS}


def _open_run(args) -> Run:
    opts = _train_options(args)
    if args.resume is not None:
        if args.out is not None and args.out.resolve() != args.resume.resolve():
            raise ConfigError(
                "give either --out (a new run) or --resume (an existing one), not both"
            )
        if args.force:
            raise ConfigError("--force starts over; it cannot be combined with --resume")
        if getattr(args, "preset", None):
            raise ConfigError("--preset applies to new runs; a resumed run keeps its configuration")
        moved = None if args.corpus is None else _corpus_id(args.corpus)
        return Run.resume(args.resume, opts, corpus=moved)
    if args.out is None:
        raise ConfigError("give --out RUN_DIR for a new run, or --resume RUN_DIR")
    given = {k: v for k, v in opts.items() if v is not None}
    if "epochs" in given and "updates" not in given:
        given["updates"] = 0
    given = {**PRESETS.get(getattr(args, "preset", None) or "", {}), **given}
    cfg = TrainConfig(corpus=_corpus_id(args.corpus), **given).validate()
    return Run.start(args.out, cfg, force=args.force)


def _corpus_id(spec) -> str:
    """The corpus as a run records it: a corpus name, or the file's absolute path."""
    name, path = corpus.resolve(spec)
    return name if not Path(name).exists() else str(path.resolve())


def _warm_engine(cfg, quiet: bool) -> None:
    """Compile the kernels in a child process that fills numba's on-disk cache,
    then load them from it. Code numba compiles in a process and the object
    code it caches can differ in the last bits of some results, so every run
    loading from the cache keeps runs (and their resumes) bit for bit alike."""
    if cfg.engine != "fast":
        return
    import subprocess

    from .. import engine

    if not engine.cache_ready(cfg.dtype):
        if not quiet:
            _err(f"compiling the fast engine for {cfg.dtype} (first run only, 20 to 60 s)...")
        code = f"from charnn.engine import warmup; warmup({cfg.dtype!r})"
        done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True)
        if done.returncode or not engine.cache_ready(cfg.dtype):
            engine.warmup(cfg.dtype)  # no usable cache: compile here
    # otherwise each kernel loads from the cache at its first call


def _preload_plotting() -> None:
    """Import matplotlib (about a second) in a background thread while the
    kernels, which release the GIL, train; the final plot then finds it loaded."""
    import threading

    def load():
        from ..report.plot import figure

        try:
            figure()
        except Exception:  # the plot itself will report it
            pass

    threading.Thread(target=load, name="preload-matplotlib", daemon=True).start()


def train(args) -> int:
    run = _open_run(args)
    try:
        return _train(args, run)
    finally:
        run.close()


def _train(args, run: Run) -> int:
    if args.resume is not None and run.state.update >= run.end():
        print(
            f"{run.folder} is complete ({run.state.update} updates); nothing to do. "
            "Give a larger --updates, --epochs or --max-time to train further."
        )
        return _maybe_report(args, run)
    run.clock.start, first = timing.process_start(), run.state.update
    _warm_engine(run.cfg, args.quiet)
    _preload_plotting()
    caught = []

    def handler(signum, frame):
        caught.append(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    printer = Printer(run, args.quiet)

    def should_stop() -> int:
        return caught[0] if caught else (signal.SIGPIPE if printer.failed else 0)

    try:
        run.train(printer, should_stop)
    except Interrupted as e:
        printer.close()
        return _stopped(run, e, printer.failed if not caught else None)
    finally:
        printer.close()
        for s, h in old.items():
            signal.signal(s, h)
    from ..report.plot import plot_run

    with run.clock.part("plot"):
        plot_run(run.folder)
    st = run.state
    split = {**run.clock.split(st.update - first), "threads": run.threads}
    rundir.write_json(run.folder / rundir.TIMING, split)
    print(timing.format_split(split))
    print(done_line(run))
    return _maybe_report(args, run)


def done_line(run: Run) -> str:
    """The summary train prints: update numbers count updates done."""
    st, T = run.state, run.cfg.seq_length
    out = bestval.read_outcome(run.folder)
    val = ""
    if "final_val_bpc" in out:
        val = (
            f"; validation {out['final_val_bpc']:.4f} bits/char (final model), "
            f"{out['best_smooth']['val_bpc']:.4f} (best by smoothed loss), "
            f"{out['best_val']['val_bpc']:.4f} (best by validation, after "
            f"{out['best_val']['update']:,} updates)"
        )
    return (
        f"done: {st.update:,} updates ({st.update / run.per_epoch:.2f} epochs); min smoothed "
        f"loss {per_char_bpc(st.best_smooth, T):.4f} bits/char ({st.best_smooth:.2f} "
        f"nats/sequence) at update {st.best_update + 1:,}{val}; run in {run.folder}"
    )


def _stopped(run: Run, e: Interrupted, output_error: OSError | None) -> int:
    """The line and exit code of a training stopped with its checkpoint saved."""
    again = f"continue with: charnn train --resume {run.folder}"
    if output_error is None:
        _err(f"charnn train: {e} in {run.folder}; {again}")
        return 128 + e.signum
    saved = f"stopped at update {e.update} with a checkpoint saved in {run.folder}"
    if isinstance(output_error, BrokenPipeError):
        _err(f"charnn train: standard output was closed; {saved}; {again}")
        return 128 + signal.SIGPIPE
    _err(
        f"charnn train: error: cannot write to standard output "
        f"({output_error.strerror or output_error}); {saved}; {again}"
    )
    return 2


def _maybe_report(args, run: Run) -> int:
    if args.report:
        from ..report.single import write_report

        print(f"report: {write_report(run.folder)}")
    return 0


# -- plot / report / compare -------------------------------------------------
def plot(args) -> int:
    from ..report.plot import plot_run

    rundir.read_config(args.run)
    print(plot_run(args.run))
    return 0


def report(args) -> int:
    from ..report.single import write_report

    print(write_report(args.run))
    return 0


def compare(args) -> int:
    from ..report.compare import compare as run_compare
    from ..sweep.folder import expand_runs

    page, table, warned = run_compare(expand_runs(args.runs), args.out)
    print(table)
    for w in warned:
        _err(w)
    print(f"written: {page}")
    return 0

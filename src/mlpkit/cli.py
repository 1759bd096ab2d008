"""Command line: ``mlpkit bench`` and ``mlpkit info`` (also ``python -m mlpkit ...``)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import platform
import sys
import time
from typing import Sequence

from . import __version__, bench
from .backends import available_backends
from .backends.registry import BACKENDS, normalize
from .mlp.files import load_any as load_any_model


def _backend_list(text: str) -> list[str]:
    names = [normalize(part) for part in text.split(",") if part.strip()]
    if "auto" in names:
        raise argparse.ArgumentTypeError("name backends explicitly (numpy, numba, cupy)")
    return names


def _name_list(text: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c'] (names are checked where they are used)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers; received {text!r}")
    return values


def cmd_bench(args: argparse.Namespace) -> int:
    reasons = available_backends()
    names = args.backends or [name for name in BACKENDS if reasons[name] is None]
    for name in names:
        if reasons[name] is not None:  # explicitly asked for: fail, do not skip silently
            print(f"mlpkit bench: {reasons[name]}", file=sys.stderr)
            return 2
    for name in BACKENDS:
        if name not in names and reasons[name] is not None:
            print(f"skipped {name}: {reasons[name]}", file=sys.stderr)
    threads = args.threads or sorted({1, os.cpu_count() or 1})
    if args.threads is None and importlib.util.find_spec("threadpoolctl") is None:
        print("threadpoolctl is not installed (pip install threadpoolctl): measuring with the libraries' "
              "default thread counts only", file=sys.stderr)
        threads = [None]
    repeats, target = (3, 0.005) if args.quick else (args.repeats, 0.1)
    if args.train:
        return _bench_train(args, names, threads)
    peers = list(bench.PEERS) if args.peers else []
    sizes = bench.MODELS[args.model][0]
    print(f"mlpkit {__version__} bench: {args.model} {'-'.join(map(str, sizes))} {args.dtype}; "
          f"backends {', '.join(names)}; peers {', '.join(peers) or 'none (--peers)'}; threads {threads}; "
          f"{repeats} interleaved repeats, median", file=sys.stderr)
    if "numba" in names:
        from .backends.numba_backend import describe_isa

        print(f"numba kernels: {describe_isa()}", file=sys.stderr)
    rows = bench.run(args.model, args.dtype, names, peers, threads, args.batches or [32, 256, 4096], repeats, target, _progress)
    _progress("measuring this machine's peak (one thread)")
    peak = bench.measure_peak(args.dtype, repeats=3 if args.quick else 5)
    flops = bench.flops_per_row(args.model)
    shares = lambda rows: "\n".join(filter(None, [bench.format_ratios(rows) if peers else "",  # noqa: E731
                                                   bench.format_peak_shares(rows, peak, flops)]))
    meta = {"model": args.model, "dtype": args.dtype, "peak_gflops_per_thread": peak.gflops, "peak_source": peak.source}
    _report(args, rows, shares, meta)
    return 0


def _report(args: argparse.Namespace, rows, ratios, meta: dict, title: str = "") -> None:
    """Print the table (and ratios), write --json and --plot."""
    _progress("")
    if title:
        print(title)
    print(bench.format_table(rows))
    if ratios:
        print()
        print(ratios(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mlpkit": __version__, "python": platform.python_version(), **meta, "rows": bench.to_json(rows)}, f, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        bench.plot(rows, args.plot, f"mlpkit {__version__}: " + " ".join(str(meta[k]) for k in ("model", "dtype", "training") if k in meta))
        print(f"wrote {args.plot}", file=sys.stderr)


def _bench_train(args: argparse.Namespace, names: list[str], threads: list[int]) -> int:
    model = args.model if args.model != "M1" else "T1"
    peers = list(bench.TRAIN_PEERS) if args.peers else []
    samples, repeats = (2000, 1) if args.quick else (15000, max(3, args.repeats // 2))
    batches = args.batches or [32, 128]  # None until the user gives a value: an explicit list is kept
    print(f"mlpkit {__version__} bench --train: {model} {'-'.join(map(str, bench.MODELS[model][0]))} float32, Adam, "
          f"one epoch of {samples} rows, thread(s) {threads[0]}; backends {', '.join(names)}; "
          f"peers {', '.join(peers) or 'none (--peers)'}", file=sys.stderr)
    rows = bench.run_train(model, names, peers, batches, samples, threads[0], repeats, _progress)
    _report(args, rows, bench.format_peer_ratios if peers else None, {"model": model, "training": "Adam float32"},
            title="training throughput, samples/s:")
    return 0


def _progress(message: str) -> None:
    """One updating line on a terminal; plain lines for a log (only the messages that matter)."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\x1b[K{message}")
        sys.stderr.flush()
    elif message and ("repeat 1/" in message or "skipped" in message or "ceiling" in message):
        print(message, file=sys.stderr)


_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "amx_tile", "asimd", "sve")


def _cpu_description() -> str:
    """Model name and the SIMD flags that matter for these kernels (Linux /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    name = fields.get("model name") or fields.get("CPU part") or platform.machine()
    return f"{name}; SIMD: {' '.join(f for f in _CPU_FLAGS if f in flags) or 'none found'}"


def cmd_warmup(args: argparse.Namespace) -> int:
    from .backends import dtype_name, get_backend

    dtypes = [dtype_name(d) for d in (args.dtype or ["float32", "float64"])]
    get_backend("numba")  # fails with the reason and the fix where Numba cannot be used
    from .backends.numba_backend import cache_dir, describe_isa, warmup

    print(f"numba kernels: {describe_isa()}")
    total = 0.0
    for what, seconds in warmup(dtypes):
        print(f"  {what:24} {seconds:7.2f} s")
        total += seconds
    if args.training:
        import numpy as np

        from .mlp import MLP

        for dtype in dtypes:
            start = time.perf_counter()
            rng = np.random.default_rng(0)
            x, t = rng.random((16, 4)), rng.integers(0, 2, 16)
            for sizes, act in [((4, 3, 2), "sigmoid"), ((4, 3, 2), "relu")]:
                MLP(sizes, act, backend="numba", dtype=dtype, seed=0).fit(x, t, epochs=1, batch_size=6, verbose=False)  # 6, 6, 4 rows: BLAS and loop layers
            seconds = time.perf_counter() - start
            print(f"  {dtype + ' training':24} {seconds:7.2f} s")
            total += seconds
    print(f"done in {total:.1f} s; kernels cached in {cache_dir()}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    if args.model:
        print(model_summary(load_any_model(args.model, args.activations, backend="numpy")))
        return 0
    import numpy

    reasons = available_backends()
    print(f"mlpkit {__version__}, Python {platform.python_version()}, NumPy {numpy.__version__}")
    print(f"CPU: {_cpu_description()}, {os.cpu_count()} logical cores")
    print("backends:")
    for name, reason in reasons.items():
        print(f"  {name:6} {'available' if reason is None else 'unavailable: ' + reason}")
    if reasons["numba"] is None:
        import llvmlite.binding as llvm
        import numba

        from .backends.numba_backend import describe_isa

        print(f"numba {numba.__version__}, LLVM target CPU {llvm.get_host_cpu_name()}, "
              f"threading layer config {numba.config.THREADING_LAYER!r} (mlpkit kernels are serial and nogil)")
        print(f"numba kernels: {describe_isa()}")
        from .kernels.numba_jit import cache_dir

        print(f"numba kernel cache: {cache_dir()} (NUMBA_CACHE_DIR overrides; 'mlpkit warmup' fills it)")
    print(f"GPU: {'CuPy backend usable' if reasons['cupy'] is None else reasons['cupy']}")
    try:
        import threadpoolctl
    except ImportError:
        print("BLAS: threadpoolctl not installed (pip install threadpoolctl) - cannot list BLAS libraries or limit threads")
        return 0
    for info in threadpoolctl.threadpool_info():
        extra = f", {info['architecture']} kernels" if info.get("architecture") else ""
        print(f"{info['user_api']}: {info['internal_api']} {info.get('version') or ''} "
              f"({os.path.basename(info['filepath'])}), {info['num_threads']} threads{extra}")
    return 0


def _load_training_data(args: argparse.Namespace):
    """((x, t), (x_val, t_val) or None) from --data: mnist, a .npz (x, t[, x_val, t_val]) or a .csv
    (label in the first column, features after; --val-fraction of the rows held out)."""
    import numpy as np

    if args.data == "mnist":
        from .datasets import load_mnist

        return load_mnist(args.data_dir)
    if args.data.endswith(".npz"):
        with np.load(args.data, allow_pickle=False) as d:
            if not {"x", "t"} <= set(d.files):
                raise ValueError(f"{args.data} must hold arrays 'x' and 't' (optionally 'x_val', 't_val'); found {d.files}")
            val = (d["x_val"], d["t_val"]) if {"x_val", "t_val"} <= set(d.files) else None
            return (d["x"], d["t"]), val
    if args.data.endswith(".csv"):
        table = np.loadtxt(args.data, delimiter=",", skiprows=args.skip_rows, ndmin=2)
        x, t = table[:, 1:], table[:, 0]
        n_val = int(len(x) * args.val_fraction)
        order = np.random.default_rng(args.seed).permutation(len(x))
        val_idx, train_idx = order[:n_val], order[n_val:]
        return (x[train_idx], t[train_idx]), ((x[val_idx], t[val_idx]) if n_val else None)
    raise ValueError(f"--data must be 'mnist', a .npz or a .csv file; received {args.data!r}")


def cmd_train(args: argparse.Namespace) -> int:
    from . import save
    from .mlp import MLP
    from .mlp.plotting import plot_history

    (x, t), val = _load_training_data(args)
    sizes = args.arch
    if sizes[0] != x.shape[1]:
        raise ValueError(f"--arch starts with {sizes[0]} inputs but the data have {x.shape[1]} features")
    model = MLP(sizes, args.activation, args.output, backend=args.backend, dtype=args.dtype, seed=args.seed)
    print(f"training {model} on {len(x)} rows" + (f", validating on {len(val[0])}" if val else ""), file=sys.stderr)
    history = model.fit(
        x, t, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        loss=args.loss, validation_data=val, seed=args.seed, verbose=True, schedule=args.schedule,
        weight_decay=args.weight_decay,
    )
    if args.out:
        recipe = {k: v for k, v in vars(args).items() if k not in ("func", "command", "out", "plot")}
        save(model, args.out, metadata={"trained_with": "mlpkit train", "recipe": recipe,
                                        "final": {k: v[-1] for k, v in history.as_dict().items() if isinstance(v, list) and v and k != "batch_loss"}})
        print(f"saved {args.out}", file=sys.stderr)
    if args.plot:
        plot_history(history, args.plot, title=repr(model))
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from . import recipes

    names = args.recipes or list(recipes.RECIPES)
    for name in names:
        if name not in recipes.RECIPES:
            raise ValueError(f"recipe must be one of {list(recipes.RECIPES)}; received {name!r}")
    reasons = available_backends()
    backends = args.backends or [b for b in BACKENDS if reasons[b] is None]
    mnist = None
    if any(n != "regression" for n in names):
        from .datasets import load_mnist

        mnist = load_mnist(args.data_dir)
    failed = 0
    print(f"{'recipe':16} {'backend':8} {'score':>8} {'target':>9} {'seconds':>8}  result")
    for name in names:
        recipe = recipes.RECIPES[name]
        for backend in backends:
            score, seconds = recipes.run(name, backend, mnist, args.quick)
            ok = score >= recipe.target if recipe.higher_is_better else score < recipe.target
            failed += not ok
            target = f"{'>=' if recipe.higher_is_better else '<'} {recipe.target}"
            print(f"{name:16} {backend:8} {score:8.4g} {target:>9} {seconds:8.1f}  {'ok' if ok else 'MISSED'}", flush=True)
    return 1 if failed and not args.quick else 0


def cmd_convert(args: argparse.Namespace) -> int:
    from . import save

    model = load_any_model(args.input, args.activations, backend="numpy", dtype=args.dtype)
    if args.output.endswith(".onnx"):
        from .onnx import export

        export(model, args.output)
    elif args.output.endswith(".npz"):
        save(model, args.output, metadata={**model.metadata, "converted_from": os.path.basename(args.input)})
    else:
        raise ValueError(f"{args.output}: the output must end in .npz (mlpkit format) or .onnx")
    print(f"wrote {args.output}: {model}", file=sys.stderr)
    return 0


def _open_input(path: str, key: str | None, skip_rows: int):
    """A 2-D array-like of rows to predict: .npy (memory-mapped), .npz, .csv, or MNIST IDX .gz
    images (flattened, scaled to [0, 1] like load_mnist)."""
    import numpy as np

    if path.endswith(".npy"):
        return np.load(path, mmap_mode="r", allow_pickle=False)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as d:
            if key is None and len(d.files) != 1:
                raise ValueError(f"{path} holds {d.files}: choose one with --key")
            return d[key or d.files[0]]
    if path.endswith(".csv"):
        return np.loadtxt(path, delimiter=",", skiprows=skip_rows, ndmin=2)
    if path.endswith(".gz"):
        from .datasets import read_idx

        images = read_idx(path)
        if images.ndim != 3:
            raise ValueError(f"{path} is an IDX file of shape {images.shape}, not images")
        return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    raise ValueError(f"{path}: the input must be .npy, .npz, .csv or an MNIST IDX .gz file")


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    model = load_any_model(args.model, args.activations, backend=args.backend)
    x = _open_input(args.input, args.key, args.skip_rows)
    if x.ndim != 2:
        raise ValueError(f"{args.input}: expected rows of features (2-D); received shape {x.shape}")
    n, width = len(x), (1 if args.classes else model.layer_sizes[-1])
    if args.output.endswith(".npy"):
        shape = (n,) if args.classes else (n, width)
        out = np.lib.format.open_memmap(args.output, mode="w+", dtype=np.int64 if args.classes else model.dtype, shape=shape)
        sink = lambda i, y: out.__setitem__(slice(i, i + len(y)), y)  # noqa: E731
    elif args.output.endswith(".csv"):
        handle = open(args.output, "w")
        sink = lambda i, y: np.savetxt(handle, y.reshape(len(y), -1), delimiter=",", fmt="%d" if args.classes else "%.9g")  # noqa: E731
    else:
        raise ValueError(f"{args.output}: the output must end in .npy or .csv")
    try:
        for i in range(0, n, args.batch_size):
            chunk = np.asarray(x[i : i + args.batch_size])
            y = model.predict_classes(chunk) if args.classes else model.predict(chunk)
            sink(i, y)
            _progress(f"predict: {min(i + args.batch_size, n)}/{n} rows")
    finally:
        _progress("")
        if args.output.endswith(".csv"):
            handle.close()
        else:
            out.flush()
    print(f"wrote {args.output}: {n} rows", file=sys.stderr)
    return 0


def confusion_matrix(labels, predicted, n_classes: int):
    import numpy as np

    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (labels, predicted), 1)
    return m


def cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from .datasets import load_mnist

    model = load_any_model(args.model, args.activations, backend=args.backend)
    _, (x, t) = load_mnist(args.data_dir)
    predicted = model.predict_classes(x)
    matrix = confusion_matrix(t, predicted, model.layer_sizes[-1])
    print(f"{model}\naccuracy on the MNIST test set: {np.mean(predicted == t):.4f} ({int(np.sum(predicted == t))} of {len(t)})")
    print("confusion matrix (rows: true label, columns: predicted)")
    print("      " + "".join(f"{j:>6}" for j in range(matrix.shape[1])))
    for i, row in enumerate(matrix):
        print(f"{i:>6}" + "".join(f"{v:>6}" for v in row))
    if args.png:
        from .mlp.plotting import figure

        fig = figure("--png", figsize=(6, 5))
        ax = fig.subplots()
        im = ax.imshow(matrix, cmap="Blues")
        ax.set(xlabel="predicted", ylabel="true", title=f"accuracy {np.mean(predicted == t):.4f}",
               xticks=range(matrix.shape[1]), yticks=range(matrix.shape[0]))
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        fig.savefig(args.png, dpi=110)
        print(f"wrote {args.png}", file=sys.stderr)
    return 0


def model_summary(model) -> str:
    sizes = model.layer_sizes
    params = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
    flops = 2 * sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))
    lines = [repr(model), f"layers: {len(sizes) - 1}, parameters: {params:,}, FLOPs per sample (2 x multiply-adds): {flops:,}"]
    for k, (i, o, a) in enumerate(zip(sizes[:-1], sizes[1:], model.activations), start=1):
        lines.append(f"  layer {k}: {i} -> {o} {a}")
    if model.metadata:
        lines.append(f"metadata: {json.dumps(model.metadata)[:500]}")
    return "\n".join(lines)


def cmd_selftest(args: argparse.Namespace) -> int:
    from . import selftest

    return selftest.run(normalize(args.backend), args.data_dir, args.quick)


def _model_options(p: argparse.ArgumentParser, backend: bool = True) -> None:
    """Options of every command that reads a model file (see :func:`load_any_model`)."""
    p.add_argument("--activations", type=_name_list,
                   help="one per layer, for bare weight files (.pkl, or .npz of W1, b1, ...)")
    if backend:
        p.add_argument("--backend", help="numpy, numba or cupy (default: MLPKIT_BACKEND or auto)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlpkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mlpkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("bench", help="time single-sample latency and batch throughput per backend",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  mlpkit bench --peers --plot bench.png\n  mlpkit bench --train --peers")
    p.add_argument("--backends", type=_backend_list, help="comma-separated (default: every available one)")
    p.add_argument("--model", choices=sorted(bench.MODELS), default="M1",
                   help="M1 = 784-50-100-10 sigmoid (default), M2 = 784-512-512-10 relu, T1 = 784-50-10 sigmoid")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--batches", type=_int_list, default=None,
                   help="comma-separated batch sizes (default 32,256,4096; with --train 32,128)")
    p.add_argument("--threads", type=_int_list, help="comma-separated thread counts (default: 1 and all cores)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repeats; the median is reported")
    p.add_argument("--peers", action="store_true", help="also time from-scratch NumPy, ONNX Runtime and PyTorch if installed")
    p.add_argument("--quick", action="store_true", help="a few seconds: 3 short repeats (numbers are rough)")
    p.add_argument("--train", action="store_true",
                   help="training throughput instead: one epoch, Adam, batch 32 and 128, model T1 = 784-50-10 sigmoid (or --model)")
    p.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="also draw bar charts (needs matplotlib)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("train", help="train an MLP on MNIST or on .npz/.csv data and save it",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  mlpkit train --arch 784,50,10 --lr 0.005 --schedule cosine --out m.npz --plot curves.png")
    p.add_argument("--data", default="mnist", help="'mnist' (default), data.npz (x, t[, x_val, t_val]) or data.csv (label first)")
    p.add_argument("--data-dir", help="directory of the MNIST .gz files (default: $MLPKIT_DATA, else download to the cache)")
    p.add_argument("--arch", type=_int_list, default=[784, 50, 10], help="layer sizes, e.g. 784,50,10 (default)")
    p.add_argument("--activation", default="sigmoid", help="hidden activation (default sigmoid)")
    p.add_argument("--output", default="softmax", help="output activation (default softmax)")
    p.add_argument("--loss", default="cross_entropy", choices=["cross_entropy", "mse"])
    p.add_argument("--optimizer", default="adam", help="sgd, momentum, nesterov, adagrad, rmsprop, adam (default)")
    p.add_argument("--lr", type=float, help="learning rate (default: the optimizer's Keras default)")
    p.add_argument("--schedule", help="constant, step, exponential or cosine")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", help="numpy, numba, cupy (default: MLPKIT_BACKEND or auto)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--val-fraction", type=float, default=0.1, help="CSV only: rows held out for validation")
    p.add_argument("--skip-rows", type=int, default=0, help="CSV only: header lines to skip")
    p.add_argument("--out", help="save the trained model here (.npz, mlpkit format)")
    p.add_argument("--plot", metavar="FILE.png", help="write the accuracy and loss curves (needs matplotlib)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("reproduce", help="run the reference training recipes on every backend and check their targets",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  mlpkit reproduce --recipes keras-reference,regression --backends numba")
    p.add_argument("--recipes", type=_name_list,
                   help="comma-separated (default: all): keras-reference, mlpkit-best, two-layer-net, larger, regression")
    p.add_argument("--backends", type=_backend_list, help="comma-separated (default: every available one)")
    p.add_argument("--data-dir", help="directory of the MNIST .gz files (default: $MLPKIT_DATA, else download)")
    p.add_argument("--quick", action="store_true", help="short runs on a subset (scores below the targets; smoke only)")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser(
        "convert", help="convert a model file: .pkl/.npz weights, .onnx or mlpkit .npz -> mlpkit .npz or .onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Weight pickles are read with a restricted unpickler that allows only NumPy arrays and plain\n"
                    "containers: any other class (os.system, a user class...) is refused by name and never run.",
        epilog="example:\n  mlpkit convert sample_weight.pkl m1.npz --activations sigmoid,sigmoid,softmax\n"
               "  mlpkit convert m1.npz m1.onnx")
    p.add_argument("input")
    p.add_argument("output")
    _model_options(p, backend=False)
    p.add_argument("--dtype", choices=["float32", "float64"], help="default: the file's own")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("predict", help="run a model over .npy/.npz/.csv/MNIST .gz rows, write .npy or .csv",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  mlpkit predict m1.npz t10k-images-idx3-ubyte.gz -o probs.npy\n"
                              "  mlpkit predict m1.npz rows.csv -o classes.csv --classes")
    p.add_argument("model", help="mlpkit .npz, .onnx, or bare weights with --activations")
    p.add_argument("input", help=".npy (memory-mapped), .npz, .csv or MNIST IDX .gz images (scaled to [0, 1])")
    p.add_argument("-o", "--output", required=True, help=".npy or .csv")
    p.add_argument("--classes", action="store_true", help="write the argmax class instead of the outputs")
    p.add_argument("--batch-size", type=int, default=8192, help="rows per chunk (memory stays flat)")
    p.add_argument("--key", help=".npz input: which array")
    p.add_argument("--skip-rows", type=int, default=0, help=".csv input: header lines to skip")
    _model_options(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("eval", help="accuracy and confusion matrix on the MNIST test set",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  mlpkit eval m1.npz --data-dir ~/mnist --png confusion.png")
    p.add_argument("model")
    p.add_argument("--data-dir", "--mnist", dest="data_dir", nargs="?", const=None, default=None,
                   help="directory of the MNIST .gz files (default: $MLPKIT_DATA, else download to the cache); "
                        "--mnist is the old name")
    p.add_argument("--png", help="also draw the confusion matrix (needs matplotlib)")
    _model_options(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("selftest", help="check a backend against a float64 reference here, then time it beside the CPU backends",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example (on a GPU machine, after pip install '.[cuda12]'):\n  mlpkit selftest --backend cupy")
    p.add_argument("--backend", required=True, help="numpy, numba or cupy")
    p.add_argument("--data-dir", "--mnist", dest="data_dir",
                   help="MNIST directory for the built-in model check (default: $MLPKIT_DATA or the cache; never downloads); "
                        "--mnist is the old name")
    p.add_argument("--quick", action="store_true")
    p.set_defaults(func=cmd_selftest)

    p = sub.add_parser("warmup", help="compile the Numba kernels for this CPU ahead of the first prediction (cached per user)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example (e.g. in a Dockerfile or a cluster's worker start-up):\n  mlpkit warmup\n  mlpkit warmup --dtype float32 --training")
    p.add_argument("--dtype", type=_name_list, default=None, help="comma-separated: float32, float64 (default: both)")
    p.add_argument("--training", action="store_true", help="also compile the training kernels (a tiny fit per dtype)")
    p.set_defaults(func=cmd_warmup)

    p = sub.add_parser("info", help="backends, versions, BLAS and CPU here; or, given MODEL, its architecture",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  mlpkit info\n  mlpkit info m1.npz")
    p.add_argument("model", nargs="?", help="a model file: print layers, parameter count and FLOPs per sample")
    _model_options(p, backend=False)
    p.set_defaults(func=cmd_info)
    return parser


#: commands that may compile Numba kernels: they say so on stderr once when they do
_COMPUTE_COMMANDS = {"bench", "train", "reproduce", "predict", "eval", "selftest", "warmup"}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in _COMPUTE_COMMANDS and available_backends().get("numba") is None:
        from .backends.numba_backend import announce_compiles

        announce_compiles()
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, ImportError, pickle.UnpicklingError, EOFError, MemoryError, RecursionError) as exc:
        # every loader raises its documented error (a ValueError or OSError subclass); the rest is a safety net
        print(f"mlpkit: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

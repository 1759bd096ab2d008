"""``mlpkit predict``: a model over the rows of a file, chunk by chunk, into .npy or .csv."""

from __future__ import annotations

import argparse
import sys

from .options import add_model_file, add_quiet, progress_bar, replaced_on_success

NAME = "predict"
SUMMARY = "run a model over .npy/.npz/.csv/MNIST .gz rows, write .npy or .csv"
EPILOG = ("example:\n  mlpkit predict m1.npz t10k-images-idx3-ubyte.gz -o probs.npy\n"
          "  mlpkit predict m1.npz rows.csv -o classes.csv --classes\n"
          "  mlpkit predict m1.npz big.npy -o probs.zarr --dask local:2      # a LocalCluster of 2 workers\n"
          "  mlpkit predict m1.npz big.zarr -o probs.npy --dask tcp://scheduler:8786")
COMPILES = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="mlpkit .npz, .onnx, or bare weights with --activations")
    p.add_argument("input", help=".npy (memory-mapped), .npz, .csv or MNIST IDX .gz images (scaled to [0, 1])")
    p.add_argument("-o", "--output", required=True, help=".npy or .csv")
    p.add_argument("--classes", action="store_true", help="write the argmax class instead of the outputs")
    p.add_argument("--batch-size", type=int, default=8192, help="rows per chunk (memory stays flat; default 8192)")
    p.add_argument("--key", help=".npz input: which array")
    p.add_argument("--skip-rows", type=int, default=0, help=".csv input: header lines to skip (default 0)")
    add_model_file(p)
    p.add_argument("--dask", metavar="SCHEDULER",
                   help="run on Dask: 'local:N' starts a LocalCluster of N one-thread workers, else a scheduler "
                        "address (tcp://host:8786); input and output .npy or .zarr (needs mlpkit[dask])")
    add_quiet(p)


def open_input(path: str, key: str | None, skip_rows: int):
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
        from ..datasets import read_idx

        images = read_idx(path)
        if images.ndim != 3:
            raise ValueError(f"{path} is an IDX file of shape {images.shape}, not images")
        return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    raise ValueError(f"{path}: the input must be .npy, .npz, .csv or an MNIST IDX .gz file")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..mlp.files import load_any

    model = load_any(args.model, args.activations, backend=args.backend)
    if args.dask:
        return run_dask(args, model)
    x = open_input(args.input, args.key, args.skip_rows)
    if x.ndim != 2:
        raise ValueError(f"{args.input}: expected rows of features (2-D); received shape {x.shape}")
    n, width = len(x), (1 if args.classes else model.layer_sizes[-1])
    if not args.output.endswith((".npy", ".csv")):
        raise ValueError(f"{args.output}: the output must end in .npy or .csv")
    with replaced_on_success(args.output) as tmp:
        if args.output.endswith(".npy"):
            shape = (n,) if args.classes else (n, width)
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.int64 if args.classes else model.dtype, shape=shape)
            sink = lambda i, y: out.__setitem__(slice(i, i + len(y)), y)  # noqa: E731
            finish = out.flush
        else:
            handle = open(tmp, "w")
            sink = lambda i, y: np.savetxt(handle, y.reshape(len(y), -1), delimiter=",", fmt="%d" if args.classes else "%.9g")  # noqa: E731
            finish = handle.close
        bar = progress_bar(n, "row", "predict", args.quiet, scale=True)
        try:
            for i in range(0, n, args.batch_size):
                chunk = np.asarray(x[i : i + args.batch_size])
                y = model.predict_classes(chunk) if args.classes else model.predict(chunk)
                sink(i, y)
                bar.update(len(chunk))
        finally:
            bar.close()
            finish()
            if args.output.endswith(".npy"):
                del out  # close the memory map before the rename
    print(f"wrote {args.output}: {n} rows", file=sys.stderr)
    return 0


def _client(spec: str):
    """A distributed Client for ``local:N`` (a LocalCluster of N one-thread workers) or an address."""
    from distributed import Client, LocalCluster

    if spec.startswith("local:"):
        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"--dask local:N needs a number of workers N >= 1; received {spec!r}")
        return Client(LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=40))
    return Client(spec, timeout="20s")


def run_dask(args: argparse.Namespace, model) -> int:
    """``predict --dask``: the blocks computed on the cluster, written on this machine as they
    arrive (under a temporary name, renamed at the end) with a progress bar over the blocks."""
    import numpy as np

    from .. import dask as mlpkit_dask

    for path, what in ((args.input, "input"), (args.output, "output")):
        if not path.endswith((".npy", ".zarr")):
            raise ValueError(f"{path}: with --dask the {what} must be .npy or .zarr")
    with _client(args.dask) as client:
        mlpkit_dask.warm_up_workers(client, [model.dtype])
        fn = mlpkit_dask.predict_classes if args.classes else mlpkit_dask.predict
        y = fn(model, args.input, chunk_rows=args.batch_size)
        from distributed import as_completed

        with replaced_on_success(args.output) as tmp:
            if args.output.endswith(".npy"):
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=y.dtype, shape=y.shape)
            else:
                import zarr

                out = zarr.open_array(tmp, mode="w", shape=y.shape, dtype=y.dtype, chunks=(args.batch_size,) + y.shape[1:])
            starts = np.concatenate([[0], np.cumsum(y.chunks[0])])
            futures = client.compute(list(y.to_delayed().ravel()))
            index = {f.key: i for i, f in enumerate(futures)}
            bar = progress_bar(len(futures), "block", f"predict on {args.dask}", args.quiet)
            for future, block in as_completed(futures, with_results=True):
                i = index[future.key]
                out[starts[i] : starts[i + 1]] = block
                bar.update(1)
            bar.close()
            if args.output.endswith(".npy"):
                out.flush()
                del out  # close the memory map before the rename
    print(f"wrote {args.output}: {y.shape[0]} rows", file=sys.stderr)
    return 0

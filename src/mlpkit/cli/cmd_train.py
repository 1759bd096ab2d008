"""``mlpkit train``: train an MLP on MNIST or on .npz/.csv data, save it and plot its curves."""

from __future__ import annotations

import argparse
import sys

from .options import DTYPES, add_backend, add_data_dir, add_quiet, int_list

NAME = "train"
SUMMARY = "train an MLP on MNIST or on .npz/.csv data and save it"
EPILOG = "example:\n  mlpkit train --arch 784,50,10 --lr 0.005 --schedule cosine --out m.npz --plot curves.png"
COMPILES = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="mnist", help="'mnist' (default), data.npz (x, t[, x_val, t_val]) or data.csv (label first)")
    add_data_dir(p)
    p.add_argument("--arch", type=int_list, default=[784, 50, 10], help="layer sizes, e.g. 784,50,10 (default)")
    p.add_argument("--activation", default="relu", help="hidden activation, as MLP()'s (default relu; the classic nets use sigmoid)")
    p.add_argument("--output-activation", "--output", dest="output_activation", default="softmax",
                   help="output activation (default softmax); --output is the old name")
    p.add_argument("--loss", default="cross_entropy", choices=["cross_entropy", "mse"], help="default: cross_entropy")
    p.add_argument("--optimizer", default="adam", help="sgd, momentum, nesterov, adagrad, rmsprop, adam (default)")
    p.add_argument("--lr", type=float, help="learning rate (default: the optimizer's Keras default)")
    p.add_argument("--schedule", help="constant (default), step, exponential or cosine")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty on the weights (default 0)")
    p.add_argument("--epochs", type=int, default=10, help="default 10")
    p.add_argument("--batch-size", type=int, default=32, help="default 32")
    p.add_argument("--seed", type=int, default=0, help="initialisation and shuffling seed (default 0)")
    add_backend(p)
    p.add_argument("--dtype", default="float32", choices=DTYPES, help="default: float32")
    p.add_argument("--val-fraction", type=float, default=0.1, help="CSV only: rows held out for validation (default 0.1)")
    p.add_argument("--skip-rows", type=int, default=0, help="CSV only: header lines to skip (default 0)")
    p.add_argument("--out", help="save the trained model here (.npz, mlpkit format)")
    p.add_argument("--plot", metavar="FILE.png", help="write the accuracy and loss curves (needs matplotlib)")
    add_quiet(p)


def load_training_data(args: argparse.Namespace):
    """((x, t), (x_val, t_val) or None) from --data: mnist, a .npz (x, t[, x_val, t_val]) or a .csv
    (label in the first column, features after; --val-fraction of the rows held out)."""
    import numpy as np

    if args.data == "mnist":
        from ..datasets import load_mnist

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


def run(args: argparse.Namespace) -> int:
    from ..mlp import MLP
    from ..mlp.files import save
    from ..mlp.plotting import plot_history

    (x, t), val = load_training_data(args)
    sizes = args.arch
    if sizes[0] != x.shape[1]:
        raise ValueError(f"--arch starts with {sizes[0]} inputs but the data have {x.shape[1]} features")
    model = MLP(sizes, args.activation, args.output_activation, backend=args.backend, dtype=args.dtype, seed=args.seed)
    print(f"training {model} on {len(x)} rows" + (f", validating on {len(val[0])}" if val else ""), file=sys.stderr)
    history = model.fit(
        x, t, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        loss=args.loss, validation_data=val, seed=args.seed, verbose=not args.quiet, schedule=args.schedule,
        weight_decay=args.weight_decay,
    )
    if args.data == "mnist":
        model.input_divisor = 255  # trained on pixels / 255: raw uint8 images then predict as they are
    if args.out:
        recipe = {k: v for k, v in vars(args).items() if k not in ("func", "command", "compiles", "out", "plot", "quiet")}
        save(model, args.out, metadata={"trained_with": "mlpkit train", "recipe": recipe,
                                        "final": {k: v[-1] for k, v in history.as_dict().items() if isinstance(v, list) and v and k != "batch_loss"}})
        print(f"saved {args.out}", file=sys.stderr)
    if args.plot:
        plot_history(history, args.plot, title=repr(model))
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0

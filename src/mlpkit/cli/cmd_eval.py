"""``mlpkit eval``: accuracy and confusion matrix of a model on the MNIST test set."""

from __future__ import annotations

import argparse
import sys

from .options import add_data_dir, add_model_file

NAME = "eval"
SUMMARY = "accuracy and confusion matrix on the MNIST test set"
EPILOG = "example:\n  mlpkit eval m1.npz --data-dir ~/mnist --png confusion.png"
COMPILES = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="mlpkit .npz, .onnx, or bare weights with --activations")
    add_data_dir(p)
    p.add_argument("--png", help="also draw the confusion matrix (needs matplotlib)")
    add_model_file(p)


def confusion_matrix(labels, predicted, n_classes: int):
    """(n_classes, n_classes) int64 counts: row = true label, column = predicted."""
    import numpy as np

    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (labels, predicted), 1)
    return m


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..datasets import load_mnist_split
    from ..mlp.files import load_any

    model = load_any(args.model, args.activations, backend=args.backend)
    x, t = load_mnist_split("test", args.data_dir)  # the test files only
    predicted = model.predict_classes(x)
    matrix = confusion_matrix(t, predicted, model.layer_sizes[-1])
    print(f"{model}\naccuracy on the MNIST test set: {np.mean(predicted == t):.4f} ({int(np.sum(predicted == t))} of {len(t)})")
    print("confusion matrix (rows: true label, columns: predicted)")
    print("      " + "".join(f"{j:>6}" for j in range(matrix.shape[1])))
    for i, row in enumerate(matrix):
        print(f"{i:>6}" + "".join(f"{v:>6}" for v in row))
    if args.png:
        from ..mlp.plotting import figure

        from matplotlib.colors import LogNorm

        fig = figure("--png", figsize=(7.5, 6.5))
        ax = fig.subplots()
        # a log scale: the diagonal holds ~1000 per class and errors a few, so a linear scale paints every error white
        im = ax.imshow(np.maximum(matrix, 0.5), cmap="Blues", norm=LogNorm(vmin=0.5, vmax=max(int(matrix.max()), 1)))
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if count > matrix.max() ** 0.5 * 2 else "black")
        accuracy = np.mean(predicted == t)
        ax.set(xlabel="predicted class", ylabel="true class", xticks=range(matrix.shape[1]), yticks=range(matrix.shape[0]),
               title=f"MNIST test set: accuracy {accuracy:.4f} ({int(np.sum(predicted == t))} of {len(t)})")
        fig.colorbar(im, ax=ax, label="images (log scale)")
        fig.tight_layout()
        fig.savefig(args.png, dpi=110)
        print(f"wrote {args.png}", file=sys.stderr)
    return 0

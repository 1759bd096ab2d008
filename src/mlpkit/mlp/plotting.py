"""Training curves as PNG, like the classic figures (needs matplotlib: pip install matplotlib)."""

from __future__ import annotations

import os
from typing import Any


def plot_history(history: Any, path: str | os.PathLike, title: str = "") -> None:
    """Two panels: train vs validation accuracy per epoch; training loss per iteration."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(f"plot_history needs matplotlib ({exc}); pip install matplotlib") from exc
    if not history.loss:
        raise ValueError("the history is empty: nothing to plot")
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = range(1, len(history.accuracy) + 1)
    acc_ax.plot(epochs, history.accuracy, marker="o", label="train")
    if history.val_accuracy:
        acc_ax.plot(epochs, history.val_accuracy, marker="s", linestyle="--", label="test / validation")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy per epoch")
    acc_ax.legend(loc="lower right")
    acc_ax.grid(alpha=0.3)
    loss_ax.plot(range(1, len(history.batch_loss) + 1), history.batch_loss, linewidth=0.6)
    loss_ax.set(xlabel="iteration", ylabel="loss", title="training loss per iteration")
    loss_ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=110)
    plt.close(fig)

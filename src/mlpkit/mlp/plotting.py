"""Figures as PNG files (needs matplotlib: pip install matplotlib): training curves here; the
bench and CLI plots use :func:`figure` too.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``), never through
``pyplot``: nothing here selects a matplotlib backend or touches the caller's pyplot state, so a
notebook or GUI program that calls these keeps its own backend and open figures."""

from __future__ import annotations

import os
from typing import Any


def figure(what: str, **kwargs: Any):
    """A new ``matplotlib.figure.Figure(**kwargs)``, saved with ``fig.savefig`` (Agg for PNG);
    ImportError naming ``what`` needs matplotlib if it is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"{what} needs matplotlib ({exc}); pip install matplotlib") from exc
    return Figure(**kwargs)


def plot_history(history: Any, path: str | os.PathLike, title: str = "") -> None:
    """Two panels: train vs validation accuracy per epoch (mean absolute error for real-valued
    targets); training loss per iteration."""
    fig = figure("plot_history", figsize=(11, 4))
    if not history.loss:
        raise ValueError("the history is empty: nothing to plot")
    acc_ax, loss_ax = fig.subplots(1, 2)
    metric = "accuracy" if history.accuracy else "mae"
    train, val = getattr(history, metric), getattr(history, f"val_{metric}")
    epochs = range(1, len(train) + 1)
    acc_ax.plot(epochs, train, marker="o", label="train")
    if val:
        acc_ax.plot(epochs, val, marker="s", linestyle="--", label="test / validation")
    name = "accuracy" if metric == "accuracy" else "mean absolute error"
    acc_ax.set(xlabel="epoch", ylabel=name, title=f"{name} per epoch")
    acc_ax.legend(loc="lower right" if metric == "accuracy" else "upper right")
    acc_ax.grid(alpha=0.3)
    loss_ax.plot(range(1, len(history.batch_loss) + 1), history.batch_loss, linewidth=0.6)
    loss_ax.set(xlabel="iteration", ylabel="loss", title="training loss per iteration")
    loss_ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=110)

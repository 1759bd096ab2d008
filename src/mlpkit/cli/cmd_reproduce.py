"""``mlpkit reproduce``: the reference training recipes on every backend, each against its target."""

from __future__ import annotations

import argparse
import sys

from ..backends import available_backends
from ..backends.registry import BACKENDS
from .options import add_backends, add_data_dir, add_quiet, name_list, progress_bar

NAME = "reproduce"
SUMMARY = "run the reference training recipes on every backend and check their targets"
EPILOG = "example:\n  mlpkit reproduce --recipes keras-reference,regression --backends numba"
COMPILES = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipes", type=name_list,
                   help="comma-separated (default: all): keras-reference, mlpkit-best, two-layer-net, larger, regression")
    add_backends(p)
    add_data_dir(p)
    p.add_argument("--quick", action="store_true", help="short runs on a subset (scores below the targets; smoke only)")
    add_quiet(p)


def run(args: argparse.Namespace) -> int:
    from .. import recipes

    names = args.recipes or list(recipes.RECIPES)
    for name in names:
        if name not in recipes.RECIPES:
            raise ValueError(f"recipe must be one of {list(recipes.RECIPES)}; received {name!r}")
    reasons = available_backends()
    backends = args.backends or [b for b in BACKENDS if reasons[b] is None]
    mnist = None
    if any(n != "regression" for n in names):
        from ..datasets import load_mnist

        mnist = load_mnist(args.data_dir)
    failed = 0
    print(f"{'recipe':16} {'backend':8} {'score':>8} {'target':>9} {'seconds':>8}  result", flush=True)
    bar = progress_bar(len(names) * len(backends), "run", "reproduce", args.quiet)
    for name in names:
        recipe = recipes.RECIPES[name]
        for backend in backends:
            bar.set_description_str(f"training {name} on {backend}")
            score, seconds = recipes.run(name, backend, mnist, args.quick)
            bar.update(1)
            ok = score >= recipe.target if recipe.higher_is_better else score < recipe.target
            failed += not ok
            target = f"{'>=' if recipe.higher_is_better else '<'} {recipe.target}"
            result = "ok" if ok else "below target (expected with --quick)" if args.quick else "MISSED"
            bar.write(f"{name:16} {backend:8} {score:8.4g} {target:>9} {seconds:8.1f}  {result}", file=sys.stdout)
    bar.close()
    if args.quick:
        print("--quick: short runs on a subset, a smoke test; the targets apply to full runs only", file=sys.stderr)
        return 0
    if failed:
        print(f"mlpkit reproduce: {failed} result(s) missed the target", file=sys.stderr)
    return 1 if failed else 0

"""``mlpkit convert``: any model file mlpkit reads -> mlpkit .npz or .onnx."""

from __future__ import annotations

import argparse
import os
import sys

from .options import DTYPES, add_model_file

NAME = "convert"
SUMMARY = "convert a model file: .pkl/.npz weights, .onnx or mlpkit .npz -> mlpkit .npz or .onnx"
DESCRIPTION = ("Weight pickles are read with a restricted unpickler that allows only NumPy arrays and plain\n"
               "containers: any other class (os.system, a user class...) is refused by name and never run.")
EPILOG = ("example:\n  mlpkit convert sample_weight.pkl m1.npz --activations sigmoid,sigmoid,softmax\n"
          "  mlpkit convert m1.npz m1.onnx")
COMPILES = False


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="mlpkit .npz, .onnx, or bare weights (.pkl, .npz of W1, b1, ...) with --activations")
    p.add_argument("output", help="mlpkit .npz or .onnx")
    add_model_file(p, backend=False)
    p.add_argument("--dtype", choices=DTYPES, help="default: the file's own")


def run(args: argparse.Namespace) -> int:
    from ..mlp.files import load_any, save

    model = load_any(args.input, args.activations, backend="numpy", dtype=args.dtype)
    if args.output.endswith(".onnx"):
        from ..onnx import export

        export(model, args.output)
    elif args.output.endswith(".npz"):
        save(model, args.output, metadata={**model.metadata, "converted_from": os.path.basename(args.input)})
    else:
        raise ValueError(f"{args.output}: the output must end in .npz (mlpkit format) or .onnx")
    print(f"wrote {args.output}: {model}", file=sys.stderr)
    return 0

"""The activation vocabulary: one record per activation, from which every other list is derived.

Adding an activation: append a record here, then give it an implementation in each backend's
table (``backends/array_ops.py``, ``kernels/numba_cpu.py`` ``activate_row`` and
``activation_grad``, ``kernels/cupy_gpu.py`` ``mlpkit_act``/``mlpkit_act_grad``) and in
``tests/reference.py``. ``tests/test_activation_table.py`` fails until every one covers it.
Names, aliases, integer codes, the initialisation family, and the ONNX, PyTorch and
scikit-learn names are all read from here.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Negative-side slope of ``leaky_relu`` (the PyTorch and ONNX default).
LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    name: str  # canonical name, as backends receive it
    code: int  # the integer the compiled kernels (Numba, CUDA) switch on
    init: str  # weight initialisation before it: "he" (normal, sqrt(2 / n_in)) or "glorot" (uniform)
    aliases: tuple[str, ...] = ()  # other accepted spellings
    rowwise: bool = False  # True: over each row (softmax); False: elementwise
    onnx: str | None = None  # the single ONNX op it is, if one ("Relu"); None: written as a composition
    torch: str | None = None  # the torch.nn module class
    torch_kwargs: tuple[tuple[str, object], ...] = ()  # the arguments that make that module this activation
    sklearn: str | None = None  # scikit-learn's MLP name for it


TABLE: tuple[Activation, ...] = (
    Activation("identity", 0, "glorot", aliases=("linear",), onnx="Identity", torch="Identity", sklearn="identity"),
    Activation("step", 1, "glorot"),
    Activation("sigmoid", 2, "glorot", aliases=("logistic",), onnx="Sigmoid", torch="Sigmoid", sklearn="logistic"),
    Activation("tanh", 3, "glorot", onnx="Tanh", torch="Tanh", sklearn="tanh"),
    Activation("relu", 4, "he", onnx="Relu", torch="ReLU", sklearn="relu"),
    Activation("leaky_relu", 5, "he", torch="LeakyReLU", torch_kwargs=(("negative_slope", LEAKY_SLOPE),)),
    Activation("softmax", 6, "glorot", rowwise=True, onnx="Softmax", torch="Softmax", torch_kwargs=(("dim", -1),),
               sklearn="softmax"),
)

BY_NAME: dict[str, Activation] = {a.name: a for a in TABLE}
NAMES: tuple[str, ...] = tuple(BY_NAME)
ALIASES: dict[str, str] = {alias: a.name for a in TABLE for alias in a.aliases}
CODES: dict[str, int] = {a.name: a.code for a in TABLE}

"""Classic weight pickles through the restricted unpickler, and mlpkit convert."""

import os
import pickle

import numpy as np
import pytest

import mlpkit
from mlpkit import cli
from mlpkit.io.classic_pickle import load_weights


class Evil:
    def __reduce__(self):
        return (os.system, ("touch EVIL_RAN",))


def test_sample_weights_as_pickle_convert_and_score(tmp_path, sample_weights, mnist_test):
    pkl = tmp_path / "sample_weight.pkl"
    pkl.write_bytes(pickle.dumps(dict(sample_weights), protocol=2))
    out = tmp_path / "m1.npz"
    assert cli.main(["convert", str(pkl), str(out), "--activations", "sigmoid,sigmoid,softmax"]) == 0
    model = mlpkit.load(out)
    x, t = mnist_test
    assert np.mean(model.predict_classes(x) == t) == 0.9352
    assert model.metadata["converted_from"] == "sample_weight.pkl"


def test_code_in_a_pickle_is_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"W1": np.ones((2, 2)), "b1": Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refused to load posix.system|refused to load os.system"):
        load_weights(str(path))
    assert not (tmp_path / "EVIL_RAN").exists()
    assert cli.main(["convert", str(path), str(tmp_path / "o.npz"), "--activations", "relu"]) == 2
    assert not (tmp_path / "EVIL_RAN").exists()


@pytest.mark.parametrize("payload", [b"not a pickle", pickle.dumps([1, 2, 3]), pickle.dumps({"W1": "text"})])
def test_bad_pickles(tmp_path, payload):
    path = tmp_path / "bad.pkl"
    path.write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError):
        load_weights(str(path))


def test_convert_round_trips_through_onnx(tmp_path):
    pytest.importorskip("onnx", reason="ONNX conversion needs onnx")
    model = mlpkit.MLP([5, 4, 3], activation="tanh", seed=0, backend="numpy")
    mlpkit.save(model, tmp_path / "a.npz")
    assert cli.main(["convert", str(tmp_path / "a.npz"), str(tmp_path / "a.onnx")]) == 0
    assert cli.main(["convert", str(tmp_path / "a.onnx"), str(tmp_path / "b.npz")]) == 0
    back = mlpkit.load(tmp_path / "b.npz")
    assert all(back.params[k].tobytes() == v.tobytes() for k, v in model.params.items())


def test_bare_weights_need_activations(tmp_path, capsys):
    np.savez(tmp_path / "w.npz", W1=np.ones((2, 2)), b1=np.zeros(2))
    assert cli.main(["convert", str(tmp_path / "w.npz"), str(tmp_path / "o.npz")]) == 2
    assert "give --activations" in capsys.readouterr().err


@pytest.fixture
def m1(tmp_path):
    model = mlpkit.MLP([6, 5, 3], activation="sigmoid", seed=0, backend="numpy")
    mlpkit.save(model, tmp_path / "m.npz")
    return model, str(tmp_path / "m.npz")


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
@pytest.mark.parametrize("source", [".npy", ".npz", ".csv"])
def test_predict_command_streams_chunks(tmp_path, m1, suffix, source):
    model, path = m1
    x = np.random.default_rng(0).random((23, 6))
    src = tmp_path / f"x{source}"
    {".npy": lambda: np.save(src, x), ".npz": lambda: np.savez(src, rows=x),
     ".csv": lambda: np.savetxt(src, x, delimiter=",", fmt="%.17g")}[source]()
    out = tmp_path / f"y{suffix}"
    assert cli.main(["predict", path, str(src), "-o", str(out), "--batch-size", "5"]) == 0
    got = np.load(out) if suffix == ".npy" else np.loadtxt(out, delimiter=",")
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-6)
    classes = tmp_path / f"c{suffix}"
    assert cli.main(["predict", path, str(src), "-o", str(classes), "--classes"]) == 0
    got = np.load(classes) if suffix == ".npy" else np.loadtxt(classes, delimiter=",")
    np.testing.assert_array_equal(got, model.predict_classes(x))


def test_predict_mnist_idx_and_eval(tmp_path, capsys, mnist_test):
    from conftest import MNIST_DIR

    out = tmp_path / "p.npy"
    pre = str(tmp_path / "pre.npz")
    mlpkit.save(mlpkit.load_pretrained("mnist-m1", backend="numpy"), pre)
    assert cli.main(["predict", pre, str(MNIST_DIR / "t10k-images-idx3-ubyte.gz"), "-o", str(out), "--classes"]) == 0
    assert np.mean(np.load(out) == mnist_test[1]) >= 0.975
    assert cli.main(["eval", pre, "--mnist", str(MNIST_DIR)]) == 0
    text = capsys.readouterr().out
    assert "accuracy on the MNIST test set: 0.97" in text and "confusion matrix" in text


def test_info_model(m1, capsys):
    _, path = m1
    assert cli.main(["info", path]) == 0
    out = capsys.readouterr().out
    assert "parameters: 53" in out and "FLOPs per sample (2 x multiply-adds): 90" in out


@pytest.mark.parametrize("argv, message", [
    (["predict", "missing.npz", "x.npy", "-o", "y.npy"], "No such file"),
    (["info", "model.txt"], "expected a .npz, .onnx or .pkl model file"),
])
def test_commands_fail_with_one_line(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("command", ["bench", "train", "reproduce", "convert", "predict", "eval", "info"])
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0 and "example:" in capsys.readouterr().out

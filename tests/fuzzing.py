"""The outcome count shared by the loader fuzz suites (not a test module)."""

import numpy as np


def outcomes(tmp_path, blobs, suffix, load, error, x):
    """Write each blob to a file, load it: {"rejected": raised ``error``, "loaded": a model whose
    ``predict(x)`` is finite}. Any other exception, or a loaded model predicting NaN/Inf, fails."""
    counts = {"rejected": 0, "loaded": 0}
    for k, blob in enumerate(blobs):
        path = tmp_path / f"case{k}{suffix}"
        path.write_bytes(blob)
        try:
            model = load(path)
        except error:
            counts["rejected"] += 1
        else:  # a mutation that leaves a valid model (zip padding, an ignored field): it must then work
            assert np.isfinite(model.predict(x)).all()
            counts["loaded"] += 1
    print(counts)
    return counts

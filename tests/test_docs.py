"""The documentation: the MkDocs site builds in strict mode, and every code block of the README
and of docs/ runs as written (Python blocks in one interpreter per file, in order; shell blocks
line by line), except blocks marked ``<!-- skip: reason -->``, which are reported as skipped
with that reason. Blocks without a language are program output, not code."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MNIST_DIR, SAMPLE_WEIGHTS

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_BLOCK = re.compile(r"(?:<!-- skip: (?P<skip>.*?) -->\n)?```(?P<lang>[a-z]*)\n(?P<code>.*?)\n```", re.S)


def _blocks():
    for page in PAGES:
        for i, m in enumerate(_BLOCK.finditer(page.read_text())):
            if m["lang"] in ("python", "bash"):
                yield page.relative_to(ROOT).as_posix(), i, m["lang"], m["code"], m["skip"]


BLOCKS = list(_blocks())


def test_the_site_builds_in_strict_mode(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install 'mlpkit[docs]')")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed (pip install 'mlpkit[docs]')")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Network output for one sample" in (tmp_path / "site" / "reference" / "index.html").read_text()


def test_blocks_are_found():
    pages = {b[0] for b in BLOCKS}
    assert {"README.md", "docs/index.md", "docs/guide/model-files.md"} <= pages
    assert any(b[0] == "README.md" and b[2] == "python" and b[4] is None for b in BLOCKS)  # the Quickstart runs


def _workdir(tmp_path: Path) -> dict:
    """A scratch folder holding the files the examples name, and the environment they run in."""
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST files not found at {MNIST_DIR}")
    if SAMPLE_WEIGHTS.is_file():
        shutil.copy(SAMPLE_WEIGHTS, tmp_path / "sample_weight.npz")
    env = dict(os.environ, MLPKIT_DATA=str(MNIST_DIR), MPLBACKEND="Agg")
    bindir = str(Path(sys.executable).parent)  # the mlpkit script of this interpreter
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


@pytest.mark.parametrize("page", sorted({b[0] for b in BLOCKS if b[2] == "python"}))
def test_python_blocks_run(page, tmp_path):
    blocks = [b for b in BLOCKS if b[0] == page and b[2] == "python"]
    run = [b for b in blocks if b[4] is None]
    if not run:
        pytest.skip(f"{page}: every Python block is marked skip ({'; '.join(b[4] for b in blocks)})")
    env = _workdir(tmp_path)
    script = "\n\n".join(f"# --- {page} block {b[1]}\n{b[3]}" for b in run)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    assert done.returncode == 0, f"{page}:\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("page, index, lang", [b[:3] for b in BLOCKS if b[4]], ids=[f"{b[0]}-{b[1]}" for b in BLOCKS if b[4]])
def test_blocks_marked_skip_say_why(page, index, lang):
    reason = next(b[4] for b in BLOCKS if b[:2] == (page, index))
    assert len(reason) > 15, f"{page} block {index}: a skip needs its reason"
    pytest.skip(f"{page} block {index} ({lang}): {reason}")


@pytest.mark.parametrize("page, index, code", [(b[0], b[1], b[3]) for b in BLOCKS if b[2] == "bash" and not b[4]],
                         ids=[f"{b[0]}-{b[1]}" for b in BLOCKS if b[2] == "bash" and not b[4]])
def test_shell_blocks_run(page, index, code, tmp_path):
    env = _workdir(tmp_path)
    for line in code.replace("\\\n", " ").splitlines():
        command = line.split(" #", 1)[0].strip()
        if not command:
            continue
        argv = shlex.split(command)
        if argv[0] == "mlpkit":
            argv = [sys.executable, "-m", "mlpkit", *argv[1:]]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
        assert done.returncode == 0, f"{page} block {index}: {command}\n{done.stderr[-2000:]}"

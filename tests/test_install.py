"""The package works from a read-only location where no Numba cache can be written."""

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import mlpkit
from conftest import backend_or_skip

CODE = (
    "import mlpkit; m = mlpkit.MLP([4, 3, 2], activation='sigmoid', seed=0, backend='numba');"
    "print(m.predict([1, 2, 3, 4]).round(6).tolist(), mlpkit.__file__)"
)


def read_only_command(root: Path) -> list[str]:
    """A command running CODE with ``root`` (install and home) unwritable to it.

    Permission bits do not bind root, so as root the tree is bind-mounted read-only in a private
    mount namespace instead."""
    if os.geteuid() != 0:
        for path in [root, *root.rglob("*")]:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        return [sys.executable, "-c", CODE]
    unshare = shutil.which("unshare")
    probe = unshare and subprocess.run([unshare, "-m", "true"], capture_output=True)
    if not probe or probe.returncode:
        pytest.skip("running as root without permission to create a mount namespace (unshare -m), "
                    "so a read-only install cannot be simulated")
    r = shlex.quote(str(root))
    script = f"mount --bind {r} {r} && mount -o remount,ro,bind {r} {r} && exec {shlex.quote(sys.executable)} -c {shlex.quote(CODE)}"
    return [unshare, "-m", "sh", "-c", script]


@pytest.mark.skipif(os.name != "posix", reason="uses POSIX permissions and mount namespaces")
def test_runs_from_read_only_install(tmp_path):
    backend_or_skip("numba")
    site, home = tmp_path / "site", tmp_path / "home"
    shutil.copytree(Path(mlpkit.__file__).parent, site / "mlpkit", ignore=shutil.ignore_patterns("__pycache__"))
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "MLPKIT_"))}
    env.update(PYTHONPATH=str(site), HOME=str(home), XDG_CACHE_HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
    try:
        done = subprocess.run(read_only_command(tmp_path), capture_output=True, text=True, env=env, timeout=300)
    finally:
        for path in [tmp_path, *tmp_path.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)  # let pytest clean up
    assert done.returncode == 0, done.stderr
    assert str(site) in done.stdout
    assert not list(tmp_path.rglob("*.nbi")), "nothing may be written into the install location"

"""Shared test setup: quiet, deterministic TensorFlow on the CPU, helpers for fresh-process checks."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# One thread pool each, so that the suite behaves the same on 2 cores and on 64.
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "2")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_python(code, env=None, timeout=300):
    """Runs `code` in a fresh Python process (from the repository root) and returns its stdout.

    Fails the test with the process's stderr when it exits non-zero.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        pytest.fail(f"subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def run_python():
    """`run_python(code)`: runs code in a fresh Python process from the repository root, returns stdout."""
    return _run_python

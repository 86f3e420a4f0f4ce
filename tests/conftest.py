"""Shared test setup: quiet, deterministic TensorFlow on the CPU, helpers for fresh-process checks."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Small thread pools, so that the suite behaves the same on 2 cores and on 64: two threads in a serial run, one in
# each pytest-xdist worker (pytest.ini runs one worker per core; more threads per worker would oversubscribe).
# The same for NumPy's and scikit-learn's BLAS and OpenMP pools (set before NumPy loads; idle BLAS threads spin: one
# thread instead of two took 8 % less CPU for tests/recipes/test_hirl_recipe.py run alone).
_threads = "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2"
for _pool in ("TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
              "MKL_NUM_THREADS"):
    os.environ.setdefault(_pool, _threads)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_hier  # noqa: E402,F401  (before any test module imports keras-hub: it sets TF_USE_LEGACY_KERAS for TF-GNN)
from keras_hier.distribute import split_cpu  # noqa: E402

# Two logical CPU devices in every test process (before TensorFlow initialises its devices): the MirroredStrategy
# tests then run in the process (`run_mirrored`) instead of a fresh one each (a TensorFlow import, ~10 s of CPU).
# Everything else runs on the first device, as it would unsplit.
split_cpu(2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The files that take longest (seconds on 2 cores, `pytest --durations=0`, 2026-12-02), run first: pytest.ini turns
# off pytest-xdist's own order (most tests first, which put the few-test recipe files last) and each worker takes
# the next file when it is done, so the two workers end together instead of one finishing a long file alone.
SLOWEST_FILES = {
    "tests/models/test_hirl.py": 113, "tests/recipes/test_hiernet_recipe.py": 94, "tests/test_docs_examples.py": 93,
    "tests/models/test_resume.py": 82, "tests/models/test_hiernet.py": 95, "tests/recipes/test_hirl_recipe.py": 72,
    "tests/models/test_multilabel_zsl.py": 70, "tests/recipes/test_multilabel_zsl_recipe.py": 65,
    "tests/recipes/test_hgr_zero_shot_recipe.py": 57, "tests/models/test_dual_encoder.py": 52,
    "tests/recipes/test_long_tail_recipe.py": 52, "tests/test_distribute.py": 35, "tests/test_registration.py": 34,
    "tests/knowledge/test_wordnet.py": 26, "tests/models/ssl/test_global_batch.py": 22,
    "tests/models/ssl/test_jax_backend.py": 100, "tests/models/test_jax_backend.py": 90,
    "tests/recipes/test_jax_recipes.py": 140, "tests/benchmarks/test_gpu_tables.py": 55,
}


def pytest_collection_modifyitems(session, config, items):
    """Orders the files slowest first (`SLOWEST_FILES`), the others after them in their usual order."""
    items.sort(key=lambda item: -SLOWEST_FILES.get(os.path.relpath(str(item.path), REPO), 0))


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


# Makes `import tensorflow` (and TF-GNN, tf-keras) fail in a child process, so a stray import cannot hide.
BLOCK_TENSORFLOW = """
import sys
class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_gnn", "tf_keras"):
            raise ImportError(f"TensorFlow is blocked in this test: {name}")
sys.meta_path.insert(0, _NoTensorFlow())
"""


# XLA on one thread (the other pytest worker has the other core) and without LLVM's optimisations: a JAX child of
# the suite compiles hundreds of small programs (a threefry random initializer per weight shape: 0.27 s each, 0.14 s
# unoptimised) that each run a few times; the four JAX test files took 8 % less CPU (324 s against 351 s).
SINGLE_THREADED_XLA = ("--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1 "
                       "--xla_backend_optimization_level=0")


def jax_cache_env(cache):
    """The environment of a JAX child process that shares XLA's persistent compilation cache `cache` (a folder)
    with the suite's other JAX children: the small eager operations they all compile (random initializers, seed
    arithmetic), and the same operation compiled again within one process, are then compiled once."""
    return {"JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def _run_jax(code, out=None, timeout=600, env=None, cache=None):
    """Runs `code` in a fresh process under Keras' JAX backend where TensorFlow cannot be imported (the lent GPU
    machine has none), with `OUT` set to the folder `out` (and XLA's compilation cache in `cache`, see
    `jax_cache_env`); returns the JSON its last printed line holds."""
    import json

    prelude = BLOCK_TENSORFLOW + f"OUT = {str(out)!r}\n"
    env = {"KERAS_BACKEND": "jax", **(jax_cache_env(cache) if cache else {}), **(env or {})}
    # One XLA thread: the other pytest worker has the other core (idle Eigen threads would spin on it).
    env["XLA_FLAGS"] = " ".join([env.get("XLA_FLAGS", ""), SINGLE_THREADED_XLA]).strip()
    printed = _run_python(prelude + code, env=env, timeout=timeout)
    return json.loads(printed.strip().splitlines()[-1])


def weights_file_difference(first, second):
    """The largest difference between the arrays of two `.weights.h5` files of one model (saved on two backends),
    relative to each array's largest value (1 + max |a|), and the array's path in the file: compares the weights
    and the training state the file holds without building the model again."""
    import h5py

    def arrays(path):
        out = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, item: out.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
        return out

    a, b = arrays(first), arrays(second)
    assert sorted(a) == sorted(b) and a, (sorted(a)[:5], sorted(b)[:5])
    return max((float(np.abs(a[k] - b[k]).max(initial=0.0) / (1.0 + np.abs(a[k]).max(initial=0.0))), k) for k in a)


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory):
    """One XLA compilation cache folder for all JAX child processes of the run (both pytest-xdist workers: their
    temporary folders share a parent, the run's own; a run without workers keeps it in its temporary folder)."""
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "jax-compilation-cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture
def run_jax(jax_cache):
    """`run_jax(code, out)`: runs code under JAX with TensorFlow blocked (see `_run_jax`), returns its last JSON line."""
    return lambda code, out=None, **kwargs: _run_jax(code, out, cache=jax_cache, **kwargs)


_SERVING_LOOP = r"""
import contextlib, io, json, sys, traceback
import numpy as np, tensorflow as tf
replies = sys.stdout
for line in sys.stdin:
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(json.loads(line), "<serving snippet>", "exec"), {"__name__": "__serving__"})
        leaked = sorted(m for m in sys.modules if m.split(".")[0] == "keras_hier")
        error = f"the snippet imported {leaked[:3]}: a serving check must not" if leaked else ""
    except BaseException:
        error = traceback.format_exc()
    replies.write(json.dumps({"out": printed.getvalue(), "error": error}) + "\n")
    replies.flush()
"""


class _ServingProcess:
    """One Python process per test worker that imported TensorFlow and NumPy only: `run(code)` executes `code` there
    (a new namespace each time) and returns what it printed. SavedModels load there as TF Serving loads them, with
    no Keras or keras_hier object of the test process; one process for all checks saves a TensorFlow import (about
    8 s on 2 cores) per check. A snippet that fails, or imports keras_hier, fails its test and the process is
    replaced."""

    def __init__(self):
        self.proc = None

    def run(self, code):
        import json
        import tempfile

        if self.proc is None or self.proc.poll() is not None:
            self.log = tempfile.TemporaryFile(mode="w+")
            self.proc = subprocess.Popen([sys.executable, "-c", _SERVING_LOOP], cwd=REPO, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.proc.stdin.write(json.dumps(code) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            self.proc = None
            pytest.fail(f"the serving process died:\n{self.log.read()[-4000:]}")
        reply = json.loads(line)
        if reply["error"]:
            self.close()
            pytest.fail(f"serving snippet failed:\n{reply['error'][-4000:]}")
        return reply["out"]

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="session")
def _serving_process():
    process = _ServingProcess()
    yield process
    process.close()


@pytest.fixture
def run_served(_serving_process):
    """`run_served(code)`: runs `code` (it may import numpy, tensorflow and the standard library, never keras_hier)
    in this worker's TensorFlow-only process and returns its stdout: for SavedModel checks."""
    return _serving_process.run


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def run_mirrored():
    """`run_mirrored(code)`: runs `code` (a script that may call `split_cpu(2)` and use `get_strategy("mirrored")`,
    the process's one MirroredStrategy over the two logical CPU devices) in this process, in a new namespace, and
    returns what it printed."""
    import contextlib
    import io

    def run(code):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "<mirrored snippet>", "exec"), {"__name__": "__mirrored__"})
        return printed.getvalue()

    return run


@pytest.fixture
def run_python():
    """`run_python(code)`: runs code in a fresh Python process from the repository root, returns stdout."""
    return _run_python


@pytest.fixture
def tiny_clip_preset(tmp_path):
    """A tiny keras-hub CLIP preset saved to a folder (16x16 images, letters-only BPE vocabulary).

    Returns `(path, backbone, vocabulary)`; `from_preset(path)` reads it as it would a downloaded preset.
    """
    import string

    import keras
    import keras_hub

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase + ".":
        vocab[c], vocab[c + "</w>"] = len(vocab), len(vocab) + 1
    vocab.update({"ca": len(vocab), "cat</w>": len(vocab) + 1})
    tokenizer = keras_hub.models.CLIPTokenizer(vocabulary=vocab, merges=["c a", "ca t</w>"])
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.CLIPBackbone(
        keras_hub.models.CLIPVisionEncoder(8, 16, 1, 2, 32, image_shape=(16, 16, 3)),
        keras_hub.models.CLIPTextEncoder(len(vocab), 16, 16, 1, 2, 32, max_sequence_length=12),
        projection_dim=8,
    )
    path = tmp_path / "tiny_clip_preset"
    backbone.save_to_preset(path)
    keras_hub.models.CLIPPreprocessor(tokenizer, sequence_length=12).save_to_preset(path)
    return str(path), backbone, vocab


@pytest.fixture
def serve_fresh(tmp_path, run_served):
    """`serve_fresh(saved_model_dir, x)`: loads the SavedModel in the TensorFlow-only serving process, calls its
    `serve` endpoint on the array `x` and returns the output as numpy, a dict of arrays where the endpoint returns
    a dict, strings as `str` (how TF Serving sees an export: no Keras objects)."""

    def serve(path, x):
        inputs, outputs = tmp_path / "_serve_input.npy", tmp_path / "_serve_output.npz"
        np.save(inputs, np.asarray(x))
        run_served(
            "import numpy as np, tensorflow as tf\n"
            f"served = tf.saved_model.load({str(path)!r})\n"
            f"out = served.serve(tf.constant(np.load({str(inputs)!r})))\n"
            "out = out if isinstance(out, dict) else {'': out}\n"
            "out = {k: v.numpy().astype(str) if v.dtype == tf.string else v.numpy() for k, v in out.items()}\n"
            f"np.savez({str(outputs)!r}, **out)\n"
        )
        with np.load(outputs) as saved:
            return saved[""] if list(saved.files) == [""] else {k: saved[k] for k in saved.files}

    return serve

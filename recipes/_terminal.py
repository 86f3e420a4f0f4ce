"""What a recipe shows in the terminal: TensorFlow's start-up without its C++ banners, one line on Ctrl-C that says
how to resume, and Keras' per-step progress bar where a person watches."""

import contextlib
import os
import re
import shlex
import sys
import tempfile

# TensorFlow's C++ start-up lines that nobody can act on: absl messages printed before its logging is set up (twice:
# two of its libraries load), the oneDNN and CPU-feature notes, the CUDA libraries' registration chatter.
_BANNERS = (
    r"All log messages before absl::InitializeLog\(\) is called",
    r"port\.cc:\d+\] oneDNN custom operations are on",
    r"cudart_stub\.cc:\d+\] Could not find cuda drivers",
    r"cpu_feature_guard\.cc:\d+\]",
    r"^To enable the following instructions:",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation_placer\.cc:\d+\] computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
)
# The CUDA probe's error where no NVIDIA driver is installed: expected on a CPU machine, news on a GPU machine.
_NO_DRIVER = r"cuda_platform\.cc:\d+\] failed call to cuInit"


def _noise():
    patterns = list(_BANNERS)
    if not os.path.exists("/proc/driver/nvidia/version"):
        patterns.append(_NO_DRIVER)
    return re.compile("|".join(patterns))


@contextlib.contextmanager
def quiet_tensorflow_startup():
    """Runs its body (importing TensorFlow, listing devices) with the process's stderr (file descriptor 2, where
    TensorFlow's C++ code writes) going to a temporary file, then writes what came there back to stderr without
    TensorFlow's start-up banners, and without the `failed call to cuInit` error on a machine with no NVIDIA
    driver. Every other line comes through, in order."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:  # a file, not a pipe: a full pipe would block the writer
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            noise = _noise()
            kept = [line for line in caught.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not noise.search(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def start_backend_quietly():
    """Imports Keras' backend and looks for a GPU, with TensorFlow's start-up lines filtered as
    `quiet_tensorflow_startup` does: the first thing a command that trains does."""
    with quiet_tensorflow_startup():
        from keras_hier.precision import gpu_available

        gpu_available()


def resume_command(args):
    """The command that continues this run: the one typed, with `--resume`, and `python -m recipes.NAME` spelled
    with this interpreter (`.venv/bin/python` from the repository root), so that it runs as shown."""
    words = shlex.split(getattr(args, "command", "") or "")
    if not words:
        return None
    if words[0].startswith("python -m "):
        python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd() + os.sep) else sys.executable
        words[:1] = [python, "-m", words[0].split()[-1]]
    if "--resume" not in words:
        words.append("--resume")
    return shlex.join(words)


@contextlib.contextmanager
def one_line_on_interrupt(args):
    """Ends a run stopped with Ctrl-C with one line that names the command continuing it (exit status 130, as a
    shell reports SIGINT), instead of the traceback of wherever training was."""
    try:
        yield
    except KeyboardInterrupt:
        command = resume_command(args) if hasattr(args, "resume") else None
        how = f"; continue it with: {command}" if command else ""
        print(f"\nInterrupted{how}", file=sys.stderr, flush=True)
        raise SystemExit(130) from None


def progress_verbosity():
    """Keras' `verbose` for `fit`: a progress bar per step (1) where a person watches a terminal, one line per
    epoch (2) in a log file, where a bar's carriage returns would pile up."""
    return 1 if sys.stdout.isatty() else 2

"""What a recipe shows in the terminal: no TensorFlow start-up banners or CUDA probe error on a CPU machine, one line
on Ctrl-C naming the resume command, a progress bar only where a person watches."""

import os
import subprocess
import sys
import types

import pytest

from recipes import _terminal
from tests.conftest import REPO


def test_banners_are_dropped_and_other_lines_kept(capfd):
    with _terminal.quiet_tensorflow_startup():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1.2 1 port.cc:153] oneDNN custom operations are on. You may see ...\n")
        os.write(2, b"I0000 00:00:1.3 1 cudart_stub.cc:31] Could not find cuda drivers on your machine\n")
        os.write(2, b"a line of the user's\n")
    assert capfd.readouterr().err == "a line of the user's\n"


def test_the_cuda_probe_error_is_dropped_only_without_a_driver(capfd, monkeypatch):
    line = b"E0000 00:00:1.4 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n"
    for driver in (False, True):
        monkeypatch.setattr(_terminal.os.path, "exists", lambda path, driver=driver: driver)
        with _terminal.quiet_tensorflow_startup():
            os.write(2, line)
        assert ("cuInit" in capfd.readouterr().err) == driver


def test_importing_tensorflow_on_a_cpu_machine_prints_nothing():
    # What the demo and every recipe do first: import the backend, look for a GPU.
    code = "from recipes import _terminal\n_terminal.start_backend_quietly()\nimport tensorflow\n"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # TensorFlow's own defaults
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_ctrl_c_ends_with_one_line_naming_the_resume_command(capsys):
    args = types.SimpleNamespace(command="'python -m recipes.hiernet' --seeds 0 --output runs/x", resume=False)
    with pytest.raises(SystemExit) as stopped:
        with _terminal.one_line_on_interrupt(args):
            raise KeyboardInterrupt
    assert stopped.value.code == 130
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd() + os.sep) else sys.executable
    assert capsys.readouterr().err == ("\nInterrupted; continue it with: "
                                       f"{python} -m recipes.hiernet --seeds 0 --output runs/x --resume\n")
    args.command += " --resume"  # already resuming: the same command again
    assert _terminal.resume_command(args).count("--resume") == 1


def test_progress_bar_only_in_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert _terminal.progress_verbosity() == 2
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert _terminal.progress_verbosity() == 1


"""`import keras_hier` vs `import numpy`, each in fresh processes: `python -m benchmarks.import_time`.

keras_hier keeps TensorFlow, TF-GNN, nltk and keras-hub out of its import; this checks the cost stays close to numpy's.
"""

import argparse
import statistics
import subprocess
import sys


def timed_import(module, repeats):
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(repeats)]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.import_time", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    base = statistics.median(timed_import("numpy", args.repeats))
    ours = statistics.median(timed_import("keras_hier", args.repeats))
    tf = statistics.median(timed_import("tensorflow", 1))
    print(f"{'import':<12} {'median s':>9} {'/ numpy':>8}")
    for name, t in [("numpy", base), ("keras_hier", ours), ("tensorflow", tf)]:
        print(f"{name:<12} {t:>9.3f} {t / base:>8.1f}")
    return {"import keras_hier / import numpy time": ours / base, "import keras_hier / import tensorflow time": ours / tf}


if __name__ == "__main__":
    main()

"""Every benchmark in one process, then one table of their ratios: `python -m benchmarks.run_all`.

Each benchmark measures keras_hier against a baseline run in the same process and returns its ratios; this runs them
in turn with their default settings (or `--only` some) and prints benchmark, measure and ratio, one line each.
`demo_time` (the whole demo tour, 5 to 7 minutes on 2 CPU cores) and `posvae_information` (a measurement study of
PosVAE at 10 to 1,000 external classes, about 20 minutes) run only when named in `--only`. Baselines that
need an optional package (faiss-cpu, PyTorch Geometric: the `bench` extra) are left out where it is not installed. A
benchmark that fails is reported in the table and the others still run.
"""

import argparse
import importlib
import time

BENCHMARKS = ("import_time", "wordnet_similarity", "hiernet_inference", "hierarchical_infonce", "rgcn",
              "hierarchical_kmeans", "mixed_precision", "augmentation", "hierarchical_metrics")
ON_REQUEST = ("demo_time", "posvae_information")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated benchmarks to run")
    args = parser.parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(chosen) - set(BENCHMARKS + ON_REQUEST)
    if unknown or not chosen:
        raise SystemExit(f"--only must name some of {BENCHMARKS + ON_REQUEST}; got {args.only!r}.")
    rows = []
    for name in chosen:
        print(f"\n=== benchmarks.{name}")
        start = time.perf_counter()
        try:
            ratios = importlib.import_module(f"benchmarks.{name}").main([]) or {}
        except Exception as e:  # keep going: one table of whatever ran
            rows.append((name, f"failed: {type(e).__name__}: {e}"[:90], float("nan"), time.perf_counter() - start))
            continue
        seconds = time.perf_counter() - start
        rows.extend((name, measure, ratio, seconds) for measure, ratio in ratios.items())
    print(f"\n{'benchmark':<22} {'measure':<62} {'ratio':>8} {'run s':>7}")
    for name, measure, ratio, seconds in rows:
        print(f"{name:<22} {measure:<62} {ratio:>8.3f} {seconds:>7.0f}")
    return rows


if __name__ == "__main__":
    main()

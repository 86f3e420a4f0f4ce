"""Times each part of the demo tour against the time it is expected to take: `python -m benchmarks.demo_time`.

Runs `python -m recipes.demo` (into a temporary folder unless `--output`) and prints, for its introduction and each
recipe step, the seconds it took, the seconds `recipes.demo.EXPECTED_SECONDS` promises and their ratio, then the
whole tour against the README's budget (8 minutes on 2 CPU cores). Run it with nothing else on the machine.
"""

import argparse
import tempfile

BUDGET_SECONDS = 8 * 60


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo_time", description=__doc__.splitlines()[0])
    parser.add_argument("--output", help="the tour's report folder (default: a temporary folder, removed)")
    parser.add_argument("--demo-args", default="", help="more flags for recipes.demo, e.g. '--skip-hirl'")
    args = parser.parse_args(argv)
    from recipes import demo

    with tempfile.TemporaryDirectory() as scratch:
        timings = demo.main(args.demo_args.split() + ["--output", args.output or scratch])
    print(f"\n{'part of the tour':<16} {'seconds':>8} {'expected':>9} {'ratio':>7}")
    ratios = {}
    for part, seconds in timings.items():
        expected = BUDGET_SECONDS if part == "total" else demo.EXPECTED_SECONDS[part]
        ratios[f"{part}: measured / expected seconds"] = seconds / expected
        print(f"{part:<16} {seconds:>8.0f} {expected:>9.0f} {seconds / expected:>7.2f}")
    return ratios


if __name__ == "__main__":
    main()

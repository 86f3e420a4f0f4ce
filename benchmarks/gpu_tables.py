"""The two tables a 2-core CPU cannot finish, in one run on a lent GPU (Keras' JAX backend, mixed precision, no
TensorFlow): `python -m benchmarks.gpu_tables` (what `scripts/gpu_tables.sh` runs there).

1. HIRL (Xu et al., Table 2's comparison): each of the six bases alone and with HIRL, seeds 0, 1, 2, k-NN top-1,
   linear probe and clustering, next to the untrained encoder (`--untrained`), at the budget of `BUDGETS`.
2. HierNet (Tempfli & Sándor, Table 1's comparison on Fashion-MNIST): backbone vs HierNet slow and fast,
   `--backbone-epochs 8 --epochs 8`, seeds 0, 1, 2: ResNet-20 split 5 with A = `--classifier-layers` 2 (the
   paper's) and 4, the ELU ResNet-20, and two capacity-limited backbones (ResNet-8, half-width ResNet-20).

The runs go one after the other in this process (JAX starts once; XLA's compilation cache serves the seeds after
the first), each recipe writing its own folder under `--output`. A run that would start after `--minutes` (minus its
expected length) is skipped and listed as such: the tables hold what finished, never a guess. Each table's
`metrics.json` (`--output/hiernet/metrics.json`, `--output/hirl/metrics.json`) holds its rows, budgets, device and
wall time; `--docs` rebuilds `docs/results/gpu_tables.md` from them (also alone: `--rebuild`).

`--size tiny` runs the same path at a size for a CPU test (tests/benchmarks/test_gpu_tables.py).
"""

import argparse
import json
import os
import platform
import sys
import time

SEEDS = "0,1,2"
HIERNET_KEYS = ("backbone_accuracy", "hiernet_slow_accuracy", "hiernet_fast_accuracy")
# The HierNet table's rows: what each variant of `BUDGETS[...]["hiernet"]` is.
HIERNET_VARIANTS = {"A2": "ResNet-20, split 5, A = 2 (the paper's)", "A4": "ResNet-20, split 5, A = 4",
                    "ELU": "ELU ResNet-20, split 6, A = 2 (the paper's)", "ResNet-8": "ResNet-8, split 1, A = 2",
                    "half width": "ResNet-20 at half width (8-16-32 filters), split 5, A = 2"}
BASES = ("moco_v2", "simsiam", "swav", "moco_v3", "dino", "ibot")

# Per size: the flags of each run, and the minutes a run is expected to take (to skip what cannot finish in time).
# The full HIRL budget: 20,000 training images, 8 epochs (2 warm-up), 10,000 test images; the paper pre-trains
# 100-800 epochs on ImageNet. The full sizes have not run on a GPU yet: their minutes are estimates.
BUDGETS = {
    "full": {
        "hiernet": {"flags": ["--seeds", SEEDS, "--backbone-epochs", "8", "--epochs", "8", "--split-point", "5"],
                    "variants": {"A2": ["--classifier-layers", "2"], "A4": ["--classifier-layers", "4"],
                                 # The paper's ELU network: split 6, A = 2 (Table 2, n = 3).
                                 "ELU": ["--activation", "elu", "--split-point", "6", "--classifier-layers", "2"],
                                 # Capacity-limited backbones, where the paper's explanation says the tree helps.
                                 "ResNet-8": ["--n", "1", "--split-point", "1", "--classifier-layers", "2"],
                                 "half width": ["--width", "0.5", "--classifier-layers", "2"]},
                    "minutes": 2.0},
        "hirl": {"flags": ["--seeds", SEEDS, "--train-size", "20000", "--epochs", "8", "--warmup-epochs", "2",
                           "--untrained"],
                 "variants": {base: ["--base", base] for base in BASES}, "minutes": 0.8},
    },
    "tiny": {
        "hiernet": {"flags": ["--seeds", "0", "--n", "1", "--train-size", "300", "--eval-size", "200",
                              "--batch-size", "50", "--backbone-epochs", "1", "--epochs", "1", "--steps-per-epoch",
                              "2", "--p-min", "0", "--g-max", "5", "--split-point", "2"],
                    "variants": {"A2": ["--classifier-layers", "2"]}, "minutes": 0.2},
        "hirl": {"flags": ["--seeds", "0", "--train-size", "64", "--eval-size", "100", "--epochs", "2",
                           "--warmup-epochs", "1", "--num-prototypes", "8,2", "--num-negative-paths", "2",
                           "--batch-size", "32", "--untrained"],
                 "variants": {"moco_v2": ["--base", "moco_v2"]}, "minutes": 0.2},
    },
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_tables", description=__doc__.strip().splitlines()[0])
    p.add_argument("--size", choices=tuple(BUDGETS), default="full")
    p.add_argument("--output", default="runs/gpu_tables")
    p.add_argument("--minutes", type=float, default=9.0, help="wall-clock budget of the whole run")
    p.add_argument("--precision", default="auto", help="the recipes' --precision (auto: mixed on a GPU)")
    p.add_argument("--tables", default="hirl,hiernet",
                   help="which tables, comma-separated, in this order (HIRL first: a CPU cannot run its ViT bases, "
                        "while HierNet's runs fit a CPU in the background)")
    p.add_argument("--docs", default=None, help="write the tables' markdown here (e.g. docs/results/gpu_tables.md)")
    p.add_argument("--rebuild", action="store_true", help="only rebuild --docs from --output's metrics.json files")
    return p.parse_args(argv)


def device():
    """The accelerator JAX runs on, in words (e.g. "gpu: NVIDIA H100 80GB HBM3"), and the CPU."""
    import jax

    first = jax.devices()[0]
    return {"accelerator": f"{first.platform}: {getattr(first, 'device_kind', '')}", "devices": jax.device_count(),
            "cpu": platform.processor() or platform.machine()}


def _recipe(name):
    import importlib

    return importlib.import_module(f"recipes.{'hiernet' if name == 'hiernet' else 'hirl'}")


def run_table(name, budget, args, deadline):
    """Runs each variant of table `name` while time is left; returns the table's record."""
    record = {"table": name, "size": args.size, "precision": args.precision, "flags": budget["flags"], "runs": {},
              "skipped": []}
    for variant, flags in budget["variants"].items():
        if time.time() + 60 * budget["minutes"] > deadline:
            record["skipped"].append(variant)
            print(f"[gpu_tables] {name} {variant}: skipped, not enough time left")
            continue
        started = time.time()
        output = os.path.join(args.output, name, variant)
        argv = budget["flags"] + flags + ["--output", output, "--precision", args.precision, "--no-export"]
        print(f"[gpu_tables] {name} {variant}: {' '.join(argv)}", flush=True)
        metrics = _recipe(name).main(argv)
        summary = metrics.get("summary")
        if summary is None:  # HierNet with one seed reports that seed's accuracies
            from recipes._common import mean_and_spread

            summary = {k: mean_and_spread([metrics[k]]) for k in HIERNET_KEYS if k in metrics}
        record["runs"][variant] = {"summary": summary, "seconds": time.time() - started,
                                   "command": metrics.get("command"), "untrained": metrics.get("untrained"),
                                   "precision": metrics.get("precision")}
    return record


def table_markdown(record):
    """The markdown table of one table's record: mean ± sd over seeds, in percent."""
    rows = []
    if record["table"] == "hiernet":
        keys = HIERNET_KEYS
        rows.append("| network | backbone | HierNet slow | HierNet fast | fast - backbone | minutes |")
        rows.append("|---|---|---|---|---|---|")
        for variant, run in record["runs"].items():
            s = run["summary"]
            cells = [f"{100 * s[k]['mean']:.2f} ± {100 * s[k]['std']:.2f}" for k in keys]
            gain = 100 * (s["hiernet_fast_accuracy"]["mean"] - s["backbone_accuracy"]["mean"])
            rows.append(f"| {HIERNET_VARIANTS.get(variant, variant)} | " + " | ".join(cells)
                        + f" | {gain:+.2f} | {run['seconds'] / 60:.1f} |")
    else:
        keys = ("knn_top1", "linear_probe", "cluster_accuracy", "cluster_nmi")
        rows.append("| base | model | k-NN top-1 | linear probe | clustering acc. | NMI |")
        rows.append("|---|---|---|---|---|---|")
        for variant, run in record["runs"].items():
            models = dict(run["summary"])
            if run.get("untrained"):
                models = {"untrained encoder": run["untrained"]["summary"], **models}
            for model, s in models.items():
                rows.append(f"| {variant} | {model} | " + " | ".join(
                    f"{100 * s[k]['mean']:.2f} ± {100 * s[k]['std']:.2f}" for k in keys) + " |")
    if record["skipped"]:
        rows.append(f"\nNot run (no time left in the budget): {', '.join(record['skipped'])}.")
    return "\n".join(rows)


def rebuild(output, docs):
    """Writes `docs` from the tables' metrics.json files under `output`."""
    from keras_hier._io import write_text_atomic

    parts = ["# The GPU tables\n", "Rebuilt by `python -m benchmarks.gpu_tables --rebuild --output OUTPUT --docs "
             "THIS_FILE` from the metrics.json files of `scripts/gpu_tables.sh`'s run; test sets, percent, mean ± "
             "sample sd over the seeds.\n"]
    for name, title in (("hiernet", "HierNet"), ("hirl", "HIRL")):
        path = os.path.join(output, name, "metrics.json")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        parts.append(f"## {title}\n\nDevice {record['device']['accelerator']} ({record['backend']}, precision "
                     f"{record['precision']}), size `{record['size']}`, commit {record['commit']}, "
                     f"{record['seconds'] / 60:.1f} minutes; flags `{' '.join(record['flags'])}`.\n")
        parts.append(table_markdown(record) + "\n")
    write_text_atomic(docs, "\n".join(parts))
    return docs


def main(argv=None):
    args = parse_args(argv)
    if args.rebuild:
        if not args.docs:
            raise SystemExit("--rebuild needs --docs: the markdown file to write.")
        return rebuild(args.output, args.docs)
    import keras

    from keras_hier._io import write_text_atomic
    from recipes._common import git_commit

    start = time.time()
    git_commit()  # the code this run loaded (cached for the records written at the end)
    deadline = start + 60 * args.minutes
    tables = [t for t in args.tables.split(",") if t]
    unknown = sorted(set(tables) - set(BUDGETS[args.size]))
    if unknown:
        raise SystemExit(f"Unknown tables {unknown}: choose among {sorted(BUDGETS[args.size])}.")
    records = {}
    for name in tables:
        table_start = time.time()
        record = run_table(name, BUDGETS[args.size][name], args, deadline)
        record.update(seconds=time.time() - table_start, backend=keras.backend.backend(), device=device(),
                      commit=git_commit())
        write_text_atomic(os.path.join(args.output, name, "metrics.json"), json.dumps(record, indent=1))
        records[name] = record
        print(f"[gpu_tables] {name}: {len(record['runs'])} run(s) in {record['seconds'] / 60:.1f} min, skipped "
              f"{record['skipped'] or 'none'}", file=sys.stderr)
    if args.docs:
        rebuild(args.output, args.docs)
    return records


if __name__ == "__main__":
    main()

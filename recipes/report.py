"""The demo tour's report: `report.md` with one table per method, baseline and method side by side as the papers
present them, the plots and the SavedModel of each recipe's output folder, and what changed.

`python -m recipes.report runs/demo` rebuilds it from the `metrics.json` files the recipes wrote there.
`python -m recipes.report --evidence docs/results/issue39` writes the evidence tables of longer runs over several
seeds from the metrics.json files stored there (`recipes.evidence`).
"""

import json
import os
import re

from keras_hier._io import write_text_atomic

from ._common import budget_difference, parse_recipe_args, recipe_parser

# Folder under the report folder -> (title, what the method does, its paper's table).
METHODS = {
    "hiernet": (
        "HierNet: a tree CNN cut from a backbone",
        "A ResNet-20 trains for a while; its confusion-probability matrix on held-out images groups classes that "
        "it confuses; HierNet shares the backbone's early blocks, branches once per group and copies the backbone's "
        "weights into every branch. *Slow* evaluation multiplies the probabilities along every path; *fast* "
        "routing follows the most probable branch only. Both train for as many more steps as the backbone does.",
        "Tempfli & Sándor, Table 1 (CIFAR-100 test accuracy, ResNet backbone vs HierNet; Table 2 for ELU ResNets)",
    ),
    "hgr": (
        "HGR-Net: hierarchical InfoNCE for zero-shot classification",
        "A CNN image tower and MiniLM class-name embeddings train as dual encoders on 7 seen classes; the flat "
        "InfoNCE (CLIP) baseline contrasts each image with the other classes, HGR-Net adds the outer/inner loops "
        "over the WordNet ancestors of its class. The unseen classes (Pullover, Sandal, Shirt) are ranked by "
        "their names alone. Hit@k: the right class among the top k unseen; TOR / POR: how much of the prediction's "
        "WordNet path overlaps the truth's.",
        "Yi et al., Table 2 (ImageNet-21K zero-shot Hit@k) and Table 4 (TOR, POR)",
    ),
    "multilabel_zsl": (
        "Multi-label zero-shot with a knowledge graph",
        "Mosaics of 2-4 Fashion-MNIST items carry several labels; 2 of 7 target labels are never seen in "
        "training. A WordNet class graph joins target labels and the classes of an external classifier; a "
        "relational GCN propagates node states (GloVe, or PosVAE states from the external classifier's "
        "posteriors) to score every label, the unseen ones included. mAP: per label; miAP: per image.",
        "Huang et al., Table 1 (NUS-WIDE / MS-COCO mAP and miAP, seen / unseen / all)",
    ),
    "long_tail": (
        "Long-tail compositional transfer",
        "Fashion-MNIST-LT has 6,000 down to 5 training images per class. A cosine classifier trains on it; "
        "class prototypes (mean features) and an attention from each few-shot classifier to the many-shot "
        "ones (w^h(k): classes with at most k images borrow from richer ones) repair the tail. Accuracy per "
        "shot group: many (>100 images), medium (20-100), few (<20).",
        "Parisot et al., Table 1 (ImageNet-LT many / medium / few / total top-1)",
    ),
    "hirl": (
        "HIRL: hierarchical prototypes on a self-supervised learner",
        "MoCo v2 learns features from unlabelled images; HIRL adds hierarchical K-means prototypes over the "
        "features and a semantic-path discrimination loss that pulls an image towards its path of prototypes "
        "and away from other paths. The frozen features are scored by a k-NN classifier, a linear probe and "
        "K-means clustering against the true classes.",
        "Xu et al., Table 1 (ImageNet KNN / linear evaluation, base method vs HIRL-base)",
    ),
}

PLOTS = {
    "hiernet": ("cpm.png", "tree.png", "accuracy.png"),
    "hgr": ("tree.png", "zero_shot.png"),
    "multilabel_zsl": ("class_graph.png", "unseen_miap.png"),
    "long_tail": ("shot_groups.png", "attended_classes.png"),
    "hirl": ("tsne.png", "scores.png"),
}


def _pct(stat):
    """A fraction (or `{"mean", "std"}` of fractions) as a percentage, with ± when the spread is over seeds."""
    if isinstance(stat, dict):
        text = f"{100 * stat['mean']:.2f}"
        return text + (f" ± {100 * stat['std']:.2f}" if stat.get("std") else "")
    return f"{100 * stat:.2f}"


def _mean(stat):
    return stat["mean"] if isinstance(stat, dict) else stat


def markdown_table(header, rows):
    """A Markdown table from a header list and rows of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def hierarchical_table(rows, source):
    """The hierarchy-aware rows (`recipes/_hierarchical.py`) as a table: accuracy, hF1, mistake severity,
    distance@k (docs/metrics.md), measured on `source`."""
    at_k = next((key for r in rows.values() for key in r if key.startswith("hierarchical_distance@")), None)
    body = [[name, _pct(r["accuracy"]), _pct(r["hierarchical_f1"]), f"{_mean(r['mistake_severity']):.3f}"]
            + ([f"{_mean(r[at_k]):.3f}" if at_k in r else "–"] if at_k else []) for name, r in rows.items()]
    header = ["model", "accuracy (%)", "hF1 (%)", "mistake severity"] + ([at_k.split("_")[-1]] if at_k else [])
    crm = "; + CRM: the risk-minimising decision on the same probabilities" if any("CRM" in n for n in rows) else ""
    return (f"How bad the mistakes are, on {source} (LCA height, lower is better{crm}):\n\n"
            + markdown_table(header, body))


def hiernet_section(m):
    """HierNet: backbone vs HierNet slow / fast at the same budget (one seed's metrics, or a multi-seed run's
    `summary`, mean ± sd)."""
    stats = m.get("summary", m)
    name = m.get("backbone") or next((r.get("backbone") for r in (m.get("runs") or {}).values()), None)
    parts = re.fullmatch(r"(elu_)?resnet(\d+)(?:_x([\d.]+))?", name or "resnet20")
    name = (f"{'ELU ' if parts.group(1) else ''}ResNet-{parts.group(2)}"
            + (f" at width {parts.group(3)}" if parts.group(3) else "")) if parts else name
    rows = [[f"{name} backbone (same training budget)", _pct(stats["backbone_accuracy"])]]
    if "hiernet_slow_accuracy" in stats:
        rows += [["HierNet, slow (all paths)", _pct(stats["hiernet_slow_accuracy"])],
                 ["HierNet, fast (routing)", _pct(stats["hiernet_fast_accuracy"])]]
    table = markdown_table(["model", "test accuracy (%)"], rows)
    if "hiernet_slow_accuracy" not in stats:
        return table + "\n\nNo groups formed at this budget: the HierNet would equal the backbone.", None
    per_seed = m.get("runs") or {None: m}
    found = {}  # the CPM's grouping -> the seeds that found it
    for seed, run in per_seed.items():
        groups = "; ".join(", ".join(members) for members in run.get("groups", {}).values() if len(members) > 1)
        found.setdefault(groups or "none", []).append(seed)
    if len(found) == 1:
        table += f"\n\nGroups from the CPM (classes alone not listed): {next(iter(found))}."
    else:
        table += "\n\nGroups from the CPM (classes alone not listed): " + " | ".join(
            f"seed {', '.join(map(str, seeds))}: {groups}" for groups, seeds in found.items()) + "."
    if "hierarchical" in m:
        table += "\n\n" + hierarchical_table(m["hierarchical"], m.get("metric_hierarchy") or next(
            (r.get("metric_hierarchy") for r in per_seed.values() if r.get("metric_hierarchy")), "the class hierarchy"))
    delta = 100 * (_mean(stats["hiernet_slow_accuracy"]) - _mean(stats["backbone_accuracy"]))
    fast = 100 * (_mean(stats["hiernet_fast_accuracy"]) - _mean(stats["backbone_accuracy"]))
    table += f"\n\nHierNet fast − backbone: {fast:+.2f} points."
    return table, ("HierNet slow − backbone", delta)


def hgr_section(m):
    """HGR-Net: flat InfoNCE vs hierarchical InfoNCE on the unseen classes."""
    names = {"flat": "flat InfoNCE (CLIP)", "hgr": "HGR-Net (hierarchical InfoNCE)"}
    metrics = list(next(iter(m["summary"].values())))
    rows = [[names.get(k, k)] + [_pct(s[x]) for x in metrics] for k, s in m["summary"].items()]
    header = ["model"] + [(x.upper() if x in ("tor", "por") else x.replace("hit@", "Hit@")) + " (%)" for x in metrics]
    table = markdown_table(header, rows)
    table += f"\n\nSeen: {', '.join(m['seen'])}. Unseen ({m['split']}): {', '.join(m['unseen'])}."
    if "hierarchical" in m:
        rows = {names.get(k, k): r for k, r in m["hierarchical"].items()}
        table += "\n\n" + hierarchical_table(rows, "WordNet, among the unseen classes (accuracy = Hit@1)")
    if {"flat", "hgr"} <= set(m["summary"]):
        return table, ("HGR − flat, Hit@1", 100 * (_mean(m["summary"]["hgr"]["hit@1"])
                                               - _mean(m["summary"]["flat"]["hit@1"])))
    return table, None


def multilabel_section(m):
    """Multi-label zero-shot: the variants' mAP / miAP on seen, unseen and all labels."""
    names = {"visual_semantic": "visual-semantic (no graph)", "fast0tag": "Fast0Tag", "skg": "SKG (gated GNN)",
             "rgcn": "relational GCN", "rgcn_xl": "relational GCN, external nodes as labels",
             "rgcn_posvae": "relational GCN + PosVAE"}
    keys = [f"{s}_{x}" for s in ("seen", "unseen", "all") for x in ("map", "miap")]
    header = ["model"] + [k.replace("_map", " mAP").replace("_miap", " miAP") + " (%)" for k in keys]
    rows = [[names.get(v, v)] + [_pct(s[k]) for k in keys] for v, s in m["summary"].items()]
    table = markdown_table(header, rows)
    table += (f"\n\nUnseen labels: {', '.join(m['unseen'])}; graph of {m['edges']} edges; external classifier "
              f"accuracy {_pct(m['external_classifier_accuracy'])}%.")
    if (m.get("args") or {}).get("external_probabilities") == "oracle":
        table += (" **External probabilities: the oracle's** (1 where a cell holds the external class or a class the "
                  "graph joins to it, else 0), not the classifier's.")
    swaps = [(v, s) for v, s in m["summary"].items() if "unseen_miap_swapped_external" in s]
    if swaps:
        table += "\n\nSwap test (each test image scored with another image's external probabilities): " + "; ".join(
            f"{names.get(v, v)}, unseen miAP {_pct(s['unseen_miap'])} with its own, "
            f"{_pct(s['unseen_miap_swapped_external'])} swapped (logits moved by "
            f"{_mean(s['swapped_external_logit_change']):.4f} of their spread)" for v, s in swaps) + "."
    if m.get("hierarchical"):
        body = [[names.get(v, v)] + [_pct(r[k]) for k in ("hierarchical_precision", "hierarchical_recall",
                                                         "hierarchical_f1")] for v, r in m["hierarchical"].items()]
        table += ("\n\nThe 3 best-scored labels of each image against its labels, both extended with their WordNet "
                  "ancestors (docs/metrics.md):\n\n" + markdown_table(["model", "hP (%)", "hR (%)", "hF1 (%)"], body))
    base = next((v for v in ("visual_semantic", "fast0tag") if v in m["summary"]), None)
    best = "rgcn_posvae" if "rgcn_posvae" in m["summary"] else None
    if base and best:
        return table, ("RGCN + PosVAE − visual-semantic, unseen miAP",
                       100 * (_mean(m["summary"][best]["unseen_miap"]) - _mean(m["summary"][base]["unseen_miap"])))
    return table, None


def long_tail_section(m):
    """Long tail: the paper's rows (prototypes, classifier, w^h(k), ensembles) per shot group."""
    parts, delta = [], None
    for loss, rows in m["summary"].items():
        body = [[name] + [_pct(r[g]) for g in ("many", "medium", "few", "total")] for name, r in rows.items()]
        title = {"ce": "cross-entropy encoder", "balanced_softmax": "balanced-softmax encoder"}.get(loss, loss)
        parts.append(f"*{title}*\n\n" + markdown_table(["classifier", "many (%)", "medium (%)", "few (%)",
                                                        "total (%)"], body))
        severity = (m.get("hierarchical") or {}).get(loss)
        if severity:
            body = [[name] + [f"{_mean(by_group[g]['mistake_severity']):.3f}" if g in by_group else "–"
                              for g in ("many", "medium", "few", "total")] for name, by_group in severity.items()]
            parts.append("mistake severity on WordNet (LCA height, lower is better):\n\n" + markdown_table(
                ["classifier", "many", "medium", "few", "total"], body))
        ensemble = next((n for n in rows if n.startswith("ensemble(w^h(0)")), None)
        if delta is None and ensemble and "Cosine classifier" in rows:
            delta = (f"ensemble − cosine classifier, few-shot ({title})",
                     100 * (_mean(rows[ensemble]["few"]) - _mean(rows["Cosine classifier"]["few"])))
    return "\n\n".join(parts), delta


def hirl_section(m):
    """HIRL: the base method vs HIRL on k-NN, linear probe and clustering."""
    keys = list(next(iter(m["summary"].values())))
    names = {"knn_top1": "k-NN top-1", "linear_probe": "linear probe", "cluster_accuracy": "clustering acc.",
             "cluster_nmi": "NMI", "cluster_ami": "AMI"}
    rows = [[model] + [_pct(s[k]) for k in keys] for model, s in m["summary"].items()]
    if "untrained" in m:  # the floor pre-training must beat
        rows.append(["untrained encoder (same seeds)"] + [_pct(m["untrained"]["summary"][k]) for k in keys])
    table = markdown_table(["model"] + [names.get(k, k) + " (%)" for k in keys], rows)
    if "hierarchical" in m:
        table += "\n\n" + hierarchical_table(m["hierarchical"], "WordNet, for the k-NN classifier's predictions")
    models = list(m["summary"])
    if len(models) == 2:
        return table, (f"{models[1]} − {models[0]}, k-NN top-1",
                       100 * (_mean(m["summary"][models[1]]["knn_top1"]) - _mean(m["summary"][models[0]]["knn_top1"])))
    return table, None


# The rows of `metrics["hierarchical"]` the at-a-glance table compares: (baseline, method) per report folder.
SEVERITY_ROWS = {"hiernet": ("backbone", "HierNet slow"), "hgr": ("flat", "hgr"),
                 "multilabel_zsl": None,  # label sets: hF1, no single top-1 mistake
                 "long_tail": ("Cosine classifier", "ensemble(w^h(0)"), "hirl": None}


def severity_change(key, m):
    """`"2.47 → 2.31"`: the mistake severity of the baseline and of the method (docs/metrics.md), or "–"."""
    rows = m.get("hierarchical") or {}
    if key == "long_tail" and rows:  # loss -> row -> shot group: the first loss's totals
        rows = {name: by_group["total"] for name, by_group in next(iter(rows.values())).items() if "total" in by_group}
    pair = SEVERITY_ROWS.get(key)
    if key == "hirl":  # base and HIRL (beside their CRM rows and the untrained encoder)
        models = [n for n in rows if not n.endswith("+ CRM") and n != "untrained encoder"]
        pair = tuple(models) if len(models) == 2 else None
    if not pair:
        return "–"
    found = [next((r for name, r in rows.items() if name == want or name.startswith(want)), None) for want in pair]
    if any(r is None or "mistake_severity" not in r for r in found):
        return "–"
    return " → ".join(f"{_mean(r['mistake_severity']):.2f}" for r in found)


def budget_sentence(budgets):
    """One line on the compared models' training budgets (`metrics["budgets"]`): equal, or what differs."""
    difference = budget_difference(budgets)
    if difference:
        return f"**Unequal training budgets: {difference}.**"
    stages = next(iter(budgets.values()))
    steps = " + ".join(str(stage["steps"]) for stage in stages)
    return f"Training budget: {', '.join(budgets)} each trained {steps} steps, on the same schedules."


DOCS = {"hiernet": "hiernet.md", "hgr": "hgr.md", "multilabel_zsl": "multilabel.md", "long_tail": "long_tail.md",
        "hirl": "hirl.md"}

SECTIONS = {"hiernet": hiernet_section, "hgr": hgr_section, "multilabel_zsl": multilabel_section,
            "long_tail": long_tail_section, "hirl": hirl_section}


def timing_summary(timings):
    """`"introduction 10 s, hiernet 123 s, ..."`: the seconds of each part of the tour, without the total."""
    return ", ".join(f"{k} {v:.0f} s" for k, v in (timings or {}).items() if k != "total")


def write_report(folder, metrics=None, seconds=None, intro="", timings=None):
    """Writes `folder/report.md` (atomically) from each method's metrics and returns its path.

    Args:
        folder: the report folder; method `k`'s outputs are in `folder/k` (keys of `METHODS`).
        metrics: method key -> the metrics its recipe returned (methods missing there are listed as not run);
            None reads each method's `folder/k/metrics.json` where there is one.
        seconds: the demo's total run time, for the header.
        intro: Markdown placed under the title.
        timings: optional seconds of each part of the tour (`introduction`, each method key), for the header.

    Example:
    >>> write_report("runs/demo")  # doctest: +SKIP
    'runs/demo/report.md'
    """
    read = metrics is None
    metrics = dict(metrics or {})
    lines = ["# keras_hier demo report", ""]
    if intro:
        lines += [intro, ""]
    if seconds is not None:
        parts = timing_summary(timings)
        lines += [f"The whole tour took {seconds / 60:.1f} minutes" + (f" ({parts})." if parts else "."), ""]
    summary = []
    for key, (title, what, paper) in METHODS.items():
        path = os.path.join(folder, key, "metrics.json")
        if read and os.path.exists(path):
            with open(path) as f:
                metrics[key] = json.load(f)
        lines += [f"## {title}", "", what, ""]
        if key not in metrics:
            lines += ["Not run in this tour.", ""]
            continue
        m = metrics[key]
        table, delta = SECTIONS[key](m)
        lines += [f"As in {paper}; small settings, one seed, so differences of a point or two are noise:", "",
                  table, ""]
        if delta is not None:
            lines += [f"**{delta[0]}: {delta[1]:+.2f} points.**", ""]
            summary.append((title.split(":")[0], delta, severity_change(key, m)))
        plots = [p for p in PLOTS[key] if os.path.exists(os.path.join(folder, key, p))]
        lines += [f"![{p}]({key}/{p})" for p in plots] + ([""] if plots else [])
        saved = os.path.join(key, "saved_model")
        if os.path.isdir(os.path.join(folder, saved)):
            lines += [f"SavedModel: `{saved}` (`serving_default` takes uint8 images; "
                      f"`saved_model_cli show --dir {os.path.join(folder, saved)} --all`).", ""]
        if m.get("budgets"):
            lines += [budget_sentence(m["budgets"]), ""]
        if "seconds" in m:
            lines += [f"Recipe time: {m['seconds']:.0f} s. All numbers: `{key}/metrics.json`.", ""]
        lines += [f"Longer runs over several seeds, next to the paper's numbers: docs/{DOCS[key]}.", ""]
    if summary:
        at_a_glance = ["## At a glance", "", markdown_table(
            ["method", "comparison", "difference (points)", "mistake severity (baseline → method)"],
            [[t, d[0], f"{d[1]:+.2f}", severity] for t, d, severity in summary]), ""]
        lines[2:2] = at_a_glance
    path = os.path.join(folder, "report.md")
    write_text_atomic(path, "\n".join(lines))
    return path


def main(argv=None):
    """`python -m recipes.report FOLDER`: rebuilds FOLDER/report.md from the recipes' metrics.json files;
    `--evidence FOLDER`: writes FOLDER/README.md from the stored summaries there (`write_evidence`)."""
    parser = recipe_parser("report", __doc__)
    parser.add_argument("folder", nargs="?", default="runs/demo", help="the demo's output folder")
    parser.add_argument("--evidence", metavar="FOLDER", default=None,
                        help="write FOLDER/README.md from the metrics.json summaries stored in FOLDER")
    args = parse_recipe_args(parser, argv)
    if args.evidence:
        if not os.path.isdir(args.evidence):
            raise SystemExit(f"No folder {args.evidence!r}: give the folder that holds the stored metrics.json "
                             "summaries (e.g. docs/results/issue39).")
        from .evidence import write_evidence

        print(f"wrote {write_evidence(args.evidence)}")
        return
    found = [key for key in METHODS if os.path.exists(os.path.join(args.folder, key, "metrics.json"))]
    if not found:
        raise SystemExit(
            f"No runs in {args.folder!r}: no <method>/metrics.json for any of "
            f"{', '.join(METHODS)}. Run the demo (`.venv/bin/python -m recipes.demo --output {args.folder}`) or a "
            "recipe with `--output FOLDER/<method>` first.")
    print(f"wrote {write_report(args.folder)} from {len(found)} of {len(METHODS)} methods' runs")


if __name__ == "__main__":
    main()

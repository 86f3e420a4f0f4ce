"""The evidence page: `python -m recipes.report --evidence FOLDER` writes FOLDER/README.md from the recipes'
metrics.json summaries stored there — each method's table over its seeds with the command, commit and machine of
its run, and at the top each paper's claim against the per-seed differences and whether its direction holds.
Per-seed summaries (`NAME_seedS.json`, a multi-seed run's `seedS/metrics.json` or runs of one seed each) combine
into one table."""

import json
import os
import re

import numpy as np

from keras_hier._io import write_text_atomic

from .report import METHODS, SECTIONS, budget_sentence, markdown_table


def _per_seed(m, model):
    """A multi-seed summary's per-seed results of `model` (`runs[model]`, a list over the seeds)."""
    return (m.get("runs") or {}).get(model) or []


def _hiernet_runs(m):
    return list((m.get("runs") or {"0": m}).values())


# Each method's claim, as its paper makes it, and the comparisons that test it on a stored summary: (what is compared,
# the per-seed differences, method − baseline, in points). A difference is positive where the paper's direction holds.
CLAIMS = {
    "hiernet": ("A tree of branches cut from a backbone, grouped by its confusions, classifies better than the "
                "backbone trained as long", [
                    ("HierNet fast − backbone, test accuracy", lambda m: [
                        100 * (r["hiernet_fast_accuracy"] - r["backbone_accuracy"]) for r in _hiernet_runs(m)
                        if "hiernet_fast_accuracy" in r]),
                    ("HierNet slow − backbone, test accuracy", lambda m: [
                        100 * (r["hiernet_slow_accuracy"] - r["backbone_accuracy"]) for r in _hiernet_runs(m)
                        if "hiernet_slow_accuracy" in r])]),
    "hgr": ("The hierarchical InfoNCE raises zero-shot Hit@1 over flat InfoNCE, and the overlap of the predicted and "
            "true WordNet paths", [
                ("HGR − flat, Hit@1 on the unseen classes", lambda m: [
                    100 * (h["hit@1"] - f["hit@1"]) for h, f in zip(_per_seed(m, "hgr"), _per_seed(m, "flat"))]),
                ("HGR − flat, POR", lambda m: [
                    100 * (h["por"] - f["por"]) for h, f in zip(_per_seed(m, "hgr"), _per_seed(m, "flat"))])]),
    "multilabel_zsl": ("External knowledge (PosVAE states of an external classifier's posteriors on the graph) "
                       "raises the unseen labels' scores over the relational GCN without it", [
                           ("RGCN + PosVAE − RGCN, unseen mAP", lambda m: [
                               100 * (p["unseen"]["map"] - r["unseen"]["map"])
                               for p, r in zip(_per_seed(m, "rgcn_posvae"), _per_seed(m, "rgcn"))]),
                           ("RGCN + PosVAE − RGCN, unseen miAP", lambda m: [
                               100 * (p["unseen"]["miap"] - r["unseen"]["miap"])
                               for p, r in zip(_per_seed(m, "rgcn_posvae"), _per_seed(m, "rgcn"))]),
                           ("RGCN + PosVAE, unseen miAP: own − another image's external probabilities", lambda m: [
                               100 * (p["unseen"]["miap"] - p["swapped_external"]["unseen"]["miap"])
                               for p in _per_seed(m, "rgcn_posvae") if "swapped_external" in p])]),
}


def _long_tail_differences(m, group):
    """Per seed of the first loss: the transfer ensemble's accuracy on `group` minus the cosine classifier's."""
    runs = [r for r in m.get("runs") or [] if r["loss"] == m["runs"][0]["loss"]]
    ensemble = next((n for n in (runs[0]["table"] if runs else ()) if n.startswith("ensemble(w^h(0)")), None)
    return [100 * (r["table"][ensemble][group] - r["table"]["Cosine classifier"][group]) for r in runs
            if ensemble and "Cosine classifier" in r["table"]]


CLAIMS["long_tail"] = (
    "Few-shot classifiers composed from the many-shot ones (attention over prototypes, w^h(k), and their ensemble) "
    "raise few-shot accuracy over the cosine classifier, and the total", [
        ("ensemble − cosine classifier, few-shot", lambda m: _long_tail_differences(m, "few")),
        ("ensemble − cosine classifier, all classes", lambda m: _long_tail_differences(m, "total"))])


def _hirl_differences(m, key, baseline="base"):
    """Per seed: HIRL's score `key` minus the base method's (`baseline="base"`), or the base method's minus the
    untrained encoder's (`baseline="untrained"`), in points."""
    models = list(m.get("summary") or {})
    if len(models) != 2:
        return []
    score = {(r["seed"], r["model"]): r[key] for r in m.get("runs") or []}
    score.update({(r["seed"], "untrained"): r[key] for r in (m.get("untrained") or {}).get("runs", [])})
    method, reference = (models[1], models[0]) if baseline == "base" else (models[0], "untrained")
    seeds = sorted({seed for seed, _ in score})
    return [100 * (score[s, method] - score[s, reference]) for s in seeds
            if (s, method) in score and (s, reference) in score]


CLAIMS["hirl"] = (
    "Hierarchical prototypes and semantic path discrimination improve a self-supervised method's features (its "
    "pre-training itself beating an untrained encoder)", [
        ("HIRL − base, k-NN top-1", lambda m: _hirl_differences(m, "knn_top1")),
        ("HIRL − base, linear probe", lambda m: _hirl_differences(m, "linear_probe")),
        ("base − untrained encoder, k-NN top-1", lambda m: _hirl_differences(m, "knn_top1", "untrained"))])


def claim_verdict(differences):
    """`"yes"` where the mean difference is above one sample sd of the per-seed differences, `"no"` where it is
    below minus one sd, `"within noise"` otherwise; no verdict from one seed (no spread to judge by)."""
    if len(differences) < 2:
        return "one seed: not judged"
    mean, sd = float(np.mean(differences)), float(np.std(differences, ddof=1))
    return "yes" if mean > sd else "no" if mean < -sd else "within noise"


def claims_table(summaries):
    """The at-a-glance table of the evidence page: for each stored summary (name -> (method key, metrics)) with a
    claim in `CLAIMS`, each comparison's per-seed differences as mean ± sd and whether the paper's direction holds
    (`claim_verdict`)."""
    rows = []
    for name, (key, m) in summaries.items():
        if key not in CLAIMS:
            continue
        claim, comparisons = CLAIMS[key]
        for what, differences in comparisons:
            found = differences(m)
            if not found:
                continue
            sd = f" ± {np.std(found, ddof=1):.2f}" if len(found) > 1 else ""
            rows.append([f"`{name}`", claim, what, f"{np.mean(found):+.2f}{sd} ({len(found)} seed"
                         f"{'s' if len(found) > 1 else ''})", claim_verdict(found)])
            claim = "″"  # the claim once per summary
    return markdown_table(["summary", "the paper's claim", "comparison", "difference (points)", "direction holds"],
                          rows)


def _hiernet_seeds(runs):
    from .hiernet import seeds_summary

    return seeds_summary(runs)


# A recipe's section key -> the function that combines per-seed metrics (seed -> metrics) into a multi-seed run's.
SEED_COMBINERS = {"hiernet": _hiernet_seeds}

# The recipe a metrics.json came from (its `command`) -> the section key of `METHODS`.
RECIPE_SECTIONS = {"hiernet": "hiernet", "hgr_zero_shot": "hgr", "multilabel_zsl": "multilabel_zsl",
                   "long_tail": "long_tail", "hirl": "hirl"}


def _same_flags(name, files, parts):
    """Refuses to combine seeds of runs whose flags differ beyond the seeds and where they ran (`--output`, ...);
    a flag one run lacks (added to the recipe later, its default the older behaviour) is not compared."""
    from ._training import _NOT_COMPARED

    flags = [{k: v for k, v in (p.get("args") or {}).items() if k not in _NOT_COMPARED} for p in parts]
    for file, other in zip(files[1:], flags[1:]):
        differ = sorted(k for k in set(flags[0]) & set(other) if flags[0][k] != other[k])
        if differ:
            raise ValueError(f"{name}: {files[0]} and {file} come from runs with other flags "
                             f"({', '.join('--' + k.replace('_', '-') for k in differ)}), so their seeds are not one "
                             "table's; name them apart (e.g. NAME_A2_seedS.json and NAME_A4_seedS.json).")


def write_evidence(folder, docs=None):
    """Writes `docs` (default `folder/README.md`, atomically) with one section per `*.json` recipe summary in
    `folder` (a recipe's metrics.json, copied there): the method's table (mean ± sd over the seeds), the command,
    commit, machine, seeds and minutes of the run, and the difference the paper claims. Returns the path.

    Example:
    >>> write_evidence("docs/results/issue39")  # doctest: +SKIP
    'docs/results/issue39/README.md'
    """
    docs = docs or os.path.join(folder, "README.md")
    entries = {}  # a section's name -> its files: `X.json` alone, or every `X_seedS.json` of one seed each
    for name in sorted(n for n in os.listdir(folder) if n.endswith(".json")):
        one_seed = re.fullmatch(r"(.+)_seed\d+\.json", name)
        entries.setdefault(one_seed.group(1) + "_seed*.json" if one_seed else name, []).append(name)
    loaded = {}  # a section's name -> (method key, the metrics of each of its files)
    for name, files in entries.items():
        parts = []
        for file in files:
            with open(os.path.join(folder, file)) as f:
                parts.append(json.load(f))
        found = re.search(r"recipes\.(\w+)", parts[0].get("command", ""))
        key = RECIPE_SECTIONS.get(found.group(1)) if found else None
        if key is None:
            continue
        if len(parts) > 1 and key not in SEED_COMBINERS:  # no way to combine them: a section each
            loaded.update({file: (key, [part]) for file, part in zip(files, parts)})
            continue
        if len(parts) > 1:
            _same_flags(name, files, parts)
        loaded[name] = (key, parts)
    lines = ["# Evidence tables", "",
             f"Rebuilt by `python -m recipes.report --evidence {folder}` from the recipes' metrics.json summaries "
             "stored here (`NAME_seedS.json`: one seed of a run each, combined in one table); test sets, percent, "
             "mean ± sample sd over the seeds.", ""]
    summaries = {}
    for name, (key, parts) in loaded.items():
        m = SEED_COMBINERS[key]({p["seed"]: p for p in parts}) if len(parts) > 1 else parts[0]
        summaries[name] = (key, m)
        title, _, paper = METHODS[key]
        # A multi-seed summary's seeds; one seed's file (`seedS/metrics.json` of a multi-seed run too): its seed.
        seeds = m.get("seeds") or ([m["seed"]] if m.get("seed") is not None else (m.get("args") or {}).get("seeds"))
        table, delta = SECTIONS[key](m)
        runs = [(f"Seed {p['seed']}: command" if len(parts) > 1 else "Command")
                + f" `{p['command']}`; commit {p.get('commit', 'not recorded')}; machine "
                f"{p.get('machine', 'not recorded')}; {p.get('seconds', 0) / 60:.0f} minutes recorded"
                + (f" ({p['note']})." if p.get("note") else ".") for p in parts]
        lines += [f"## {title}: `{name}`", "", f"As in {paper}.", "",
                  f"Seeds {', '.join(map(str, seeds)) if seeds else 'not recorded'}. " + " ".join(runs), "", table,
                  ""]
        if delta is not None:
            lines += [f"**{delta[0]}: {delta[1]:+.2f} points.**", ""]
        budgets = m.get("budgets") or next((p["budgets"] for p in parts if p.get("budgets")), None)
        if budgets:
            lines += [budget_sentence(budgets), ""]
    if summaries:
        lines[4:4] = ["## At a glance: does each paper's direction hold here?", "",
                      "Per-seed differences, method − baseline, mean ± sample sd; the direction holds (\"yes\") where "
                      "the mean exceeds one sd, fails (\"no\") below minus one sd, and is within noise otherwise. "
                      "Methods without a stored summary are not listed.", "", claims_table(summaries), ""]
    write_text_atomic(docs, "\n".join(lines))
    return docs

"""The hierarchy-aware numbers the recipes report next to their papers' metrics (docs/metrics.md)."""

import numpy as np



def semantic_hierarchy(build, fallback=None):
    """`build()` (the classes' WordNet hierarchy, say), or `fallback` where it cannot be built: NLTK or the WordNet
    data missing, as on the JAX GPU machine; the reason is printed."""
    try:
        return build()
    except (ImportError, LookupError, OSError) as e:
        print(f"The class hierarchy is not available ({type(e).__name__}: {e}): "
              + ("mistakes are measured on the fallback tree." if fallback is not None else
                 "no hierarchy-aware metrics in this run."))
        return fallback


def hierarchical_rows(labels, hierarchy, scored=None, decided=None, crm=(), distance=None):
    """`hierarchical_summary` of each compared model, over the LCA-height distance of `hierarchy`.

    Args:
        labels: int class labels [n].
        hierarchy: the `Hierarchy` the mistakes are measured on.
        scored: dict model name -> scores or probabilities [n, classes] (the prediction is the argmax).
        decided: dict model name -> predicted classes [n] (e.g. HierNet's routed class: no distance@k).
        crm: names in `scored` (probabilities) that also get a row `"<name> + CRM"`: the risk-minimising decision.
        distance: the distance matrix, if already computed.

    Returns:
        dict row name -> `hierarchical_summary` dict, in the order given (each CRM row after its model).
    """
    from keras_hier.metrics import hierarchical_summary, lca_distance, risk_minimising_decision

    distance = lca_distance(hierarchy) if distance is None else distance
    rows = {}
    for name, scores in (scored or {}).items():
        rows[name] = hierarchical_summary(labels, hierarchy, y_score=scores, distance=distance)
        if name in crm:
            rows[f"{name} + CRM"] = hierarchical_summary(labels, hierarchy, distance=distance,
                                                         y_pred=risk_minimising_decision(scores, distance))
    for name, predicted in (decided or {}).items():
        rows[name] = hierarchical_summary(labels, hierarchy, y_pred=predicted, distance=distance)
    return rows


def print_rows(rows, title):
    """Prints the rows' accuracy, hF1, mistake severity and distance@5 as a small table."""
    width = max([len(n) for n in rows] + [len(title)]) + 2
    print(f"\n{title:<{width}}{'accuracy':>10}{'hF1':>8}{'severity':>10}{'dist@5':>9}")
    for name, row in rows.items():
        cells = [f"{row['accuracy']:>10.4f}", f"{row['hierarchical_f1']:>8.4f}", f"{row['mistake_severity']:>10.3f}",
                 f"{row['hierarchical_distance@5']:>9.3f}" if "hierarchical_distance@5" in row else f"{'-':>9}"]
        print(f"{name:<{width}}" + "".join(cells))


def path_consistency(labels, hierarchy, probabilities):
    """Full-path accuracy and the inconsistent-path ratio of each model's level marginals on `hierarchy` (dict model
    name -> probabilities [n, classes])."""
    from keras_hier.metrics import full_path_accuracy, inconsistent_path_ratio, level_predictions

    out = {}
    for name, p in probabilities.items():
        levels = level_predictions(np.asarray(p), hierarchy)
        out[name] = {"full_path_accuracy": full_path_accuracy(labels, levels, hierarchy),
                     "inconsistent_path_ratio": inconsistent_path_ratio(levels, hierarchy)}
    return out


def summarise_rows(runs):
    """Mean ± sd over seeds of `hierarchical_rows` results (a list, one per seed), for the rows and keys all share."""
    from ._common import mean_and_spread

    rows = [r for r in runs[0] if all(r in run for run in runs)]
    return {r: {k: mean_and_spread([run[r][k] for run in runs]) for k in runs[0][r] if all(k in run[r] for run in runs)}
            for r in rows}

"""Plots a person would rather look at than read: CPM heatmaps, class trees, per-group accuracy bars, t-SNE maps.

Every function writes a PNG (atomically: to a temporary name, then moved into place) and returns its path.
matplotlib runs with the non-interactive Agg backend.
"""

import os
import textwrap

import numpy as np

from keras_hier._io import atomic_file


def _figure(width, height):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, plt.figure(figsize=(width, height), dpi=110)


def _save(plt, fig, path):
    try:
        with atomic_file(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return os.fspath(path)


def plot_cpm(cpm, class_names, path, groups=None, title="Confusion-probability matrix"):
    """A heatmap of a confusion-probability matrix (log colour scale), classes ordered by group.

    Args:
        cpm: matrix [C, C]; `cpm[i, j]` = mean probability of class j for images of class i.
        class_names: the C class names.
        path: the PNG file to write.
        groups: optional list of groups (lists of class indices) to order the classes by and outline.
        title: the figure title.
    """
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    cpm = np.asarray(cpm, np.float64)
    order = [i for g in groups for i in g] if groups else list(range(len(cpm)))
    size = max(4.0, 0.35 * len(order) + 2)
    plt, fig = _figure(size + 1, size)
    ax = fig.add_subplot(111)
    shown = np.clip(cpm[np.ix_(order, order)], 1e-5, 1)
    image = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=1e-4, vmax=1))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="mean predicted probability")
    if len(order) <= 40:
        labels = [class_names[i] for i in order]
        ax.set_xticks(range(len(order)), labels, rotation=90, fontsize=8)
        ax.set_yticks(range(len(order)), labels, fontsize=8)
    start = 0
    for g in groups or []:
        ax.add_patch(Rectangle((start - 0.5, start - 0.5), len(g), len(g), fill=False, edgecolor="red", linewidth=1.5))
        start += len(g)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return _save(plt, fig, path)


def plot_hierarchy(hierarchy, path, title=None, values=None):
    """A drawing of a tree hierarchy, root at the top, classes at the bottom in the tree's order (no crossings).

    Args:
        hierarchy: a tree `keras_hier.Hierarchy` (a DAG is drawn through `to_tree()`).
        path: the PNG file to write.
        title: optional title.
        values: optional dict node -> number written under the node (e.g. its accuracy).
    """
    tree = hierarchy if hierarchy.is_tree else hierarchy.to_tree()
    x = {}

    def order(node):
        if tree.is_leaf(node):
            x[node] = float(len(x))
        for child in tree.children(node):
            order(child)

    order(tree.root)

    def place(node):
        if node not in x:
            x[node] = float(np.mean([place(c) for c in tree.children(node)]))
        return x[node]

    place(tree.root)
    depth = tree.max_depth
    width = max(6.0, 1.1 * tree.num_classes)
    plt, fig = _figure(width, 1.6 * depth + 2)
    ax = fig.add_subplot(111)
    for node in tree.nodes:
        for child in tree.children(node):
            ax.plot([x[node], x[child]], [-tree.depth(node), -tree.depth(child)], color="0.6", zorder=1)
    for node in tree.nodes:
        leaf = tree.is_class(node)
        label = "\n".join(textwrap.wrap(tree.name(node), 14 if leaf else 22)) or tree.name(node)  # whole names
        if values and node in values:
            label += f"\n{values[node]:.3f}"
        ax.text(
            x[node], -tree.depth(node), label, ha="center", va="top" if leaf else "center", fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "#dde8f5" if leaf else "#f5e6c8", "edgecolor": "0.5"}, zorder=2,
        )
    ax.set_xlim(-1, tree.num_classes)
    ax.set_ylim(-depth - 0.7, 0.5)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return _save(plt, fig, path)


def plot_bars(values, path, title, ylabel="accuracy", reference=None, errors=None):
    """Bars of named values from 0, one colour per model with a legend: `{model: value}` (one bar each), or grouped,
    `{model: {group: value}}` (e.g. each model's many / medium / few-shot accuracy side by side per group).

    The axis starts at 0 so that bar heights compare truthfully; each bar is labelled with its value. With
    `reference` (one bar per model), a second panel shows each other model's difference to the reference in points
    (100 x), on an axis of at least ±1 point: a one-point difference reads at a glance there, which it cannot on
    an axis from 0 to 1.

    Args:
        values: dict model -> value, or model -> dict group -> value, drawn in order (NaN: an empty bar "n/a").
        path: the PNG file to write.
        title: the figure title.
        ylabel: the y axis label.
        reference: optional (label, value): the model the others are compared with, in the second panel.
        errors: optional spreads (e.g. the sd over seeds) shaped as `values`, drawn as error bars.

    Example:
    >>> plot_bars({"backbone": 0.93, "HierNet": 0.931}, "/tmp/bars.png", "Test accuracy")  # doctest: +SKIP
    >>> plot_bars({"CE": {"many": 0.9, "few": 0.2}, "ours": {"many": 0.88, "few": 0.4}}, "/tmp/g.png", "LT")  # doctest: +SKIP
    """
    grouped = bool(values) and all(isinstance(v, dict) for v in values.values())
    series = {m: dict(v) for m, v in values.items()} if grouped else {m: {m: v} for m, v in values.items()}
    spread = (errors or {}) if grouped else {m: {m: e} for m, e in (errors or {}).items()}
    groups = list(dict.fromkeys(g for v in series.values() for g in v))
    width = 0.8 / len(series) if grouped else 0.8
    compared = reference is not None and not grouped
    plt, fig = _figure(max(4.0, (0.8 * len(series) if grouped else 0.8) * len(groups) + 2) * (1.8 if compared else 1),
                       4)
    ax = fig.add_subplot(121 if compared else 111)
    colours = plt.get_cmap("tab10" if len(series) <= 10 else "tab20")
    top = 0.0
    for i, (model, by_group) in enumerate(series.items()):
        shift = (i - (len(series) - 1) / 2) * width if grouped else 0.0
        xs = [groups.index(g) + shift for g in by_group]
        raw = [float(v) for v in by_group.values()]
        heights = [h if np.isfinite(h) else 0.0 for h in raw]
        err = [float(spread.get(model, {}).get(g, 0.0)) for g in by_group]
        ax.bar(xs, heights, width=width * 0.95, color=colours(i % colours.N), label=model,
               yerr=err if errors else None, capsize=3 if errors else 0)
        for x, h, r, e in zip(xs, heights, raw, err):
            digits = 3 if grouped else 4  # single bars: 0.9314 vs 0.9276 must read apart
            text = (f"{h:.{digits}f}" + (f"\n±{e:.{digits}f}" if errors else "")) if np.isfinite(r) else "n/a"
            ax.text(x, h + e, text, ha="center", va="bottom", fontsize=7 if grouped else 8)
            top = max(top, h + e)
    ax.set_xticks(range(len(groups)), groups, rotation=0 if grouped else 30, ha="center" if grouped else "right",
                  fontsize=8)
    ax.set_ylim(0.0, 1.15 if 0 < top <= 1 else (top * 1.15 or 1.0))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10 if compared else None)
    if compared:
        _difference_panel(fig, series, spread if errors else None, reference, colours)
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _save(plt, fig, path)


def _difference_panel(fig, series, spread, reference, colours):
    """`plot_bars`' second panel: each model's value minus the reference's, in points, on an axis of at least ±1."""
    label, base = reference
    ax = fig.add_subplot(122)
    others = [(i, m, float(v[m])) for i, (m, v) in enumerate(series.items()) if m != label]
    extent = 1.0
    for k, (i, model, value) in enumerate(others):
        points = 100 * (value - float(base)) if np.isfinite(value) else 0.0
        err = 100 * float((spread or {}).get(model, {}).get(model, 0.0))
        ax.bar(k, points, width=0.76, color=colours(i % colours.N), yerr=err if spread else None,
               capsize=3 if spread else 0)
        text = f"{points:+.2f}" if np.isfinite(value) else "n/a"
        ax.text(k, points + (err if points >= 0 else -err), text, ha="center", va="bottom" if points >= 0 else "top",
                fontsize=8)
        extent = max(extent, abs(points) + err)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(others)), [m for _, m, _ in others], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(-1.25 * extent, 1.25 * extent)
    ax.set_ylabel(f"minus {label}, points")
    ax.set_title(f"difference to {label} ({100 * float(base):.2f})", fontsize=10)
    fig.subplots_adjust(wspace=0.45)


def plot_class_graph(graph, path, title=None, max_nodes=150):
    """A drawing of a `ClassGraph`: seen, unseen and external nodes in three colours on a circle, edges drawn
    with their WUP similarity as line weight (self loops left out).

    Args:
        graph: a `keras_hier.knowledge.ClassGraph`.
        path: the PNG file to write.
        title: optional title.
        max_nodes: draw all targets and at most this many nodes in all (externals with the most target edges
            first), so that ImageNet-sized graphs stay readable.
    """
    from matplotlib.collections import LineCollection

    colours = {"seen": "#4c72b0", "unseen": "#dd8452", "external": "#8c8c8c"}
    targets = list(graph.indices("target"))
    externals = list(graph.indices("external"))
    source, target = graph.edges[:, 0], graph.edges[:, 1]
    if len(targets) + len(externals) > max_nodes:
        into_targets = (source != target) & np.isin(target, targets)
        links = np.bincount(source[into_targets], minlength=graph.num_nodes)
        externals = sorted(externals, key=lambda i: -links[i])[: max(0, max_nodes - len(targets))]
    shown = np.asarray(targets + externals, int)
    angles = 2 * np.pi * np.arange(len(shown)) / max(len(shown), 1)
    pos = np.zeros((graph.num_nodes, 2))
    pos[shown] = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    drawn = (source < target) & np.isin(source, shown) & np.isin(target, shown)
    plt, fig = _figure(8, 8)
    ax = fig.add_subplot(111)
    # One collection for all edges and one scatter per kind: ImageNet-sized graphs draw in about a second.
    ax.add_collection(LineCollection(np.stack([pos[source[drawn]], pos[target[drawn]]], axis=1), colors="0.7",
                                     linewidths=0.3 + 2.5 * (graph.wup[drawn] - graph.threshold), zorder=1,
                                     alpha=min(1.0, 2000 / max(int(drawn.sum()), 1))))  # dense graphs: fainter
    kinds = np.asarray(graph.kinds)[shown]
    for kind, colour in colours.items():
        ax.scatter(*pos[shown[kinds == kind]].T, s=120, color=colour, zorder=2, edgecolors="black", linewidths=0.5,
                   label=f"{kind} ({int(graph.mask(kind).sum())})")
    for n, angle in zip(shown, angles):
        x, y = pos[n]
        ax.text(1.1 * x, 1.1 * y, graph.names[n], fontsize=8, ha="center", va="center",
                rotation=np.degrees(angle) if len(shown) > 24 else 0)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    cut = f" among {len(shown)} of {graph.num_nodes} nodes" if len(shown) < graph.num_nodes else ""
    ax.set_title(title or f"Class graph: WUP >= {graph.threshold}, {int(drawn.sum())} edges drawn{cut}")
    return _save(plt, fig, path)


def plot_attended(attended, path, title="Classes a few-shot class borrows from"):
    """One panel per query class: its most attended classes as bars (attention), each labelled with its WordNet
    Leacock-Chodorow similarity to the query (the supplement's Figure 3).

    Args:
        attended: dict query name -> list of `{"class", "attention", "lch"}` dicts, most attended first.
        path: the PNG file to write.
        title: the figure title.
    """
    queries = list(attended)
    plt, fig = _figure(4.5 * max(1, len(queries)), 4)
    for i, query in enumerate(queries):
        ax = fig.add_subplot(1, max(1, len(queries)), i + 1)
        rows = attended[query][::-1]
        ax.barh(range(len(rows)), [r["attention"] for r in rows], color="#4c72b0")
        ax.set_yticks(range(len(rows)), [f"{r['class']} (LCH {r['lch']:.2f})" for r in rows], fontsize=8)
        ax.set_xlabel("attention")
        ax.set_title(query, fontsize=9)
    fig.suptitle(title)
    return _save(plt, fig, path)


def plot_tsne(features, labels, path, class_names=None, title="t-SNE of the features", max_points=1000, seed=0,
              iterations=500):
    """Side-by-side 2-D t-SNE maps (scikit-learn) of one or more feature sets of the same images, coloured by class.

    Args:
        features: dict name -> float array [n, d] (e.g. {"MoCo v2": ..., "HIRL-MoCo v2": ...}).
        labels: int class of each image [n].
        path: the PNG file to write.
        class_names: optional names of the classes for the legend.
        title: the figure title.
        max_points: images drawn (a fixed random subset when there are more).
        seed: of the subset and of t-SNE.
        iterations: t-SNE's optimisation steps (scikit-learn's `max_iter`, at least 250, the early-exaggeration
            phase). 500 instead of scikit-learn's 1,000 halves the time: 15.6 s instead of 33.6 s a map of 2,000
            points of 128-d features on 2 CPU cores; the map is a picture, not a score.
    """
    from sklearn.manifold import TSNE

    labels = np.asarray(labels).reshape(-1)
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(labels), size=min(max_points, len(labels)), replace=False))
    plt, fig = _figure(5.0 * len(features) + 1.5, 5)
    cmap = plt.get_cmap("tab10" if labels.max() < 10 else "tab20")
    for i, (name, x) in enumerate(features.items()):
        x = np.asarray(x, np.float32)[keep]
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        xy = TSNE(2, init="pca", random_state=seed, max_iter=max(250, int(iterations)),
                  perplexity=min(30.0, max(2.0, (len(x) - 1) / 3))).fit_transform(x)
        ax = fig.add_subplot(1, len(features), i + 1)
        for c in np.unique(labels[keep]):
            mask = labels[keep] == c
            ax.scatter(xy[mask, 0], xy[mask, 1], s=3, color=cmap(int(c) % cmap.N),
                       label=class_names[c] if class_names is not None else str(c))
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=4, fontsize=8)
    fig.suptitle(title)
    return _save(plt, fig, path)

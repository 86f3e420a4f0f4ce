"""Plots: each writes a real PNG atomically and leaves nothing else behind."""

import numpy as np

from keras_hier import Hierarchy, plotting
from keras_hier.knowledge import ClassGraph

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_write_pngs(tmp_path):
    cpm = np.array([[0.8, 0.15, 0.05], [0.1, 0.85, 0.05], [0.02, 0.03, 0.95]])
    tree = Hierarchy.from_nested({"root": {"g1": ["cat", "dog"], "car": None}})
    graph = ClassGraph(["cat", "dog", "wolf", "car"], ["cat.n.01", "dog.n.01", "wolf.n.01", "car.n.01"],
                       ["seen", "unseen", "external", "external"], np.eye(4, dtype="float32"))
    paths = [
        plotting.plot_cpm(cpm, ["cat", "dog", "car"], tmp_path / "cpm.png", groups=[[2], [0, 1]]),
        plotting.plot_hierarchy(tree, tmp_path / "tree.png", values={"root": 0.9}),
        plotting.plot_bars({"backbone": 0.8, "HierNet": 0.85, "few": float("nan")}, tmp_path / "bars.png", "accuracy",
                           reference=("b", 0.8)),
        plotting.plot_class_graph(graph, tmp_path / "graph.png"),
        plotting.plot_class_graph(graph, tmp_path / "graph_small.png", max_nodes=3),
        plotting.plot_attended({"Sandal": [{"class": "Sneaker", "attention": 0.6, "lch": 2.5}]}, tmp_path / "att.png"),
    ]
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == PNG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["att.png", "bars.png", "cpm.png", "graph.png",
                                                           "graph_small.png", "tree.png"]


def test_bars_start_at_zero_with_a_colour_per_model_and_differences_in_points(tmp_path, monkeypatch):
    from keras_hier import plotting

    figures = []
    save = plotting._save

    def keep(plt, fig, path):
        figures.append(fig.axes)
        return save(plt, fig, path)

    monkeypatch.setattr(plotting, "_save", keep)
    plotting.plot_bars({"backbone": 0.93, "HierNet slow": 0.931, "HierNet fast": 0.92}, tmp_path / "a.png", "t",
                       reference=("backbone", 0.93), errors={"backbone": 0.002, "HierNet slow": 0.001})
    plotting.plot_bars({"CE": {"many": 0.9, "few": 0.2}, "ours": {"many": 0.88, "few": 0.4}}, tmp_path / "b.png", "t")
    (absolute, difference), (grouped,) = figures
    assert absolute.get_ylim()[0] == 0 and absolute.get_ylim()[1] > 0.93 and grouped.get_ylim()[0] == 0
    assert len(absolute.patches) == 3 and len({tuple(p.get_facecolor()) for p in absolute.patches}) == 3
    assert not [line for line in absolute.lines if line.get_linestyle() == "--"]  # no reference line to overlap
    # The second panel: the others minus the reference, in points; a one-point difference fills the axis.
    assert [round(p.get_height(), 6) for p in difference.patches] == [0.1, -1.0]
    assert [t.get_text() for t in difference.texts] == ["+0.10", "-1.00"]
    assert np.allclose(difference.get_ylim(), (-1.25, 1.25)) and difference.get_ylabel() == "minus backbone, points"
    assert [t.get_text() for t in grouped.get_legend().get_texts()] == ["CE", "ours"]
    assert len(grouped.patches) == 4 and len({tuple(p.get_facecolor()) for p in grouped.patches}) == 2


def test_class_graph_title_counts_what_it_draws(tmp_path, monkeypatch):
    titles = []
    save = plotting._save
    monkeypatch.setattr(plotting, "_save", lambda plt, fig, path: (titles.append(fig.axes[0].get_title()),
                                                                    save(plt, fig, path))[1])
    graph = ClassGraph(["cat", "dog", "wolf", "car"], ["cat.n.01", "dog.n.01", "wolf.n.01", "car.n.01"],
                       ["seen", "unseen", "external", "external"], np.eye(4, dtype="float32"))
    undirected = int(((graph.edges[:, 0] < graph.edges[:, 1])).sum())
    plotting.plot_class_graph(graph, tmp_path / "all.png")
    plotting.plot_class_graph(graph, tmp_path / "cut.png", max_nodes=3)
    assert titles[0] == f"Class graph: WUP >= {graph.threshold}, {undirected} edges drawn"
    assert titles[1].endswith("edges drawn among 3 of 4 nodes") and int(titles[1].split(", ")[1].split()[0]) <= undirected

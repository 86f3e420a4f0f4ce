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


def test_bars_start_at_zero_with_a_colour_and_legend_entry_per_model(tmp_path, monkeypatch):
    from keras_hier import plotting

    figures = []
    save = plotting._save

    def keep(plt, fig, path):
        ax = fig.axes[0]
        figures.append((ax.get_ylim(), [t.get_text() for t in ax.get_legend().get_texts()],
                        {tuple(p.get_facecolor()) for p in ax.patches}, len(ax.patches)))
        return save(plt, fig, path)

    monkeypatch.setattr(plotting, "_save", keep)
    plotting.plot_bars({"backbone": 0.93, "HierNet slow": 0.931, "HierNet fast": 0.929}, tmp_path / "a.png", "t",
                       reference=("backbone", 0.93), errors={"backbone": 0.002, "HierNet slow": 0.001})
    plotting.plot_bars({"CE": {"many": 0.9, "few": 0.2}, "ours": {"many": 0.88, "few": 0.4}}, tmp_path / "b.png", "t")
    (ylim, legend, colours, bars), (ylim2, legend2, colours2, bars2) = figures
    assert ylim[0] == 0 and ylim[1] > 0.93 and ylim2[0] == 0
    assert set(legend) == {"backbone (reference)", "backbone", "HierNet slow", "HierNet fast"}
    assert bars == 3 and len(colours) == 3
    assert legend2 == ["CE", "ours"] and bars2 == 4 and len(colours2) == 2  # one colour per model, grouped

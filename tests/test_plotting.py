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

"""RelationalGraphConv throughput on the COCO + ImageNet class graph: `python -m benchmarks.rgcn`.

Builds the paper's graph (80 COCO classes and the 976 ImageNet-1k classes that are not a COCO class's synset,
an edge wherever WUP >= 0.5, self loops) and times one forward + backward pass of a RelationalGraphConv layer
(dim 256 -> 256) on node states [batch, nodes, 256], by the dense path and by the sparse (TF-GNN edge list)
path, and, when PyTorch Geometric is installed (`pip install torch==2.13.0 torch_geometric`, benchmark only),
PyG's GCNConv on the same edges. The edge-list paths hold one message per edge and image (439,000 edges x 256
floats = 450 MB per image), so they run at `--sparse-batch`; every result is given in images per second and as a
ratio to the layer's chosen path, all in one process. `--threshold` makes sparser graphs (e.g. 0.9).
"""

import argparse
import time

import numpy as np

from benchmarks._timing import median_seconds


def coco_graph(threshold):
    from keras_hier.knowledge import ClassGraph, label_sets

    return ClassGraph.build(label_sets.COCO_CLASSES, unseen=label_sets.COCO_UNSEEN, threshold=threshold)


def keras_step(layer, states):
    import tensorflow as tf

    x = tf.constant(states)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            out = layer(x, training=True)
            loss = tf.reduce_mean(tf.square(out))
        return tape.gradient(loss, layer.trainable_weights)

    return lambda: [g.numpy() for g in step()]


def pyg_step(graph, batch, dim):
    import torch
    from torch_geometric.nn import GCNConv

    torch.manual_seed(0)
    conv = GCNConv(dim, dim, node_dim=1, add_self_loops=False)  # the graph's own self loops are in the edges
    edges = torch.as_tensor(graph.edges.T.copy(), dtype=torch.long)
    x = torch.randn(batch, graph.num_nodes, dim)

    def step():
        conv.zero_grad()
        loss = conv(x, edges).square().mean()
        loss.backward()
        return loss.item()

    return step


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rgcn", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="images per step for the dense path")
    parser.add_argument("--sparse-batch", type=int, default=2, help="images per step for the edge-list paths")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from keras_hier.layers import RelationalGraphConv

    t = time.perf_counter()
    graph = coco_graph(args.threshold)
    print(f"{graph}, density {graph.density:.3f} ({time.perf_counter() - t:.1f} s)")
    rng = np.random.default_rng(0)
    chosen = RelationalGraphConv(args.dim, graph).chosen_propagation
    rates = {}
    for propagation, batch in (("dense", args.batch), ("sparse", args.sparse_batch)):
        layer = RelationalGraphConv(args.dim, graph, propagation=propagation)
        states = rng.normal(size=(batch, graph.num_nodes, args.dim)).astype("float32")
        seconds = median_seconds(keras_step(layer, states), args.repeats)
        rates[f"RelationalGraphConv {propagation}"] = batch / seconds
        print(f"RelationalGraphConv {propagation:<6} batch {batch:>3}: {1000 * seconds:8.1f} ms/step, "
              f"{batch / seconds:8.1f} images/s")
    try:
        step = pyg_step(graph, args.sparse_batch, args.dim)
    except ImportError:
        print("PyTorch Geometric is not installed: `pip install torch==2.13.0 torch_geometric` to compare with GCNConv.")
    else:
        seconds = median_seconds(step, args.repeats)
        rates["PyG GCNConv"] = args.sparse_batch / seconds
        print(f"PyG GCNConv (edge list) batch {args.sparse_batch:>3}: {1000 * seconds:8.1f} ms/step, "
              f"{args.sparse_batch / seconds:8.1f} images/s")
    base = rates[f"RelationalGraphConv {chosen}"]
    print(f"\nthroughput relative to the chosen path ({chosen}):")
    for name, rate in rates.items():
        print(f"  {name:<32} {rate / base:6.3f}x")
    return {f"{name} / RelationalGraphConv {chosen} throughput": rate / base for name, rate in rates.items()
            if name != f"RelationalGraphConv {chosen}"}


if __name__ == "__main__":
    main()

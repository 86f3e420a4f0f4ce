"""benchmarks.hiernet_inference: the FLOP count and the route buckets it reports, by hand on tiny models."""

import keras
import numpy as np

from benchmarks import hiernet_inference


def test_flops_count_convolutions_and_dense_layers():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 2 x (8 x 8 x 4 outputs) x (3 x 3 x 2) = 9,216
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 2 x (4 x 4 x 4) x 9 = 1,152
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3)(x)  # 2 x 4 x 3 = 24
    inner = keras.Model(inputs, outputs)
    outer_inputs = keras.Input((8, 8, 2))
    outer = keras.Model(outer_inputs, keras.layers.Dense(5)(inner(outer_inputs)))  # nested, plus 2 x 3 x 5 = 30
    assert hiernet_inference.flops(inner) == 9216 + 1152 + 24
    assert hiernet_inference.flops(outer) == 9216 + 1152 + 24 + 30


def test_routes_buckets_and_bound_on_a_small_tree():
    args = hiernet_inference.parse_args(["--n", "1", "--classes", "4", "--groups", "2", "--batches", "9",
                                         "--input-shape", "8,8,1", "--split-point", "1", "--classifier-layers", "1"])
    backbone, hiernet, images, split, extra = hiernet_inference.build(args)
    assert (split, extra, images.shape) == (1, 1, (9, 8, 8, 1))
    routes, partitions, chunks = hiernet_inference.routes_and_buckets(hiernet, images, chunk_size=4)
    root = hiernet.node_model().predict(images, verbose=0)["root"].argmax(1)
    counts = np.bincount(root, minlength=2)
    assert counts.min() > 0  # the benchmark spreads the routes over both groups
    assert [r[1] for r in routes] == [hiernet.hierarchy.children("root")[k] for k in root]
    assert partitions == 2 and chunks == sum(-(-c // 4) for c in counts)
    # A route: the root's edge (stem, block 1), its extra block (a copy of block 2) and classifier (32 -> 2), then
    # a group's edge (blocks 2 and 3) and classifier (64 -> 2); the backbone ends in a 64 -> 4 classifier instead.
    block = hiernet_inference.flops(hiernet.get_layer("node0_extra"))
    assert block > 0
    assert hiernet_inference.route_flops(hiernet, routes) == \
        hiernet_inference.flops(backbone) - 2 * 64 * 4 + block + 2 * 32 * 2 + 2 * 64 * 2

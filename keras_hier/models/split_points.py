"""Where HierNet can cut a backbone: the tensors that every path from the image to the feature map goes through."""

import keras

# Shown in errors: enough to choose from, short enough to read.
_SHOWN = 6


def _producer(tensor):
    """The operation that produced a symbolic `tensor` and that call's input tensors."""
    operation, node_index, _ = tensor._keras_history
    return operation, list(operation._inbound_nodes[node_index].input_tensors)


def find_operation(backbone, name):
    """The operation of a Functional `backbone` called `name`: a layer, or an operation that is not a layer (the
    `x + y` of a keras.applications ConvNeXt block is an `Add` operation named `add_3`, which `get_layer` cannot
    find). None where there is none."""
    for operation in backbone.operations:
        if operation.name == name:
            return operation
    return None


def _valid_cuts(backbone, features):
    """The operations (in graph order, before the one producing `features`) whose output alone carries the image to
    `features`, with that output: `[(operation, tensor), ...]`."""
    # The operations `features` depends on, in graph order (a Functional model keeps its operations sorted).
    needed, stack = set(), [features]
    while stack:
        operation, inputs = _producer(stack.pop())
        if id(operation) not in needed:
            needed.add(id(operation))
            stack.extend(inputs)
    ordered = [op for op in backbone.operations if id(op) in needed]
    position = {id(op): i for i, op in enumerate(ordered)}
    # A cut after operation i is valid when no tensor made before i is used after i: the furthest use of the
    # tensors made before i is at most i (a skip connection or a concatenation crossing i makes it larger).
    last_use = list(range(len(ordered)))
    for i, operation in enumerate(ordered):
        for node in operation._inbound_nodes:
            if not all(id(_producer(t)[0]) in position for t in node.input_tensors):
                continue  # a call of this layer in another graph
            for tensor in node.input_tensors:
                p = position[id(_producer(tensor)[0])]
                last_use[p] = max(last_use[p], i)
    cuts, reach = [], -1
    end = position[id(_producer(features)[0])]
    for i, operation in enumerate(ordered[:end]):
        outputs = keras.tree.flatten(operation.output) if i else []
        if reach <= i and len(outputs) == 1 and len(outputs[0].shape) >= 3:
            cuts.append((operation, outputs[0]))
        reach = max(reach, last_use[i])  # from here on: the furthest use of a tensor made up to operation i
    return cuts


def split_candidates(backbone, features, every=False):
    """The names of the valid split points of a Functional `backbone`, in order from the input.

    A split point is an operation whose output is the only tensor that crosses it: every path from the image to
    the feature map (`features`, a tensor) goes through it, and no skip connection or concatenation reaches over
    it. By default only the stage outputs: the last valid split point at each spatial resolution on the way down
    (ResNet50's `conv1_relu`, `conv2_block3_out`, `conv3_block4_out`, `conv4_block6_out`; ConvNeXt's `add_2`,
    `add_5`, `add_14`), leaving out preprocessing (outputs shaped as the image), padding (a resolution above the
    one reached before) and the feature map's own resolution (the last stage ends at the feature map). Where that
    leaves none (a ViT's blocks all have one shape), or with `every=True`, every valid split point.
    """
    cuts = _valid_cuts(backbone, features)
    if every:
        return [op.name for op, _ in cuts]
    image_shape = tuple(backbone.inputs[0].shape[1:])
    final = tuple(features.shape[1:-1])
    stages, reached = {}, image_shape[:-1]
    for operation, tensor in cuts:
        resolution = tuple(tensor.shape[1:-1])
        if tuple(tensor.shape[1:]) == image_shape or resolution == final:
            continue
        if len(resolution) == len(reached) and any(r is not None and q is not None and r > q
                                                   for r, q in zip(resolution, reached)):
            continue  # padding before a strided layer
        reached = resolution
        stages[resolution] = operation.name
    return list(stages.values()) or [op.name for op, _ in cuts]


def describe_candidates(names):
    """`names` for an error message: the first few and how many more."""
    if not names:
        return "none (no tensor before the feature map carries the whole image: pass a different `features=`)"
    shown = ", ".join(repr(n) for n in names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")

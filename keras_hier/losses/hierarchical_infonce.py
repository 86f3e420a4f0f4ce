"""`HierarchicalInfoNCE`: HGR-Net's outer/inner-loop InfoNCE over a class hierarchy (Yi et al., ECCV 2022)."""

import json
import math

import keras
import numpy as np
from keras import ops

from keras_hier.hierarchy import Hierarchy
from keras_hier.losses._checks import check_labels, check_width
from keras_hier.node_tables import NodeTables

WEIGHTINGS = ("equal", "increasing", "decreasing", "nl_increasing", "nl_decreasing", "inverse_count", "adaptive")
NEGATIVES = ("topk", "level", "siblings", "random")
_MASKED = -1e9  # a logit that never wins a softmax, without the NaN gradients of -inf


def _list_softmax(log_weights, levels):
    """Softmax over the last axis of `log_weights[levels]`, entries with level -1 left out (weight 0)."""
    valid = levels >= 0
    x = ops.where(valid, ops.take(log_weights, ops.maximum(levels, 0)), _MASKED)
    return ops.where(valid, ops.exp(x - ops.logsumexp(x, axis=-1, keepdims=True)), 0.0)


@keras.saving.register_keras_serializable(package="keras_hier")
class HierarchicalInfoNCE(keras.losses.Loss):
    """Hierarchical InfoNCE of HGR-Net, vectorised over the batch, in float32.

    Inputs are the logits of every node of the hierarchy but the root (`NodeTables` order: the classes
    first, so node `i` is class `i`), scaled by the model's temperature, and the class labels. For an image
    of class y with chain of ancestors c(y) = (level 0, ..., y):

    - **outer loop**: the anchors are y and its nearest ancestors, the first `max(1, ceil(outer_ratio *
      |c(y)|))` of c(y) from y upwards;
    - **inner loop**: for each anchor a, the inner nodes are a and its nearest ancestors, the first
      `max(1, ceil(inner_ratio * |c(a)|))`; inner node b picks the negatives: with `negatives="topk"` the
      nodes at the level above b (level 0 itself when b is at level 0; the official code's `topk`, k = 1),
      with `"level"` the nodes at b's own level (the paper's "current layer"), with `"siblings"` the
      children of b's parent (parents on canonical paths, in a DAG), with `"random"` any node; never a node of c(a). At most `max_classes - 1` negatives,
      drawn at random per step and group when there are more, so a compare set holds at most
      `max_classes` classes;
    - each (anchor, inner node) term is the cross-entropy of the compare set {a} + negatives with a as the
      positive, weighted by `w_out(level of a) * w_in(level of b)`, each normalised over its own list.

    The weights by level l (of L levels): `equal` 1, `increasing` l + 1, `decreasing` L - l, `nl_increasing`
    (l + 1)^3, `nl_decreasing` (L - l)^3, `inverse_count` 1 / N_l (N_l nodes at level l; the supplement's
    closed form), and `adaptive`: softmax of 100^v_l over the list, v a trainable vector initialised to
    1 / N_l (`trainable_variables`; the `DualEncoder` trains it with its own SGD optimizer, lr 1e-4).
    The adaptive vector is training state: it is not part of the loss's config.

    Ablations: `outer_loss=False` keeps y as the only anchor ("- outer loss"), `inner_loss=False` keeps
    each anchor as its only inner node ("- inner loss"). `flat=True` is the CLIP baseline: one term, y
    against the other classes (at most `max_classes - 1` of them).

    Args:
        hierarchy: a `keras_hier.Hierarchy` (tree or DAG; its canonical paths are the chains).
        outer_ratio: K, the share of c(y) used as outer anchors.
        inner_ratio: M, the share of c(a) used as inner nodes.
        negatives: `"topk"` (the official code's), `"level"`, `"siblings"` or `"random"`. With `"topk"` a class
            is never contrasted with the other classes of its own level: fine for fine-tuning a pretrained
            CLIP (the paper), not enough to train an image tower from scratch, where `"level"` is needed.
        max_classes: the largest compare set (anchor included).
        weighting: one of `WEIGHTINGS`.
        outer_loss: False for the "- outer loss" ablation.
        inner_loss: False for the "- inner loss" ablation.
        flat: the flat (CLIP) InfoNCE instead.
        excluded: nodes (names, ids or indices) never drawn as negatives, e.g. the unseen classes for inductive
            zero-shot learning (the official code draws from every node, unseen classes included).
        seed: seed of the negative sampling.
        name: the loss's name.
        reduction: Keras reduction over the batch (mean by default; an empty batch gives 0).

    Example:
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> loss = HierarchicalInfoNCE(h, weighting="equal")
    >>> logits = np.zeros((1, 4), np.float32)  # nodes: cat, dog, car, animal
    >>> # One term: cat against the level above it (car, animal) less its own chain (animal).
    >>> round(float(loss(np.array([0]), logits)), 4)
    0.6931
    """

    def __init__(
        self,
        hierarchy,
        outer_ratio=0.25,
        inner_ratio=0.5,
        negatives="topk",
        max_classes=256,
        weighting="adaptive",
        outer_loss=True,
        inner_loss=True,
        flat=False,
        excluded=None,
        seed=None,
        name="hierarchical_info_nce",
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype or "float32")
        if isinstance(hierarchy, (str, dict)):
            hierarchy = Hierarchy.from_json(hierarchy if isinstance(hierarchy, str) else json.dumps(hierarchy))
        if weighting not in WEIGHTINGS:
            raise ValueError(f"Unknown weighting {weighting!r}: use one of {WEIGHTINGS}.")
        if negatives not in NEGATIVES:
            raise ValueError(f"Unknown negatives {negatives!r}: use one of {NEGATIVES}.")
        for key, value in (("outer_ratio", outer_ratio), ("inner_ratio", inner_ratio)):
            if not 0 <= value <= 1:
                raise ValueError(f"`{key}` must be in [0, 1]; got {value}.")
        if int(max_classes) < 2:
            raise ValueError(f"`max_classes` must be at least 2 (the anchor and a negative); got {max_classes}.")
        self.hierarchy = hierarchy
        self.outer_ratio, self.inner_ratio = float(outer_ratio), float(inner_ratio)
        self.negatives, self.max_classes, self.weighting = negatives, int(max_classes), weighting
        self.outer_loss, self.inner_loss, self.flat, self.seed = bool(outer_loss), bool(inner_loss), bool(flat), seed
        self.tables = NodeTables(hierarchy)
        self.excluded = sorted({self.tables.find(c) for c in (excluded or ())})
        self._build_tables()
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.layer_weights = None
        if weighting == "adaptive" and not flat:
            counts = np.array([len(layer) for layer in self.tables.layers], np.float32)
            self.layer_weights = keras.Variable(1.0 / counts, name="hgr_layer_weights", dtype="float32")

    # Tables: per class, the grid of (outer k, inner m) terms; per group, its members.
    def _build_tables(self):
        t = self.tables
        levels = t.num_levels
        groups, group_of = self._groups()
        outer, inner = [], []
        for y in range(t.num_classes):
            chain_y = t.chain[y, : t.level[y] + 1][::-1]  # y first, then its ancestors
            n_out = 1 if (self.flat or not self.outer_loss) else max(1, math.ceil(self.outer_ratio * len(chain_y)))
            anchors = chain_y[:n_out]
            outer.append(anchors)
            rows = []
            for a in anchors:
                chain_a = t.chain[a, : t.level[a] + 1][::-1]
                n_in = 1 if (self.flat or not self.inner_loss) else max(1, math.ceil(self.inner_ratio * len(chain_a)))
                rows.append(chain_a[:n_in])
            inner.append(rows)
        k_max = max(len(a) for a in outer)
        m_max = max(len(r) for rows in inner for r in rows)
        shape = (t.num_classes, k_max, m_max)
        self._anchor = np.zeros(shape, np.int32)
        self._group = np.zeros(shape, np.int32)
        self._outer_level = np.full(shape[:2], -1, np.int32)  # -1: no such anchor
        self._inner_level = np.full(shape, -1, np.int32)  # -1: no such term
        for y in range(t.num_classes):
            for k, a in enumerate(outer[y]):
                self._outer_level[y, k] = t.level[a]
                for m, b in enumerate(inner[y][k]):
                    self._anchor[y, k, m] = a
                    self._inner_level[y, k, m] = t.level[b]
                    self._group[y, k, m] = group_of(b)
        groups = [np.setdiff1d(g, self.excluded) for g in groups]
        size = max(1, max(len(g) for g in groups))
        self._members = np.full((len(groups), size), -1, np.int32)
        for i, g in enumerate(groups):
            self._members[i, : len(g)] = g
        self._sample = size > self.max_classes - 1
        self._chain = t.chain.astype(np.int32)
        self._level = t.level.astype(np.int32)
        counts = np.array([len(layer) for layer in t.layers], np.float64)
        position = np.arange(levels, dtype=np.float64)
        raw = {
            "equal": np.ones(levels),
            "increasing": position + 1,
            "decreasing": levels - position,
            "nl_increasing": (position + 1) ** 3,
            "nl_decreasing": (levels - position) ** 3,
            "inverse_count": 1.0 / counts,
            "adaptive": np.ones(levels),
        }[self.weighting]
        self._log_raw = np.log(raw).astype(np.float32)

    def _groups(self):
        """The candidate groups and a function from an inner node to its group."""
        t = self.tables
        if self.flat:
            return [np.arange(t.num_classes)], lambda b: 0
        if self.negatives == "random":
            return [np.arange(t.num_nodes)], lambda b: 0
        if self.negatives == "topk":
            return list(t.layers), lambda b: max(int(t.level[b]) - 1, 0)
        if self.negatives == "level":
            return list(t.layers), lambda b: int(t.level[b])
        # siblings: the nodes with the same parent on their chains as b (the top level for level-0 nodes).
        # Any node can be a parent: with internal classes, classes have children too.
        parents = [-1] + list(range(t.num_nodes))
        slot = {p: i for i, p in enumerate(parents)}
        groups = [[] for _ in parents]
        for v in range(t.num_nodes):
            parent = t.chain[v, t.level[v] - 1] if t.level[v] > 0 else -1
            groups[slot[int(parent)]].append(v)
        keep = [i for i, g in enumerate(groups) if g]
        remap = {old: new for new, old in enumerate(keep)}

        def group_of(b):
            parent = t.chain[b, t.level[b] - 1] if t.level[b] > 0 else -1
            return remap[slot[int(parent)]]

        return [np.array(groups[i]) for i in keep], group_of

    @property
    def trainable_variables(self):
        """The adaptive layer weights (empty for the fixed weightings)."""
        return [] if self.layer_weights is None else [self.layer_weights]

    def level_log_weights(self):
        """Unnormalised log weight of each level (before the softmax over a term list)."""
        if self.layer_weights is None:
            return ops.convert_to_tensor(self._log_raw)
        return ops.power(100.0, ops.cast(self.layer_weights, "float32"))

    def _negatives(self):
        """[groups, S] node ids of this step's negatives per group (-1: none)."""
        members = ops.convert_to_tensor(self._members)
        if not self._sample:
            return members
        scores = keras.random.uniform(ops.shape(members), seed=self.seed_generator)
        scores = ops.where(members >= 0, scores, -1.0)
        _, picked = ops.top_k(scores, self.max_classes - 1)
        return ops.take_along_axis(members, picked, axis=1)

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        check_width(logits, self.tables.num_nodes, "HierarchicalInfoNCE (one logit per node but the root)")
        labels = check_labels(ops.cast(ops.reshape(y_true, (-1,)), "int32"), 0, self.tables.num_classes - 1,
                              "HierarchicalInfoNCE")
        batch = ops.shape(logits)[0]
        anchor = ops.take(ops.convert_to_tensor(self._anchor), labels, axis=0)  # [B, K, M]
        group = ops.take(ops.convert_to_tensor(self._group), labels, axis=0)
        inner_level = ops.take(ops.convert_to_tensor(self._inner_level), labels, axis=0)
        outer_level = ops.take(ops.convert_to_tensor(self._outer_level), labels, axis=0)  # [B, K]
        k_max, m_max = self._anchor.shape[1], self._anchor.shape[2]

        # Term weights: softmax of the level log-weights over each outer list and each inner list.
        log_w = self.level_log_weights()
        w_out = _list_softmax(log_w, outer_level)  # [B, K]
        w_in = _list_softmax(log_w, inner_level)  # [B, K, M]
        weight = w_out[:, :, None] * w_in

        # Positive and negative logits of each term.
        terms = k_max * m_max
        anchor = ops.reshape(anchor, (batch, terms))
        positive = ops.take_along_axis(logits, anchor, axis=1)  # [B, T]
        members = ops.take(self._negatives(), ops.reshape(group, (batch, terms)), axis=0)  # [B, T, S]
        size = ops.shape(members)[-1]
        safe = ops.maximum(members, 0)
        negative = ops.reshape(
            ops.take_along_axis(logits, ops.reshape(safe, (batch, terms * size)), axis=1), (batch, terms, size)
        )
        # A member is a negative unless it is padding or on the anchor's chain (its ancestor at its level).
        anchor_chain = ops.take(ops.convert_to_tensor(self._chain), anchor, axis=0)  # [B, T, L]
        member_level = ops.take(ops.convert_to_tensor(self._level), safe, axis=0)  # [B, T, S]
        on_chain = ops.take_along_axis(anchor_chain, member_level, axis=2) == members
        negative = ops.where((members >= 0) & ~on_chain, negative, _MASKED)
        both = ops.concatenate([positive[..., None], negative], axis=-1)
        term_loss = ops.logsumexp(both, axis=-1) - positive  # [B, T]
        return ops.sum(ops.reshape(weight, (batch, terms)) * term_loss, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            hierarchy=self.hierarchy.to_json(),
            outer_ratio=self.outer_ratio,
            inner_ratio=self.inner_ratio,
            negatives=self.negatives,
            max_classes=self.max_classes,
            weighting=self.weighting,
            outer_loss=self.outer_loss,
            inner_loss=self.inner_loss,
            flat=self.flat,
            excluded=self.excluded,
            seed=self.seed,
        )
        return config

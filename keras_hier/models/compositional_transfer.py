"""`CompositionalTransferHead`: training-free classifiers for rare classes, composed from the learnt classifiers of
common classes by prototype-to-classifier attention (Parisot et al., CVPR 2022)."""

import keras
import numpy as np
from keras import ops

from keras_hier._validation import check_finite, check_number


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


ATTENTIONS = ("p->w", "w->p", "w->w", "p->p")


def _roles(counts, k):
    """Targets and sources of w^h(k): (targets, sources), int64 index arrays.

    The thresholds follow OLTR's shot groups (few < 20 <= medium <= 100 < many): a class is a source when it
    has at least k images, except that k = 100 (the many-shot boundary) asks for more than 100, so w^h(20)
    rebuilds exactly the few-shot classes and w^h(100) exactly the few- and medium-shot ones. k = 0 rebuilds
    every class from every class.
    """
    from keras_hier.datasets.long_tail import MANY_SHOT_MIN

    counts = np.asarray(counts).reshape(-1)
    if k == 0:
        return np.arange(len(counts)), np.arange(len(counts))
    source = counts >= (MANY_SHOT_MIN if k == MANY_SHOT_MIN - 1 else k)
    return np.flatnonzero(~source), np.flatnonzero(source)


def _attention(queries, keys, temperature):
    """Row-wise softmax of <query, key> / temperature."""
    scores = queries @ keys.T / temperature
    attention = np.exp(scores - scores.max(axis=1, keepdims=True))
    return attention / attention.sum(axis=1, keepdims=True)


def transfer_weights(classifier, prototypes, counts, k, temperature=0.1, mix=1.0, continual=False, num_heads=1,
                     attention="p->w"):
    """Class weight vectors after compositional knowledge transfer, w^h(k) (or w^hc(k) with `continual`).

    The main paper's Eqs. 4-6 could not be read; this follows the reconstruction in the design notes
    (METHODS.md 4.3): the targets are the classes below the shot threshold `k` and the sources the others, with
    OLTR's groups (few < 20 <= medium <= 100 < many): w^h(20) rebuilds the few-shot classes from the medium- and
    many-shot ones, w^h(100) the few- and medium-shot classes from the many-shot ones (a class with exactly 100
    images is medium-shot, so a target), w^h(0) every class from every class. A target's prototype attends over
    the sources' normalised classifier weights, alpha_cj = softmax_j(<p_c, w_j> / temperature), and its new
    weight is normalise(own + mix * sum_j alpha_cj w_j), where `own` is its learnt classifier w_c, or its
    prototype p_c in the continual variant (a class added without training). Other classes keep their classifier.
    With `num_heads` > 1 the feature dimensions split into that many chunks, each with its own attention (sources
    may differ per chunk). `attention` swaps the roles as the supplement's Table 1 ablation: `"p->w"` (the
    paper: prototypes query classifier weights), `"w->p"` (classifier weights query prototypes, which are also
    the values), `"w->w"` and `"p->p"` (one kind of class representation only).

    Args:
        classifier: the learnt class weights [C, dim] (any norm), e.g. `CosineClassifier.normalized_weights()`.
        prototypes: class prototypes [C, dim] (`class_prototypes`).
        counts: training images per class [C].
        k: the shot threshold.
        temperature: tau of the attention.
        mix: lambda, the weight of the transferred part.
        continual: build targets from their prototypes instead of their classifier weights.
        num_heads: attention heads over feature chunks (dim must divide).
        attention: `"query->key"` representations, one of `ATTENTIONS` (p: prototypes, w: classifier weights;
            the keys are also the values).

    Returns:
        float32 [C, dim] unit vectors.

    Example:
    >>> w = transfer_weights([[1, 0], [0, 1]], [[1, 0], [0.6, 0.8]], counts=[500, 3], k=20, temperature=1.0)
    >>> w.astype(float).round(3).tolist()  # class 1 (3 images) moves towards class 0's classifier; class 0 is a source
    [[1.0, 0.0], [0.707, 0.707]]
    """
    w, p = _unit(classifier), _unit(prototypes)
    counts = np.asarray(counts).reshape(-1)
    if w.shape != p.shape or w.ndim != 2 or len(counts) != len(w):
        raise ValueError(f"Expected classifier and prototypes [C, dim] and C counts; got {w.shape}, {p.shape}, "
                         f"{counts.shape}.")
    check_finite(w, "classifier")
    check_finite(p, "prototypes")
    k = check_number(k, "k", low=0)
    temperature = check_number(temperature, "temperature", low=0, low_open=True)
    mix = check_number(mix, "mix")
    num_heads = check_number(num_heads, "num_heads", low=1, integer=True)
    if w.shape[1] % num_heads:
        raise ValueError(f"`num_heads` ({num_heads}) must divide the feature width {w.shape[1]}.")
    if attention not in ATTENTIONS:
        raise ValueError(f"Unknown `attention` {attention!r}: use one of {ATTENTIONS}.")
    query_from, key_from = ({"p": p, "w": w}[side] for side in attention.split("->"))
    if (counts < 0).any():
        raise ValueError(f"`counts` must be non-negative image counts; got {counts[counts < 0][:5].tolist()}.")
    targets, sources = _roles(counts, k)
    if continual:
        empty = [int(c) for c in targets if counts[c] == 0 or not np.any(p[c])]
        if empty:
            raise ValueError(f"Class(es) {empty[:10]} have no training image, so no prototype: the continual variant "
                             "builds each rebuilt class from its prototype. Give them images, or use "
                             "continual=False (their classifier weights then serve).")
    out = w.copy()
    if not len(targets):
        return out.astype(np.float32)
    if not len(sources):
        raise ValueError(f"No class has {k} or more training images to transfer from: lower k.")
    chunk = w.shape[1] // num_heads
    transferred = np.zeros((len(targets), w.shape[1]))
    for h in range(num_heads):
        part = slice(h * chunk, (h + 1) * chunk)
        queries = _unit(query_from[targets, part]) if num_heads > 1 else query_from[targets]
        keys = _unit(key_from[sources, part]) if num_heads > 1 else key_from[sources]
        transferred[:, part] = _attention(queries, keys, temperature) @ key_from[sources, part]
    own = p[targets] if continual else w[targets]
    out[targets] = _unit(own + mix * transferred)
    return out.astype(np.float32)


def attention_weights(classifier, prototypes, counts, k, temperature=0.1):
    """The attention of each target class over the source classes (single head, p->w): float64 [C, C], rows of
    non-target classes zero. For reading which classes a rare class borrows from."""
    w, p = _unit(classifier), _unit(prototypes)
    targets, sources = _roles(counts, k)
    out = np.zeros((len(w), len(w)))
    if len(targets) and len(sources):
        out[np.ix_(targets, sources)] = _attention(p[targets], w[sources], temperature)
    return out


@keras.saving.register_keras_serializable(package="keras_hier")
class CompositionalTransferHead(keras.layers.Layer):
    """A cosine classifier (or an ensemble of them) whose class weights come from compositional transfer.

    Each member is one `transfer_weights(...)` result for a shot threshold k; one member gives scaled cosine
    logits, several give log(mean of their softmax probabilities), e.g. the paper's ensemble(w^h(0), w^h(20),
    w^h(100)) with `ks=(0, 20, 100)`. The weights are fixed (non-trainable): put the head on a frozen encoder and
    the model exports like any other. Output float32 [batch, C].

    Build one with `CompositionalTransferHead.from_classifier(...)`. Computed in float32; the logits come out in the
    layer's compute dtype (give it `dtype="float32"` as a model's last layer under mixed precision).

    Args:
        weights: list of arrays [C, dim], one per member (unit vectors). Omit only when loading.
        scale: the cosine scale s of the logits.
        num_members, num_classes, dim: sizes (from `weights`; set by `from_config`).
        description: optional text naming the members (kept in the config).

    Example:
    >>> import numpy as np
    >>> head = CompositionalTransferHead.from_classifier([[1, 0], [0, 1]], [[1, 0], [0.6, 0.8]], [500, 3], ks=(0, 20))
    >>> tuple(head(np.ones((2, 2), "float32")).shape)
    (2, 2)
    """

    def __init__(self, weights=None, scale=16.0, num_members=None, num_classes=None, dim=None, description="",
                 **kwargs):
        super().__init__(**kwargs)
        if weights is not None:
            weights = np.stack([np.asarray(w, np.float32) for w in weights])
            num_members, num_classes, dim = weights.shape
        elif None in (num_members, num_classes, dim):
            raise ValueError("Pass `weights` (or build the head with `from_classifier`).")
        self.scale = check_number(scale, "scale", low=0, low_open=True)
        self.num_members, self.num_classes, self.dim = int(num_members), int(num_classes), int(dim)
        self.description = str(description)
        self._init = weights

    @classmethod
    def from_classifier(cls, classifier, prototypes, counts, ks=(20,), temperature=0.1, mix=1.0, continual=False,
                        num_heads=1, scale=None, attention="p->w", **kwargs):
        """The head for shot thresholds `ks` (one member each) from a trained classifier and the prototypes.

        Args:
            classifier: a `CosineClassifier` (its weights are read) or class weights [C, dim].
            prototypes, counts: from `class_prototypes`.
            ks: shot thresholds, one ensemble member each (an int gives one member).
            temperature, mix, continual, num_heads, attention: as `transfer_weights`.
            scale: the cosine scale (default: the classifier's when a `CosineClassifier` is given, else 16).
        """
        if hasattr(classifier, "normalized_weights"):
            scale = float(classifier.current_scale) if scale is None else scale
            classifier = classifier.normalized_weights()
        scale = 16.0 if scale is None else scale
        ks = (ks,) if np.isscalar(ks) else tuple(ks)
        members = [transfer_weights(classifier, prototypes, counts, k, temperature, mix, continual, num_heads, attention)
                   for k in ks]
        name = "w^hc" if continual else "w^h"
        description = "ensemble(" + ", ".join(f"{name}({k})" for k in ks) + ")" if len(ks) > 1 else f"{name}({ks[0]})"
        if attention != "p->w":
            description += f", {attention} attention"
        return cls(members, scale=scale, description=description, **kwargs)

    def build(self, input_shape):
        if input_shape[-1] is not None and int(input_shape[-1]) != self.dim:
            raise ValueError(f"The head's class weights have {self.dim} dimensions; features have {input_shape[-1]}.")
        init = keras.initializers.Constant(self._init) if self._init is not None else "zeros"
        self.class_weights = self.add_weight(name="class_weights", shape=(self.num_members, self.num_classes, self.dim),
                                             initializer=init, trainable=False)
        self._init = None
        self.built = True

    def call(self, features):
        x = ops.normalize(ops.cast(features, "float32"), axis=-1)
        logits = self.scale * ops.einsum("bd,mcd->mbc", x, ops.cast(self.class_weights, "float32"))
        if self.num_members > 1:  # the ensemble's log mean probability
            logits = ops.log(ops.mean(ops.softmax(logits, axis=-1), axis=0) + 1e-12)[None]
        return ops.cast(logits[0], self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "num_members": self.num_members,
                "num_classes": self.num_classes, "dim": self.dim, "description": self.description}

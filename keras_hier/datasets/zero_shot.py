"""Zero-shot class splits: seen / unseen classes of a hierarchy, and the ImageNet "2-hops" / "3-hops" sets."""

import numpy as np


def split_classes(hierarchy, unseen):
    """Seen and unseen class labels of a hierarchy.

    Args:
        hierarchy: a `keras_hier.Hierarchy`.
        unseen: the unseen classes, as leaves, their human-readable names, or labels.

    Returns:
        `(seen, unseen)`: sorted int arrays of class labels.

    Raises:
        ValueError: for an unknown class, a repeated one, or a split that leaves no seen or no unseen class.

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> split_classes(h, ["dog"])
    (array([0, 2]), array([1]))
    """
    from keras_hier.node_tables import NodeTables

    tables = NodeTables(hierarchy)
    labels = [tables.find(c, classes_only=True) for c in unseen]
    if len(set(labels)) != len(labels):
        raise ValueError(f"Unseen classes repeat: {list(unseen)}.")
    unseen = np.array(sorted(labels), np.int64)
    seen = np.setdiff1d(np.arange(hierarchy.num_classes), unseen)
    if not len(unseen) or not len(seen):
        raise ValueError(f"A zero-shot split needs seen and unseen classes; got {len(seen)} seen, {len(unseen)} unseen.")
    return seen, unseen


def hop_sets(seen, candidates, hops=(2, 3)):
    """The "n-hops" unseen sets of Wang et al. (2018), used by HGR-Net: the candidates within n steps of
    any seen class in WordNet's undirected hypernym graph; "3-hops" includes "2-hops".

    Args:
        seen: seen classes (WordNet ids, synset names or synsets), e.g. the ImageNet-1k ids.
        candidates: candidate unseen classes (WordNet ids), e.g. the other ImageNet-21K ids.
        hops: the sizes of the neighbourhoods.

    Returns:
        dict n -> list of the candidates within n hops (in the candidates' order, seen classes left out).

    Example:
    >>> hop_sets(["n02084071"], ["n02083346", "n02085620", "n01503061"], hops=(1, 2))  # dog; canine, chihuahua, bird
    {1: ['n02083346'], 2: ['n02083346', 'n02085620']}
    """
    from keras_hier.knowledge import wordnet

    seen_synsets = set(wordnet.as_synsets(seen))
    reach = wordnet.synsets_within_hops(list(seen_synsets), max(hops))
    out = {}
    synsets = wordnet.as_synsets(candidates)
    for n in sorted(hops):
        out[n] = [c for c, s in zip(candidates, synsets) if s not in seen_synsets and reach.get(s, n + 1) <= n]
    return out

"""Zero-shot splits: seen / unseen labels by name, id or label, and the n-hops sets against hop_distance."""

import numpy as np
import pytest

from keras_hier.datasets import fashion_mnist
from keras_hier.datasets.zero_shot import hop_sets, split_classes
from keras_hier.knowledge import wordnet


def test_split_classes_by_name_id_or_label():
    h = fashion_mnist.hierarchy()
    seen, unseen = split_classes(h, ["Sandal", "n03238879", 2])
    assert unseen.tolist() == [2, 5, 6] and seen.tolist() == [0, 1, 3, 4, 7, 8, 9]
    for bad, message in ((["Boot"], "not a class"), (["Sandal", 5], "repeat"), ([10], "outside"),
                         ([], "needs seen and unseen"), (list(range(10)), "needs seen and unseen"),
                         (["footwear"], "not a class")):
        with pytest.raises(ValueError, match=message):
            split_classes(h, bad)


def test_hop_sets_agree_with_hop_distance():
    seen = ["n02084071", "n02121808"]  # dog, domestic cat
    candidates = ["n02083346", "n02085620", "n02121620", "n01503061", "n02084071", "n04490091"]
    sets = hop_sets(seen, candidates, hops=(2, 3))
    for n, members in sets.items():
        want = [c for c in candidates if c not in seen
                and min(wordnet.hop_distance(c, s, max_hops=n) or 99 for s in seen) <= n]
        assert members == want
    assert set(sets[2]) <= set(sets[3]) and "n02084071" not in sets[3]
    assert np.all([c in candidates for c in sets[3]])

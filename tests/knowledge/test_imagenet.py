"""ImageNet-1k class ids and names."""

import pytest

from keras_hier.knowledge import imagenet, wordnet


def test_wnids_standard_order():
    wnids = imagenet.imagenet1k_wnids()
    assert len(wnids) == len(set(wnids)) == 1000
    assert wnids[0] == "n01440764" and wnids[207] == "n02099601" and wnids[999] == "n15075141"
    synsets = wordnet.as_synsets(wnids)
    assert [s.name() for s in synsets[:2]] == ["tench.n.01", "goldfish.n.01"]
    assert synsets[207].name() == "golden_retriever.n.01"


def test_names():
    for style in ("clean", "original", "wordnet"):
        names = imagenet.imagenet1k_names(style)
        assert len(names) == 1000 and all(isinstance(n, str) and n for n in names)
    assert imagenet.imagenet1k_names()[:2] == ["tench", "goldfish"]
    assert imagenet.imagenet1k_names("original")[207] == "golden retriever"
    assert imagenet.imagenet1k_names("wordnet")[207] == "golden retriever"
    with pytest.raises(ValueError, match="Unknown `style` 'fancy'"):
        imagenet.imagenet1k_names("fancy")

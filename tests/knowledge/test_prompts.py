"""class_prompts: one text per node, in NodeTables order, WordNet lemma names with spaces."""

import pytest

from keras_hier.datasets import fashion_mnist
from keras_hier.knowledge.prompts import class_prompts


def test_fashion_mnist_prompts():
    h = fashion_mnist.hierarchy()
    with pytest.raises(ValueError, match="'n03238879' have the same text 'a photo of a shirt.'|same text"):
        class_prompts(h)  # the class "Shirt" and its hypernym shirt.n.01
    prompts = class_prompts(h, names={"n03238879": "dress shirt"})
    assert len(prompts) == 16
    assert prompts[:2] == ["a photo of a T-shirt/top.", "a photo of a Trouser."]
    assert "a photo of a footwear." in prompts and "a photo of a garment." in prompts
    assert prompts[6] == "a photo of a dress shirt."
    assert class_prompts(h, "{}", names={"n03238879": "dress shirt"})[9] == "Ankle boot"
    with pytest.raises(ValueError, match="exactly one"):
        class_prompts(h, "a photo")

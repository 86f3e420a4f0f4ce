"""CIFAR-100 names, super-classes and hierarchy (offline), and the loader (online only)."""

import numpy as np
import pytest

from keras_hier.datasets import cifar


def network_available(host="storage.googleapis.com", port=443, timeout=3):
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def test_names_and_super_classes():
    assert len(cifar.FINE_NAMES) == len(set(cifar.FINE_NAMES)) == 100
    assert cifar.FINE_NAMES == sorted(cifar.FINE_NAMES)  # CIFAR-100's labels are alphabetical
    members = [f for fines in cifar.COARSE_CLASSES.values() for f in fines]
    assert sorted(members) == sorted(cifar.FINE_NAMES)
    coarse = cifar.coarse_of_fine()
    assert coarse.shape == (100,) and np.bincount(coarse).tolist() == [5] * 20
    assert cifar.COARSE_NAMES[coarse[cifar.FINE_NAMES.index("apple")]] == "fruit_and_vegetables"
    assert cifar.COARSE_NAMES[coarse[cifar.FINE_NAMES.index("whale")]] == "aquatic_mammals"


def test_hierarchy_matches_coarse_labels():
    h = cifar.hierarchy()
    assert h.leaves == tuple(cifar.FINE_NAMES) and h.max_depth == 2
    assert h.level(1) != cifar.COARSE_NAMES  # ordered by first fine label, not alphabetically
    remap = {name: i for i, name in enumerate(cifar.COARSE_NAMES)}
    np.testing.assert_array_equal([remap[h.level(1)[k]] for k in h.labels_at_level(1)], cifar.coarse_of_fine())


def test_bad_label_mode():
    with pytest.raises(ValueError, match="label_mode"):
        cifar.load_cifar100("medium")


@pytest.mark.network
@pytest.mark.skipif(not network_available(), reason="offline: keras.datasets cannot download CIFAR-100")
def test_load_cifar100_both():
    (x, y), (xt, yt) = cifar.load_cifar100("both")
    assert x.shape == (50000, 32, 32, 3) and y.shape == (50000, 2)
    np.testing.assert_array_equal(cifar.coarse_of_fine()[y[:, 0]], y[:, 1])

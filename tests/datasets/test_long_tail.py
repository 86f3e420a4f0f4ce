"""Long-tailed subsets and shot groups, against hand-computed counts."""

import numpy as np
import pytest

from keras_hier.datasets import long_tail


def test_pareto_counts_hand_computed():
    # C = 3, alpha = 1: x runs from 1 to (100 / 1) ** (1 / 2) = 10 in steps of 4.5; n = 100 x ** -2.
    assert long_tail.pareto_counts(3, 100, 1, alpha=1).tolist() == [100, 3, 1]
    counts = long_tail.pareto_counts(10, 6000, 5)
    assert counts[0] == 6000 and counts[-1] == 5 and (np.diff(counts) <= 0).all()
    assert long_tail.pareto_counts(1, 7).tolist() == [7]
    with pytest.raises(ValueError, match="min_per_class <= max_per_class"):
        long_tail.pareto_counts(3, 5, 10)


def test_imagenet_lt_scale_profile():
    groups = long_tail.shot_groups(long_tail.pareto_counts(1000, 1280, 5))
    sizes = {k: len(v) for k, v in groups.items()}
    assert sum(sizes.values()) == 1000
    assert 330 <= sizes["many"] <= 400  # ImageNet-LT has 385 many-shot classes


def test_pareto_subsample():
    labels = np.repeat(np.arange(5), 40)[np.random.default_rng(1).permutation(200)]
    keep = long_tail.pareto_subsample(labels, max_per_class=40, min_per_class=2, seed=3)
    assert (np.diff(keep) > 0).all()
    got = np.bincount(labels[keep], minlength=5)
    assert sorted(got.tolist(), reverse=True) == long_tail.pareto_counts(5, 40, 2).tolist()
    np.testing.assert_array_equal(keep, long_tail.pareto_subsample(labels, 40, 2, seed=3))
    assert not np.array_equal(keep, long_tail.pareto_subsample(labels, 40, 2, seed=4))


@pytest.mark.parametrize(
    "labels, kwargs, message",
    [
        (np.array([0, 1]), {"max_per_class": 2}, "has 1 images but rank 0 needs 2"),
        (np.array([0, 2, 2]), {}, r"Class\(es\) \[1\] have no images"),
        (np.array([0, 1, 5]), {"num_classes": 3}, "Label 5 is outside the class range 0..2"),
        (np.array([0, -1]), {}, "non-negative"),
        (np.array([]), {}, "non-empty"),
    ],
)
def test_pareto_subsample_errors(labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        long_tail.pareto_subsample(labels.astype(np.int64), min_per_class=1, **kwargs)


def test_shot_group_boundaries():
    groups = long_tail.shot_groups([101, 100, 20, 19, 0, 5000])
    assert groups["many"].tolist() == [0, 5]
    assert groups["medium"].tolist() == [1, 2]
    assert groups["few"].tolist() == [3, 4]
    with pytest.raises(ValueError, match="1-D"):
        long_tail.shot_groups([[1, 2]])


def test_read_split_file(tmp_path):
    from keras_hier.datasets.long_tail import read_split_file

    split = tmp_path / "ImageNet_LT_train.txt"
    split.write_text("train/n01440764/a b.JPEG 0\n\ntrain/n01443537/c.JPEG 1\n")
    files, labels = read_split_file(split, root="/data", check_files=False)
    assert files == ["/data/train/n01440764/a b.JPEG", "/data/train/n01443537/c.JPEG"] and labels.tolist() == [0, 1]
    with pytest.raises(ValueError, match="outside 0..0"):
        read_split_file(split, num_classes=1, check_files=False)
    with pytest.raises(ValueError, match=r"2 file\(s\) that do not exist, e.g. \['/data/train/n01440764/a b.JPEG'"):
        read_split_file(split, root="/data")
    with pytest.raises(ValueError, match="pass `root`"):
        read_split_file(split)
    (tmp_path / "train" / "n01440764").mkdir(parents=True)
    (tmp_path / "train" / "n01440764" / "a b.JPEG").write_bytes(b"")
    with pytest.raises(ValueError, match=r"1 file\(s\).*n01443537/c.JPEG"):
        read_split_file(split, root=tmp_path)
    split.write_text("train/x.JPEG zero\n")
    with pytest.raises(ValueError, match="line 1: expected"):
        read_split_file(split)


@pytest.mark.parametrize("alpha", [float("nan"), float("inf"), 0.0, -1.0])
def test_pareto_counts_refuses_a_bad_alpha(alpha):
    with pytest.raises(ValueError, match="`alpha` must be a positive number"):
        long_tail.pareto_counts(10, 100, 5, alpha=alpha)

"""Fashion-MNIST (70,000 28x28 grey images of 10 clothing classes), offline, with WordNet synsets."""

import gzip
import os

import numpy as np

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

#: The class names in label order, as the data set's authors give them.
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: WordNet 3.0 synset of each class, in label order. WordNet files T-shirts under shirt.n.01, which would
#: make "Shirt" an ancestor of "T-shirt/top"; Fashion-MNIST's "Shirt" is the other shirts (buttoned,
#: collared), so it maps to dress_shirt.n.01, a sibling of the T-shirt under shirt.n.01. "Bag" images are
#: handbags (bag.n.04); "Ankle boot" has no synset of its own and maps to boot.n.01.
SYNSETS = (
    "jersey.n.03",
    "trouser.n.01",
    "pullover.n.01",
    "dress.n.01",
    "coat.n.01",
    "sandal.n.01",
    "dress_shirt.n.01",
    "gym_shoe.n.01",
    "bag.n.04",
    "boot.n.01",
)

#: The WordNet ids of `SYNSETS` (ImageNet style).
WNIDS = (
    "n03595614",
    "n04489008",
    "n04021028",
    "n03236735",
    "n03057021",
    "n04133789",
    "n03238879",
    "n03472535",
    "n02774152",
    "n02872752",
)


def _read_idx(path):
    """Reads a gzipped IDX file (the MNIST format) into a uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file.")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(shape))} values, found {array.size}.")
    return array.reshape(shape)


def _candidate_dirs():
    dirs = []
    if os.environ.get("KERAS_HIER_FASHION_MNIST_DIR"):
        dirs.append(os.environ["KERAS_HIER_FASHION_MNIST_DIR"])
    dirs.append(DEBIAN_DIR)
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    dirs.append(os.path.join(keras_home, "datasets", "fashion-mnist"))
    return dirs


def find_data_dir():
    """The first folder holding the four Fashion-MNIST files: `$KERAS_HIER_FASHION_MNIST_DIR`, Debian's
    `/usr/share/datasets/fashion-mnist`, then the Keras cache `~/.keras/datasets/fashion-mnist`; or None."""
    for d in _candidate_dirs():
        if all(os.path.exists(os.path.join(d, f)) for f in FILES.values()):
            return d
    return None


def load_data(data_dir=None):
    """Loads Fashion-MNIST as `keras.datasets.fashion_mnist.load_data()` does, preferring offline copies.

    Looks in `data_dir`, else `find_data_dir()`'s folders, else downloads with `keras.datasets`.

    Args:
        data_dir: optional folder holding the four `.gz` files.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: uint8 images [60000, 28, 28] and [10000, 28, 28], uint8
        labels in 0..9 (names in `CLASS_NAMES`).

    Raises:
        RuntimeError: when no copy is found and the download fails, saying how to install one.

    Example:
    >>> (x_train, y_train), (x_test, y_test) = load_data()
    >>> x_train.shape, CLASS_NAMES[y_train[0]]
    ((60000, 28, 28), 'Ankle boot')
    """
    folder = data_dir or find_data_dir()
    if data_dir is not None and not all(os.path.exists(os.path.join(data_dir, f)) for f in FILES.values()):
        raise ValueError(f"{data_dir} does not hold the Fashion-MNIST files {sorted(FILES.values())}.")
    if folder is not None:
        arrays = {k: _read_idx(os.path.join(folder, f)) for k, f in FILES.items()}
        return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
    try:
        import keras

        return keras.datasets.fashion_mnist.load_data()
    except Exception as e:
        raise RuntimeError(
            f"Fashion-MNIST was not found in {_candidate_dirs()} and the download failed ({e}). Install it with "
            "`apt-get install dataset-fashion-mnist` (Debian; `bash scripts/install.sh` does it) or set "
            "KERAS_HIER_FASHION_MNIST_DIR to a folder with the four .gz files."
        ) from e


def hierarchy(tree=True):
    """The WordNet hierarchy of the 10 classes (leaves in label order, named by `CLASS_NAMES`).

    Args:
        tree: keep one (the shortest) hypernym path per node; False keeps WordNet's DAG.
    """
    from keras_hier.hierarchy import Hierarchy

    return Hierarchy.from_wordnet(WNIDS, class_names=CLASS_NAMES, tree=tree)

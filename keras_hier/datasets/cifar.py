"""CIFAR-100 through `keras.datasets` (needs the internet the first time), with its class names and its
20 super-classes as a `Hierarchy`."""

import numpy as np

#: The 100 fine class names in label order.
FINE_NAMES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard "
    "lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear "
    "pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal "
    "shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank "
    "telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()

#: The 20 super-classes ("coarse" labels) in label order, each with its five fine classes.
COARSE_CLASSES = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
COARSE_NAMES = tuple(COARSE_CLASSES)

_LABEL_MODES = ("fine", "coarse", "both")


def load_cifar100(label_mode="fine"):
    """Loads CIFAR-100 with `keras.datasets.cifar100` (downloads it once into the Keras cache).

    Args:
        label_mode: `"fine"` (100 classes, `FINE_NAMES`), `"coarse"` (20 super-classes, `COARSE_NAMES`) or
            `"both"` (labels are [N, 2] arrays: fine, coarse).

    Returns:
        `((x_train, y_train), (x_test, y_test))`: uint8 images [N, 32, 32, 3] and int labels [N].

    Example:
    >>> (x, y), _ = load_cifar100("both")  # doctest: +SKIP
    >>> x.shape, y.shape  # doctest: +SKIP
    ((50000, 32, 32, 3), (50000, 2))
    """
    if label_mode not in _LABEL_MODES:
        raise ValueError(f"Unknown `label_mode` {label_mode!r}: use one of {_LABEL_MODES}.")
    import keras

    try:
        if label_mode != "both":
            (x, y), (xt, yt) = keras.datasets.cifar100.load_data(label_mode=label_mode)
            return (x, y.reshape(-1)), (xt, yt.reshape(-1))
        (x, y), (xt, yt) = keras.datasets.cifar100.load_data(label_mode="fine")
        (_, yc), (_, ytc) = keras.datasets.cifar100.load_data(label_mode="coarse")
    except Exception as e:
        raise RuntimeError(
            f"CIFAR-100 could not be loaded ({e}). keras.datasets downloads it once into ~/.keras/datasets: "
            "run this with internet access, or copy cifar-100-python.tar.gz there."
        ) from e
    return (x, np.stack([y.reshape(-1), yc.reshape(-1)], 1)), (xt, np.stack([yt.reshape(-1), ytc.reshape(-1)], 1))


def coarse_of_fine():
    """int32 array [100]: the super-class label of each fine label."""
    lookup = {f: c for c, fines in enumerate(COARSE_CLASSES.values()) for f in fines}
    return np.array([lookup[f] for f in FINE_NAMES], np.int32)


def hierarchy():
    """CIFAR-100's own two-level hierarchy: root -> 20 super-classes -> 100 classes (fine label order)."""
    from keras_hier.hierarchy import Hierarchy

    parents = {c: "cifar100" for c in COARSE_NAMES}
    parents.update({f: c for c, fines in COARSE_CLASSES.items() for f in fines})
    return Hierarchy.from_parents(parents, leaves=FINE_NAMES)

"""`ArrayBatches`: `make_dataset`'s batches as a `keras.utils.PyDataset`, for any Keras backend."""

import keras
import numpy as np

from keras_hier.datasets.pipeline import _checked_arrays, class_probabilities


class ArrayBatches(keras.utils.PyDataset):
    """Normalised, optionally shuffled and augmented batches of numpy images, without TensorFlow.

    Takes `make_dataset`'s arguments and gives the same kind of batches (float32 images with a channel
    axis, int32 labels) through `keras.utils.PyDataset`, so `model.fit` runs on the JAX and PyTorch
    backends too. Deterministic for a given `seed`: pass `i` of the data set shuffles with a generator
    seeded by `(seed, i)`, and the augmentation layers' seed states are set from `(seed, i)` and the chunk's
    place before each chunk, so a batch does not depend on what was read before. Pass `shuffle=False` to
    `fit`: the batches are shuffled already.

    Args:
        images: array [N, H, W] or [N, H, W, C] (uint8 in 0..255 or floats).
        labels: int array [N] of class ids, or a 0/1 array [N, C] of multi-labels (float32 batches).
        batch_size: images per batch.
        num_classes: optional number of classes; labels outside 0..num_classes-1 raise ValueError.
        normalize: `"unit"`, `"standardize"` or `"none"`, as in `make_dataset`.
        mean: optional per-channel mean for `"standardize"`.
        std: optional per-channel standard deviation for `"standardize"`.
        augment: optional Keras preprocessing layers (a list, or `"hiernet"`), applied to each batch.
        shuffle: shuffle the examples, differently on each pass.
        seed: seed of the shuffle and of the `"hiernet"` augmentation.
        drop_remainder: drop the last incomplete batch of each pass.
        repeat: endless (`num_batches` is None: pass `steps_per_epoch` to `fit`); each pass over the
            data is whole, batches do not straddle two passes.
        augment_chunk: batches augmented together in one call of the layers (eager calls cost about
            the same for one batch as for many, on a GPU above all); read in order, the draws are the
            same on every run.
        sampling: `"instance"`, `"sqrt"` or `"class_balanced"`, as `make_dataset` (a pass is then `len(images)`
            draws with replacement).
        first_batch: with `repeat=True`, the batch that index 0 reads (as `make_dataset`'s, to resume a run).

    Example:
    >>> ds = ArrayBatches(np.zeros((10, 28, 28), np.uint8), np.arange(10), batch_size=4, augment="hiernet")
    >>> ds.num_batches, [tuple(x.shape) for x, _ in ds][-1]
    (3, (2, 28, 28, 1))
    """

    def __init__(
        self,
        images,
        labels,
        batch_size=128,
        num_classes=None,
        normalize="unit",
        mean=None,
        std=None,
        augment=None,
        shuffle=False,
        seed=0,
        drop_remainder=False,
        repeat=False,
        augment_chunk=16,
        sampling="instance",
        first_batch=0,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        if first_batch < 0 or (first_batch and not repeat):
            raise ValueError(f"`first_batch` must be 0, or at least 0 with `repeat=True`; got {first_batch}.")
        self._first_batch = int(first_batch)
        self._images, self._labels, self._scale, self._mean, self._std, self._augment = _checked_arrays(
            images, labels, num_classes, normalize, mean, std, augment, seed
        )
        self._label_dtype = np.float32 if self._labels.ndim == 2 else np.int32
        self._sampling = None
        if sampling != "instance":
            if self._labels.ndim != 1:
                raise ValueError("Class-aware `sampling` needs int class labels, not multi-label rows.")
            self._sampling = class_probabilities(self._labels, sampling)
            self._by_class = [np.flatnonzero(self._labels == c) for c in range(len(self._sampling))]
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be at least 1; got {batch_size}.")
        n = len(self._images)
        self._per_pass = n // batch_size if drop_remainder else -(-n // batch_size)
        if self._per_pass == 0:
            raise ValueError(f"{n} images make no whole batch of {batch_size}: lower `batch_size`.")
        self._batch_size, self._shuffle, self._seed, self._repeat = batch_size, shuffle, seed, repeat
        self._pass = 0  # passes finished by `fit`, for finite data sets
        self._order = (None, None)  # (pass, permutation) of the last pass read
        self._chunk = max(1, int(augment_chunk))
        self._augmented = (None, None)  # ((pass, first batch), augmented images) of the last chunk
        self._generators = []
        for layer in self._augment:
            for sub in layer._flatten_layers(include_self=True, recursive=True):
                self._generators += [g for g in getattr(sub, "_seed_generators", []) if g not in self._generators]
        self._generator_starts = [np.asarray(keras.ops.convert_to_numpy(g.state)).astype(np.int64).tolist()
                                  for g in self._generators]

    @property
    def num_batches(self):
        return None if self._repeat else self._per_pass

    def __len__(self):
        if self._repeat:
            raise TypeError("An endless (`repeat=True`) ArrayBatches has no length.")
        return self._per_pass

    def on_epoch_end(self):
        self._pass += 1

    def _permutation(self, pass_index):
        if self._order[0] != pass_index:
            n = len(self._images)
            rng = np.random.default_rng([self._seed, pass_index])
            if self._sampling is not None:  # n draws with replacement: a class, then one of its images
                classes = rng.choice(len(self._sampling), size=n, p=self._sampling)
                order = np.array([self._by_class[c][rng.integers(len(self._by_class[c]))] for c in classes])
            else:
                order = rng.permutation(n) if self._shuffle else None
            self._order = (pass_index, order)
        return self._order[1]

    def _rows(self, pass_index, first, stop):
        """Indices of the images in batches `first`..`stop - 1` of pass `pass_index`."""
        order = self._permutation(pass_index)
        rows = slice(first * self._batch_size, min(stop * self._batch_size, len(self._images)))
        return order[rows] if order is not None else np.arange(len(self._images))[rows]

    def _normalized(self, rows):
        x = self._images[rows].astype(np.float32) * np.float32(self._scale)
        return x if self._std is None else (x - self._mean) / self._std

    def __getitem__(self, index):
        if not self._repeat and not 0 <= index < self._per_pass:
            raise IndexError(f"Batch {index} of {self._per_pass}.")
        pass_index, position = divmod(index + (self._first_batch if self._repeat else 0), self._per_pass)
        pass_index += 0 if self._repeat else self._pass
        rows = self._rows(pass_index, position, position + 1)
        if not self._augment:
            return self._normalized(rows), self._labels[rows].astype(self._label_dtype)
        first = position - position % self._chunk
        if self._augmented[0] != (pass_index, first):
            x = self._normalized(self._rows(pass_index, first, min(first + self._chunk, self._per_pass)))
            for i, (generator, start) in enumerate(zip(self._generators, self._generator_starts)):
                words = np.random.SeedSequence([*(v % 2**32 for v in start), i, self._seed, pass_index, first])
                state = words.generate_state(2, np.uint32).astype(np.int64)
                generator.state.assign(keras.ops.convert_to_tensor(state, dtype=generator.state.dtype))
            for layer in self._augment:
                x = layer(x, training=True)
            self._augmented = ((pass_index, first), keras.ops.convert_to_numpy(x))
        offset = (position - first) * self._batch_size
        return self._augmented[1][offset : offset + len(rows)], self._labels[rows].astype(self._label_dtype)

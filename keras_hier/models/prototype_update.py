"""`PrototypeUpdate`: the callback that re-clusters HIRL's hierarchical prototypes at the start of every epoch."""

import keras


class PrototypeUpdate(keras.callbacks.Callback):
    """At the start of every epoch from `model.warmup_epochs` on, embeds the whole training set with the current
    encoder and re-runs hierarchical K-means on it (`HIRL.update_prototypes`), as HIRL's Algorithm 2.

    `HIRL.fit` adds it itself; `clusters` holds the latest result and `history` the epochs it ran at.

    Args:
        data: the training images in the order of their indices, without augmentation: an array [N, H, W, C], or a
            `tf.data.Dataset` of image batches or of `(images, index)` batches.
        verbose: show progress of the embedding and the clustering.
    """

    def __init__(self, data, verbose=1):
        super().__init__()
        self.data, self.verbose = data, verbose
        self.clusters, self.history = None, []

    def on_epoch_begin(self, epoch, logs=None):
        if epoch < self.model.warmup_epochs:
            return
        self.clusters = self.model.update_prototypes(self.data, verbose=self.verbose)
        self.history.append(epoch)

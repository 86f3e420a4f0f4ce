"""`blockwise_masks`: BEiT's and iBOT's masks of rectangular blocks of patches, drawn in the graph."""

import math

import keras
from keras import ops


def blockwise_masks(ratios, grid, seed=None, min_patches=None, aspect_range=(0.3, 1 / 0.3), attempts=None):
    """One mask per image over a `grid = (rows, columns)` of patches (True = masked), made of rectangular blocks
    as iBOT's `ImageFolderMask` (after BEiT's `MaskingGenerator`): with the cap `ratio * rows * columns` (not
    rounded), until an image reaches it, draw a block of area uniform in [min_patches, cap - patches masked] and
    log-uniform aspect ratio in `aspect_range`, at a uniform position, and keep it when it masks at least one new
    patch and does not pass the cap. So an image never gets more than `floor(cap)` masked patches (14 of 7x7 at
    ratio 0.3, as the reference), and usually exactly that.

    The draws are made up front (`attempts` candidate blocks per image, default 10 per expected block) and
    scanned in a `fori_loop`, so the function runs inside a traced train step and under a strategy.

    Args:
        ratios: [batch] float share of patches to mask per image (0 leaves an image unmasked).
        grid: `(rows, columns)` of the patch grid.
        seed: an int or a `keras.random.SeedGenerator`.
        min_patches: smallest block area (None: the reference's `(min(rows, columns) // 3) ** 2`, 16 at 14x14
            and 4 at 7x7).
        aspect_range: `(min, max)` block aspect ratio.
        attempts: candidate blocks per image.

    Returns:
        A bool tensor [batch, rows, columns].

    Example:
    >>> import numpy as np
    >>> masks = np.asarray(blockwise_masks(np.array([0.0, 0.25, 0.5], "float32"), (8, 8), seed=0))
    >>> masks.reshape(3, -1).sum(axis=1).tolist()
    [0, 16, 32]
    """
    rows, columns = int(grid[0]), int(grid[1])
    patches = rows * columns
    if min_patches is None:
        min_patches = (min(rows, columns) // 3) ** 2
    ratios = ops.cast(ops.convert_to_tensor(ratios), "float32")
    batch = ops.shape(ratios)[0]
    caps = ratios * patches  # a float, as the reference's `high`
    if attempts is None:
        attempts = 10 * max(4, int(math.ceil(math.log2(max(patches, 2)))))
    draws = keras.random.uniform((int(attempts), batch, 4), seed=seed)
    log_low, log_high = math.log(aspect_range[0]), math.log(aspect_range[1])
    row_index = ops.reshape(ops.arange(rows, dtype="int32"), (1, rows, 1))
    column_index = ops.reshape(ops.arange(columns, dtype="int32"), (1, 1, columns))

    def attempt(i, mask):
        draw = draws[i]
        count = ops.sum(ops.cast(mask, "int32"), axis=(1, 2))
        left_to_mask = caps - ops.cast(count, "float32")
        low = ops.cast(min_patches, "float32")
        high = left_to_mask
        area = low + (high - low) * draw[:, 0]  # uniform between the two, either way round (as random.uniform)
        aspect = ops.exp(log_low + (log_high - log_low) * draw[:, 1])
        height = ops.cast(ops.round(ops.sqrt(area * aspect)), "int32")
        width = ops.cast(ops.round(ops.sqrt(area / aspect)), "int32")
        fits = (height < rows) & (width < columns) & (height > 0) & (width > 0)
        top = ops.cast(ops.floor(draw[:, 2] * ops.cast(rows - height + 1, "float32")), "int32")
        left = ops.cast(ops.floor(draw[:, 3] * ops.cast(columns - width + 1, "float32")), "int32")
        top, left = ops.minimum(top, rows - height), ops.minimum(left, columns - width)
        block = ((row_index >= top[:, None, None]) & (row_index < (top + height)[:, None, None])
                 & (column_index >= left[:, None, None]) & (column_index < (left + width)[:, None, None]))
        new = ops.sum(ops.cast(block & ~mask, "int32"), axis=(1, 2))
        keep = fits & (new > 0) & (ops.cast(new, "float32") <= left_to_mask)
        return mask | (block & keep[:, None, None])

    empty = ops.zeros((batch, rows, columns), "bool")
    return ops.fori_loop(0, int(attempts), attempt, empty)


def mask_ratios(batch, ratio=0.3, spread=0.2, probability=0.5, seed=None):
    """iBOT's per-image mask ratio: 0 for a share `1 - probability` of the images, else uniform in
    [ratio - spread, ratio + spread] (iBOT's `pred_ratio [0, 0.3]`, `pred_ratio_var [0, 0.2]`).

    Example:
    >>> import numpy as np
    >>> r = np.asarray(mask_ratios(1000, seed=0))
    >>> 0.4 < float((r > 0).mean()) < 0.6, bool(r.max() <= 0.5)
    (True, True)
    """
    draws = keras.random.uniform((batch, 2), seed=seed)
    masked = draws[:, 0] < probability
    return ops.where(masked, ratio - spread + 2.0 * spread * draws[:, 1], 0.0)

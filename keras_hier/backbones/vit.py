"""A small Vision Transformer (`vit`, `VisionTransformer`, `ViTBlock`) for the ViT-based self-supervised methods
(MoCo v3, DINO, iBOT): patch embedding, class token, pre-norm transformer blocks, and what these methods need that
keras-hub's `ViTBackbone` does not give: position embeddings interpolated to other image sizes (DINO's and iBOT's
small crops), a learnable mask token for masked patches (iBOT), the patch tokens as an output, and MoCo v3's fixed
2-D sine-cosine position embedding."""

import keras
import numpy as np
from keras import ops

from keras_hier._validation import check_number
from keras_hier.initializers import pytorch_default_uniform, reference_normal

WEIGHT_INITS = ("dino", "moco_v3")


def _uniform(bound):
    return keras.initializers.RandomUniform(-bound, bound)


# Sizes of Dosovitskiy et al. (Tiny and Small as in DeiT), and smaller ones for CPUs and tests. `vit_mini` is the
# recipes' encoder for 28x28 images (7x7 patches of 4 pixels).
VIT_PRESETS = {
    "vit_test": dict(patch_size=4, hidden_dim=16, depth=1, num_heads=2, mlp_ratio=2.0),
    "vit_mini": dict(patch_size=4, hidden_dim=128, depth=4, num_heads=4, mlp_ratio=2.0),
    "vit_tiny": dict(patch_size=16, hidden_dim=192, depth=12, num_heads=3, mlp_ratio=4.0),
    "vit_small": dict(patch_size=16, hidden_dim=384, depth=12, num_heads=6, mlp_ratio=4.0),
    "vit_base": dict(patch_size=16, hidden_dim=768, depth=12, num_heads=12, mlp_ratio=4.0),
}


def pytorch_bicubic_matrix(in_size, out_size, scale=None, a=-0.75):
    """The [out_size, in_size] matrix of PyTorch's 1-D bicubic interpolation (`F.interpolate(mode="bicubic",
    align_corners=False)`): output `i` samples the input at `(i + 0.5) / scale - 0.5` with Keys' cubic kernel at
    `a = -0.75` over the four nearest inputs, indices clamped to the edges. `scale` is the `scale_factor` passed
    to PyTorch (it then sets the sampling positions, not `out_size / in_size`); None: `out_size / in_size`.
    DINO and iBOT resize their position embeddings with `scale_factor = (out + 0.1) / in`; applied along both
    axes this matrix gives the same values.

    Example:
    >>> m = pytorch_bicubic_matrix(3, 6, scale=2.0)
    >>> [round(float(v), 8) for v in m[0]]  # -0.25 in input coordinates: weights of inputs -2..1 on 0, 0, 0, 1
    [1.10546875, -0.10546875, 0.0]
    """
    in_size, out_size = int(in_size), int(out_size)
    scale = out_size / in_size if scale is None else float(scale)
    source = (np.arange(out_size, dtype="float64") + 0.5) / scale - 0.5
    floor = np.floor(source)
    t = source - floor

    def near(x):  # |x| <= 1
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a

    weights = np.stack([far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)], axis=1)
    matrix = np.zeros((out_size, in_size))
    for k in range(4):
        index = np.clip(floor.astype(np.int64) - 1 + k, 0, in_size - 1)
        np.add.at(matrix, (np.arange(out_size), index), weights[:, k])
    return matrix


def sincos_position_embedding(grid, dim, temperature=10000.0):
    """MoCo v3's fixed 2-D sine-cosine position embedding of a `grid = (rows, columns)` of patches, [rows *
    columns, dim] (a quarter of the channels each: sin and cos of the column, sin and cos of the row).

    Example:
    >>> sincos_position_embedding((2, 3), 8).shape
    (6, 8)
    """
    if dim % 4:
        raise ValueError(f"The sine-cosine position embedding needs a width divisible by 4; got {dim}.")
    rows, columns = np.meshgrid(np.arange(grid[0], dtype="float64"), np.arange(grid[1], dtype="float64"),
                                indexing="ij")
    omega = 1.0 / temperature ** (np.arange(dim // 4, dtype="float64") / (dim // 4))
    out_w, out_h = columns.reshape(-1)[:, None] * omega, rows.reshape(-1)[:, None] * omega
    return np.concatenate([np.sin(out_w), np.cos(out_w), np.sin(out_h), np.cos(out_h)], axis=1).astype("float32")


@keras.saving.register_keras_serializable(package="keras_hier")
class ViTBlock(keras.layers.Layer):
    """A pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x)) (Dense, GELU, Dense), each
    residual branch dropped per sample with probability `drop_path` in training (stochastic depth, as DINO's and
    iBOT's students).

    Args:
        hidden_dim: width of the tokens.
        num_heads: attention heads (`hidden_dim` must divide by it).
        mlp_dim: width of the MLP's hidden layer.
        drop_path: stochastic-depth rate of this block.
        layer_norm_epsilon: of both layer norms (1e-6 as the reference ViTs).
        weight_init: `"dino"`: every kernel from a normal of std 0.02 (DINO's and iBOT's `_init_weights`);
            `"moco_v3"`: Xavier-uniform kernels, the query, key and value projections each as its own
            `hidden_dim` x `hidden_dim` matrix (MoCo v3's `vits.py`). Biases start at 0 in both.

    Example:
    >>> block = ViTBlock(8, 2, 16)
    >>> tuple(block(np.zeros((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(self, hidden_dim, num_heads, mlp_dim, drop_path=0.0, layer_norm_epsilon=1e-6, seed=None,
                 weight_init="dino", **kwargs):
        super().__init__(**kwargs)
        if int(hidden_dim) % int(num_heads):
            raise ValueError(f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads}).")
        if not 0 <= float(drop_path) < 1:
            raise ValueError(f"`drop_path` must be in [0, 1); got {drop_path}.")
        if weight_init not in WEIGHT_INITS:
            raise ValueError(f"`weight_init` must be one of {WEIGHT_INITS}; got {weight_init!r}.")
        self.hidden_dim, self.num_heads, self.mlp_dim = int(hidden_dim), int(num_heads), int(mlp_dim)
        self.drop_path, self.layer_norm_epsilon, self.seed = float(drop_path), float(layer_norm_epsilon), seed
        self.weight_init = weight_init
        if weight_init == "dino":
            attention_init = mlp_init = reference_normal(0.02)
        else:  # Xavier over each [hidden_dim, hidden_dim] projection (Keras' glorot would see [d, heads, d/heads])
            attention_init, mlp_init = _uniform(float(np.sqrt(6.0 / (2 * self.hidden_dim)))), "glorot_uniform"
        policy = self.dtype_policy
        self.norm_1 = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm_1", dtype=policy)
        self.attention = keras.layers.MultiHeadAttention(self.num_heads, self.hidden_dim // self.num_heads,
                                                         kernel_initializer=attention_init, name="attention",
                                                         dtype=policy)
        self.norm_2 = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm_2", dtype=policy)
        self.mlp_in = keras.layers.Dense(self.mlp_dim, activation="gelu", kernel_initializer=mlp_init,
                                         name="mlp_in", dtype=policy)
        self.mlp_out = keras.layers.Dense(self.hidden_dim, kernel_initializer=mlp_init, name="mlp_out",
                                          dtype=policy)
        self.seed_generator = keras.random.SeedGenerator(seed) if self.drop_path else None

    def build(self, input_shape):
        for norm in (self.norm_1, self.norm_2):
            norm.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.mlp_in.build(input_shape)
        self.mlp_out.build(tuple(input_shape[:-1]) + (self.mlp_dim,))
        self.built = True

    def _dropped(self, branch, training):
        if not training or not self.drop_path:
            return branch
        keep = 1.0 - self.drop_path
        shape = (ops.shape(branch)[0],) + (1,) * (len(branch.shape) - 1)
        kept = ops.cast(keras.random.uniform(shape, seed=self.seed_generator) < keep, branch.dtype)
        return branch * kept / ops.cast(keep, branch.dtype)

    def call(self, x, training=None):
        h = self.norm_1(x)
        x = x + self._dropped(self.attention(h, h, training=training), training)
        return x + self._dropped(self.mlp_out(self.mlp_in(self.norm_2(x))), training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
                "mlp_dim": self.mlp_dim, "drop_path": self.drop_path, "layer_norm_epsilon": self.layer_norm_epsilon,
                "seed": self.seed, "weight_init": self.weight_init}


@keras.saving.register_keras_serializable(package="keras_hier")
class VisionTransformer(keras.layers.Layer):
    """A Vision Transformer (Dosovitskiy et al., 2021): images -> the final layer-normed class token, or every
    token with `return_tokens=True` ([batch, 1 + patches, hidden_dim], the class token first).

    The image is cut into `patch_size` squares (a strided convolution), a class token is put in front and position
    embeddings are added, then `depth` pre-norm `ViTBlock`s and a layer norm. Images of another size than
    `image_size` work (the patch grid changes): the position embeddings are resized to the new grid as DINO and
    iBOT do for their small crops (PyTorch's bicubic interpolation with `scale_factor = (new + 0.1) / old`, see
    `pytorch_bicubic_matrix`; equal to the reference within float32 rounding). `patch_mask` ([batch, rows, columns]
    of the patch grid, True = masked) replaces the masked patches' embeddings by a learnable mask token before the
    position embeddings are added (iBOT; needs `mask_token=True`).

    Args:
        image_size: the size `(height, width)` (or one int) the position embeddings are made for.
        patch_size: side of the square patches in pixels.
        hidden_dim: width of the tokens.
        depth: transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: width of the blocks' MLPs relative to `hidden_dim`.
        position_embedding: `"learned"` (normal, std 0.02, as DINO and iBOT) or `"sincos"` (fixed 2-D
            sine-cosine, MoCo v3).
        patch_embedding_trainable: False freezes the random patch projection (MoCo v3's remedy for instability).
        drop_path_rate: stochastic depth, rising linearly to this rate over the blocks (DINO/iBOT students: 0.1).
        mask_token: create the mask token (iBOT's masked patches).
        layer_norm_epsilon: of every layer norm.
        seed: seed of the stochastic depth.
        weight_init: the reference code's initialisation. `"dino"` (DINO's and iBOT's `vision_transformer.py`):
            class token, learned position embeddings and every Dense kernel from a normal of std 0.02, biases 0, the
            patch projection as PyTorch's default `Conv2d` (kernel and bias uniform in +-1/sqrt(fan_in));
            `"moco_v3"` (MoCo v3's `vits.py`): class token from a normal of std 1e-6, Xavier-uniform Dense kernels
            (query, key and value each a square matrix), the patch projection Xavier-uniform as a `channels *
            patch_size**2` -> `hidden_dim` matrix with a zero bias (the reference writes 3 channels; here the
            images' own). None: `"moco_v3"` with the sine-cosine position embedding, else `"dino"`.

    Example:
    >>> layer = VisionTransformer(8, patch_size=4, hidden_dim=16, depth=1, num_heads=2)
    >>> images = np.zeros((2, 8, 8, 1), "float32")
    >>> tuple(layer(images).shape), tuple(layer(images, return_tokens=True).shape)
    ((2, 16), (2, 5, 16))
    >>> tuple(layer(np.zeros((2, 12, 12, 1), "float32"), return_tokens=True).shape)  # a 3x3 grid
    (2, 10, 16)
    """

    def __init__(self, image_size, patch_size=16, hidden_dim=384, depth=12, num_heads=6, mlp_ratio=4.0,
                 position_embedding="learned", patch_embedding_trainable=True, drop_path_rate=0.0, mask_token=False,
                 layer_norm_epsilon=1e-6, seed=None, weight_init=None, **kwargs):
        super().__init__(**kwargs)
        size = (int(image_size), int(image_size)) if np.isscalar(image_size) else tuple(int(s) for s in image_size)
        self.patch_size = int(patch_size)
        if len(size) != 2 or min(size) < self.patch_size or self.patch_size < 1:
            raise ValueError(f"`image_size` must be (height, width) of at least one patch ({patch_size}); got "
                             f"{image_size}.")
        if position_embedding not in ("learned", "sincos"):
            raise ValueError(f"`position_embedding` must be 'learned' or 'sincos'; got {position_embedding!r}.")
        if weight_init is None:
            weight_init = "moco_v3" if position_embedding == "sincos" else "dino"
        if weight_init not in WEIGHT_INITS:
            raise ValueError(f"`weight_init` must be one of {WEIGHT_INITS} or None; got {weight_init!r}.")
        self.weight_init = weight_init
        for name, value in (("hidden_dim", hidden_dim), ("depth", depth), ("num_heads", num_heads)):
            check_number(value, name, low=1, integer=True)
        check_number(mlp_ratio, "mlp_ratio", low=0, low_open=True)
        self.image_size, self.hidden_dim, self.depth, self.num_heads = size, int(hidden_dim), int(depth), \
            int(num_heads)
        self.mlp_ratio, self.position_embedding = float(mlp_ratio), position_embedding
        self.patch_embedding_trainable, self.drop_path_rate = bool(patch_embedding_trainable), float(drop_path_rate)
        self.use_mask_token, self.layer_norm_epsilon, self.seed = bool(mask_token), float(layer_norm_epsilon), seed
        self.grid = (size[0] // self.patch_size, size[1] // self.patch_size)
        policy = self.dtype_policy
        self.patch_embedding = keras.layers.Conv2D(self.hidden_dim, self.patch_size, strides=self.patch_size,
                                                   name="patch_embedding", dtype=policy,
                                                   trainable=self.patch_embedding_trainable)
        rates = np.linspace(0.0, self.drop_path_rate, self.depth) if self.depth > 1 else [self.drop_path_rate]
        self.blocks = [ViTBlock(self.hidden_dim, self.num_heads, int(round(self.hidden_dim * self.mlp_ratio)),
                                drop_path=float(rate), layer_norm_epsilon=self.layer_norm_epsilon,
                                seed=None if seed is None else seed + i, weight_init=self.weight_init,
                                name=f"block_{i}", dtype=policy)
                       for i, rate in enumerate(rates)]
        self.norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm", dtype=policy)

    def build(self, input_shape):
        self.patch_embedding.build(input_shape)
        fan_in = int(input_shape[-1]) * self.patch_size ** 2  # the patch projection as a matrix
        if self.weight_init == "dino":  # PyTorch's Conv2d default: kaiming_uniform(a=sqrt(5)) and its bias rule
            kernel_init = bias_init = pytorch_default_uniform(fan_in)
        else:
            kernel_init, bias_init = _uniform(float(np.sqrt(6.0 / (fan_in + self.hidden_dim)))), "zeros"
        self.patch_embedding.kernel.assign(keras.initializers.get(kernel_init)(self.patch_embedding.kernel.shape))
        self.patch_embedding.bias.assign(keras.initializers.get(bias_init)(self.patch_embedding.bias.shape))
        tokens = (None, None, self.hidden_dim)
        for block in self.blocks:
            block.build(tokens)
        self.norm.build(tokens)
        init = reference_normal(0.02)
        self.class_token = self.add_weight(shape=(1, 1, self.hidden_dim), name="class_token",
                                           initializer=init if self.weight_init == "dino" else reference_normal(1e-6))
        patches = self.grid[0] * self.grid[1]
        if self.position_embedding == "sincos":
            table = np.concatenate([np.zeros((1, self.hidden_dim), "float32"),
                                    sincos_position_embedding(self.grid, self.hidden_dim)])[None]
            self.positions = self.add_weight(shape=table.shape, initializer=lambda shape, dtype=None: table,
                                             trainable=False, name="positions")
        else:
            self.positions = self.add_weight(shape=(1, 1 + patches, self.hidden_dim), initializer=init,
                                             name="positions")
        if self.use_mask_token:
            self.mask_token = self.add_weight(shape=(self.hidden_dim,), initializer="zeros", name="mask_token")
        self.built = True

    def _positions(self, rows, columns):
        """The position embeddings of a `rows` x `columns` grid [1, 1 + rows * columns, hidden_dim]."""
        table = ops.cast(self.positions, self.compute_dtype)
        if (rows, columns) == self.grid:
            return table
        grid = ops.reshape(ops.cast(self.positions, "float32")[0, 1:], (self.grid[0], self.grid[1], self.hidden_dim))
        along_rows = pytorch_bicubic_matrix(self.grid[0], rows, (rows + 0.1) / self.grid[0]).astype("float32")
        along_columns = pytorch_bicubic_matrix(self.grid[1], columns, (columns + 0.1) / self.grid[1]).astype("float32")
        grid = ops.einsum("ri,ijd,cj->rcd", along_rows, grid, along_columns)
        grid = ops.cast(ops.reshape(grid, (1, -1, self.hidden_dim)), self.compute_dtype)
        return ops.concatenate([table[:, :1], grid], axis=1)

    def call(self, images, patch_mask=None, return_tokens=False, training=None):
        x = self.patch_embedding(images)
        rows, columns = x.shape[1], x.shape[2]
        if rows is None or columns is None:
            raise ValueError("VisionTransformer needs images of a known height and width (the patch grid sizes "
                             "the position embeddings).")
        if patch_mask is not None:
            if not self.use_mask_token:
                raise ValueError("This VisionTransformer has no mask token: build it with `mask_token=True` "
                                 "(e.g. `vit(..., mask_token=True)`) to mask patches.")
            mask = ops.reshape(ops.cast(patch_mask, "bool"), (-1, rows, columns, 1))
            x = ops.where(mask, ops.cast(self.mask_token, x.dtype), x)
        x = ops.reshape(x, (-1, rows * columns, self.hidden_dim))
        cls = ops.broadcast_to(ops.cast(self.class_token, x.dtype), (ops.shape(x)[0], 1, self.hidden_dim))
        x = ops.concatenate([cls, x], axis=1) + self._positions(rows, columns)
        for block in self.blocks:
            x = block(x, training=training)
        x = self.norm(x)
        return x if return_tokens else x[:, 0]

    def compute_output_spec(self, images, patch_mask=None, return_tokens=False, training=None):
        batch, height, width = images.shape[0], images.shape[1], images.shape[2]
        if return_tokens:
            tokens = None if height is None or width is None else \
                1 + (height // self.patch_size) * (width // self.patch_size)
            return keras.KerasTensor((batch, tokens, self.hidden_dim), dtype=self.compute_dtype)
        return keras.KerasTensor((batch, self.hidden_dim), dtype=self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "image_size": list(self.image_size), "patch_size": self.patch_size,
                "hidden_dim": self.hidden_dim, "depth": self.depth, "num_heads": self.num_heads,
                "mlp_ratio": self.mlp_ratio, "position_embedding": self.position_embedding,
                "patch_embedding_trainable": self.patch_embedding_trainable, "drop_path_rate": self.drop_path_rate,
                "mask_token": self.use_mask_token, "layer_norm_epsilon": self.layer_norm_epsilon, "seed": self.seed,
                "weight_init": self.weight_init}


def vit(input_shape=(224, 224, 3), preset="vit_small", name=None, **overrides):
    """A Functional ViT encoder, images -> class-token features [batch, hidden_dim], for the self-supervised
    methods (`keras_hier.models.ssl`), k-NN and linear probes.

    Args:
        input_shape: `(height, width, channels)` of the images (28x28 and CIFAR's 32x32 work with 4-pixel
            patches).
        preset: a name from `VIT_PRESETS` (`vit_test`, `vit_mini`, `vit_tiny`, `vit_small`, `vit_base`).
        name: the model's name (default: the preset's).
        **overrides: `VisionTransformer` arguments that replace the preset's (e.g. `patch_size=4`,
            `mask_token=True`, `drop_path_rate=0.1`, `position_embedding="sincos"`).

    Example:
    >>> encoder = vit((28, 28, 1), "vit_test")
    >>> tuple(encoder.output.shape)
    (None, 16)
    """
    if preset not in VIT_PRESETS:
        raise ValueError(f"Unknown ViT preset {preset!r}: use one of {sorted(VIT_PRESETS)}.")
    config = {**VIT_PRESETS[preset], **overrides}
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels); got {input_shape}.")
    inputs = keras.Input(tuple(input_shape), name="images")
    layer = VisionTransformer(tuple(input_shape[:2]), name="vit", **config)
    return keras.Model(inputs, layer(inputs), name=name or preset)


def clone_without_stochastic_depth(encoder):
    """A copy of the Functional `encoder` (fresh weights) whose `VisionTransformer` layers have no stochastic depth:
    a DINO or iBOT teacher, which the reference code builds with `drop_path_rate=0` while the student has 0.1.
    Other layers are cloned as `keras.models.clone_model` clones them.

    Example:
    >>> teacher = clone_without_stochastic_depth(vit((8, 8, 1), "vit_test", drop_path_rate=0.1))
    >>> teacher.get_layer("vit").drop_path_rate
    0.0
    """

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, VisionTransformer):
            config["drop_path_rate"] = 0.0
        return layer.__class__.from_config(config)

    return keras.models.clone_model(encoder, clone_function=clone)


def find_vision_transformer(encoder):
    """`(preprocessing, vit)`: the `VisionTransformer` layer of a Functional `encoder` and a model from the
    encoder's input to that layer's input (the identity when the images go straight in), so that a method can call
    the transformer with a mask or for its patch tokens (iBOT).

    Example:
    >>> pre, layer = find_vision_transformer(vit((8, 8, 1), "vit_test"))
    >>> type(layer).__name__
    'VisionTransformer'
    """
    found = [layer for layer in getattr(encoder, "layers", []) if isinstance(layer, VisionTransformer)]
    if len(found) != 1:
        raise ValueError(f"The encoder must hold one VisionTransformer layer (e.g. `keras_hier.backbones.vit(...)`); "
                         f"found {len(found)}.")
    layer = found[0]
    if layer.input is encoder.inputs[0]:
        return None, layer
    return keras.Model(encoder.inputs, layer.input, name=f"{encoder.name}_before_vit"), layer


__all__ = ["VIT_PRESETS", "WEIGHT_INITS", "ViTBlock", "VisionTransformer", "clone_without_stochastic_depth",
           "find_vision_transformer", "pytorch_bicubic_matrix", "sincos_position_embedding", "vit"]

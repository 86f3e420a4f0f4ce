"""`DualEncoder`: a CLIP-style image tower and class-text tower scoring images against every class node."""

import math

import keras
import numpy as np
from keras import ops

from keras_hier._config import deserialized
from keras_hier._finite import finite_inputs, finite_step_checks
from keras_hier._training_state import SavesTrainingState


def _l2_normalize(x):
    return ops.normalize(ops.cast(x, "float32"), axis=-1)


@keras.saving.register_keras_serializable(package="keras_hier")
class DualEncoder(SavesTrainingState, keras.Model):
    """Image tower and text tower with linear projections into one space; logits over a fixed set of
    class texts, as CLIP and HGR-Net score an image against every class.

    The text inputs of the classes (`class_inputs`: token ids for a trainable text model, or the features
    of a frozen one, computed once) are stored in the model, so `model(images)` returns the logits of every
    class: `exp(t) * cos(image embedding, class embedding)`, the learnable logit scale `exp(t)` starting at
    1 / `temperature` and clipped at `max_logit_scale` as CLIP does. Logits are float32 under mixed
    precision. Every call encodes the class texts again (they train with the model); to serve, use
    `zero_shot_model` or `export`, which embed them once. For HGR-Net the classes are the nodes of a hierarchy in `NodeTables` order, so the logits
    feed `HierarchicalInfoNCE` and the zero-shot metrics directly.

    `compile` takes the encoders' optimizer as usual; when the loss has trainable variables (the adaptive
    layer weights of `HierarchicalInfoNCE`) they get their own optimizer, `weights_optimizer` (default SGD
    with learning rate 1e-4, as the paper).

    Args:
        image_encoder: Keras model from images to features [batch, d_image] (pooled).
        class_inputs: the class texts' inputs of `text_encoder`: an array [N, ...] (token ids, or
            precomputed text features when `text_encoder` is None).
        text_encoder: optional Keras model from `class_inputs` to features [N, d_text]; None when
            `class_inputs` are the features of a frozen text model.
        projection_dim: size of the joint embedding space; None when both towers already end in it (CLIP's
            own projections, `from_clip_preset`): no projection layers then.
        project_text: False keeps the text features as they are (no text projection): the joint space is
            the text tower's, and only images are projected into it. With a frozen text tower this keeps the
            text model's geometry for classes never seen in training, which zero-shot transfer relies on.
        temperature: initial softmax temperature (0.07: logit scale 1 / 0.07).
        max_logit_scale: upper clip of the logit scale (CLIP's 100).
        class_names: optional name of each of the N classes, so that `zero_shot_model` and `export` take
            candidates by name. Without them, names are looked up in the hierarchy of a compiled
            `HierarchicalInfoNCE` loss (node ids and names, as the loss and `hit_at_k` take them).

    Example:
    >>> images = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(6)])
    >>> model = DualEncoder(images, class_inputs=np.eye(4, 5, dtype="float32"), projection_dim=3)
    >>> tuple(model(np.zeros((2, 8, 8, 1), "float32")).shape)
    (2, 4)
    """

    def __init__(
        self,
        image_encoder,
        class_inputs,
        text_encoder=None,
        projection_dim=256,
        temperature=0.07,
        max_logit_scale=100.0,
        project_text=True,
        class_names=None,
        **kwargs,
    ):
        # The model's own arithmetic (normalisation, scale, cosines) stays float32 under mixed precision;
        # the towers and projections follow the global policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not 0 < temperature:
            raise ValueError(f"`temperature` must be positive; got {temperature}.")
        class_inputs = np.asarray(class_inputs)
        if class_inputs.ndim < 2 or len(class_inputs) == 0:
            raise ValueError(
                f"`class_inputs` must be an array [N, ...] with one row per class; got shape {class_inputs.shape}."
            )
        if text_encoder is None and class_inputs.ndim != 2:
            raise ValueError(
                f"Without a `text_encoder`, `class_inputs` are text features [N, d]; got shape {class_inputs.shape}."
            )
        if class_names is not None:
            class_names = [str(n) for n in class_names]
            if len(class_names) != len(class_inputs) or len(set(class_names)) != len(class_names):
                raise ValueError(f"`class_names` must name each of the {len(class_inputs)} classes once; got "
                                 f"{len(class_names)} names, {len(set(class_names))} distinct.")
        self.class_names = class_names
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.project_text = bool(project_text) and projection_dim is not None
        if projection_dim is not None and not self.project_text:
            projection_dim = class_inputs.shape[-1] if text_encoder is None else text_encoder.output_shape[-1]
        self.projection_dim = None if projection_dim is None else int(projection_dim)
        self.temperature = float(temperature)
        self.max_logit_scale = float(max_logit_scale)
        self.image_projection = None
        if self.projection_dim is not None:
            self.image_projection = keras.layers.Dense(self.projection_dim, use_bias=False, name="image_projection")
        self.text_projection = None
        if self.project_text:
            self.text_projection = keras.layers.Dense(self.projection_dim, use_bias=False, name="text_projection")
        dtype = "float32" if np.issubdtype(class_inputs.dtype, np.floating) else "int32"
        self.class_inputs = self.add_weight(
            shape=class_inputs.shape,
            dtype=dtype,
            initializer=keras.initializers.Constant(class_inputs.astype(dtype)),
            trainable=False,
            name="class_inputs",
        )
        self.log_logit_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(math.log(1.0 / self.temperature)),
            dtype="float32",
            name="log_logit_scale",
        )
        self.weights_optimizer = None
        self._build_projections(class_inputs)

    def _build_projections(self, class_inputs):
        """Builds the projections on the towers' output widths and marks the model built (what
        `keras.callbacks.BackupAndRestore` needs before `fit`); left to the first call when a width is unknown."""
        try:
            image_dim = self.image_encoder.output_shape[-1]
            text_dim = class_inputs.shape[-1] if self.text_encoder is None else self.text_encoder.output_shape[-1]
        except (AttributeError, ValueError, RuntimeError):
            return
        if image_dim is None or text_dim is None:
            return
        if self.image_projection is not None:
            self.image_projection.build((None, image_dim))
        if self.text_projection is not None:
            self.text_projection.build((None, text_dim))
        self.built = True

    @property
    def num_classes(self):
        """The number of class texts N."""
        return int(self.class_inputs.shape[0])

    @property
    def logit_scale(self):
        """exp(t), clipped at `max_logit_scale`."""
        return ops.minimum(ops.exp(self.log_logit_scale), self.max_logit_scale)

    def encode_images(self, images, training=False):
        """L2-normalised image embeddings [batch, projection_dim] (float32)."""
        features = self.image_encoder(images, training=training)
        return _l2_normalize(features if self.image_projection is None else self.image_projection(features))

    def encode_classes(self, training=False):
        """L2-normalised class embeddings [N, projection_dim] (float32)."""
        features = self.class_inputs.value
        if self.text_encoder is not None:
            features = self.text_encoder(features, training=training)
        return _l2_normalize(features if self.text_projection is None else self.text_projection(features))

    def call(self, images, training=False):
        image = self.encode_images(images, training=training)
        classes = self.encode_classes(training=training)
        return self.logit_scale * ops.matmul(image, ops.transpose(classes))

    @classmethod
    def from_minilm(cls, image_encoder, class_texts, trainable_text=False, projection_dim=256, temperature=0.07,
                    **kwargs):
        """A dual encoder whose text tower is all-MiniLM-L6-v2 (`knowledge.embeddings`, offline).

        Frozen (default): the class texts are embedded once and stored; the text projection trains.
        Trainable: the class texts are stored as token ids and the MiniLM transformer (`MiniLMEmbedding`, a
        fresh copy) runs on all of them at every step and trains with the image tower.

        Args:
            image_encoder: Keras model from images to pooled features.
            class_texts: one text per class, e.g. `class_prompts(hierarchy)`.
            trainable_text: train the text transformer too.
            projection_dim: size of the joint space.
            temperature: initial temperature.
            **kwargs: further `DualEncoder` arguments.
        """
        from keras_hier.knowledge.embeddings import MiniLMEncoder, sentence_embeddings

        if not trainable_text:
            features = sentence_embeddings(list(class_texts))
            return cls(image_encoder, features, projection_dim=projection_dim, temperature=temperature, **kwargs)
        from keras_hier.layers import MiniLMEmbedding

        encoder = MiniLMEncoder()
        token_ids, mask = encoder.tokenize(list(class_texts))
        token_ids = token_ids[:, : max(int(mask.sum(axis=1).max()), 1)].astype(np.int32)
        tokens = keras.Input((token_ids.shape[1],), dtype="int32", name="token_ids")
        text_encoder = keras.Model(tokens, MiniLMEmbedding(encoder.backbone)(tokens), name="minilm_text_tower")
        return cls(image_encoder, token_ids, text_encoder=text_encoder, projection_dim=projection_dim,
                   temperature=temperature, **kwargs)

    @classmethod
    def from_clip_preset(cls, preset, class_texts, temperature=0.07, image_preprocessing=None, **kwargs):
        """A dual encoder made of a pretrained keras-hub CLIP (downloaded the first time: needs internet), its
        own projections as the joint space, the class texts tokenised by the preset's preprocessor.

        Args:
            preset: a keras-hub CLIP preset name, e.g. `"clip_vit_base_patch16"`, or a folder written by
                `CLIPBackbone.save_to_preset` and `CLIPPreprocessor.save_to_preset` (works offline).
            class_texts: one text per class, e.g. `class_prompts(hierarchy)`.
            temperature: initial temperature (the paper's supplement: 0.07).
            image_preprocessing: optional Keras model from the caller's images to the preset's input (resizing,
                channels, CLIP's normalisation), put in front of the image tower; or a function from the
                preset's image shape to such a model.
            **kwargs: further `DualEncoder` arguments.
        """
        import keras_hub

        backbone = keras_hub.models.CLIPBackbone.from_preset(preset)
        preprocessor = keras_hub.models.CLIPPreprocessor.from_preset(preset)
        token_ids = preprocessor({"images": None, "prompts": list(class_texts)})["token_ids"]
        return cls._from_clip(backbone, np.asarray(token_ids), temperature, image_preprocessing, **kwargs)

    @classmethod
    def from_clip_config(
        cls,
        class_texts,
        image_shape=(224, 224, 3),
        patch_size=16,
        hidden_dim=256,
        num_layers=4,
        num_heads=4,
        intermediate_dim=512,
        projection_dim=128,
        sequence_length=32,
        temperature=0.07,
        **kwargs,
    ):
        """A dual encoder made of a keras-hub CLIP built from scratch (offline): a ViT image tower and a
        causal text transformer of the given sizes. The class texts are tokenised with all-MiniLM-L6-v2's
        lower-case WordPiece vocabulary (installed with keras_hier), an extra last id marking the end of text
        as CLIP's pooling expects.

        Args:
            class_texts: one text per class.
            image_shape: square input images.
            patch_size, hidden_dim, num_layers, num_heads, intermediate_dim: both towers' transformer sizes.
            projection_dim: the joint space (CLIP's projections).
            sequence_length: tokens per class text, start and end included.
            temperature: initial temperature.
            **kwargs: further `DualEncoder` arguments.

        Example:
        >>> model = DualEncoder.from_clip_config(["a photo of a cat.", "a photo of a dog."], image_shape=(16, 16, 3),
        ...     patch_size=8, hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=32, projection_dim=8)
        >>> tuple(model(np.zeros((3, 16, 16, 3), "float32")).shape)
        (3, 2)
        """
        import os

        import keras_hub

        from keras_hier.knowledge.embeddings import minilm_model_dir

        tokenizer = keras_hub.models.BertTokenizer(vocabulary=os.path.join(minilm_model_dir(), "vocab.txt"), lowercase=True)
        end = tokenizer.vocabulary_size()
        packer = keras_hub.layers.StartEndPacker(
            start_value=tokenizer.cls_token_id, end_value=end, pad_value=0, sequence_length=int(sequence_length)
        )
        token_ids = np.asarray(packer(tokenizer(list(class_texts))), np.int32)
        vision = keras_hub.models.CLIPVisionEncoder(
            patch_size, hidden_dim, num_layers, num_heads, intermediate_dim, image_shape=tuple(image_shape)
        )
        text = keras_hub.models.CLIPTextEncoder(
            end + 1, hidden_dim, hidden_dim, num_layers, num_heads, intermediate_dim, max_sequence_length=int(sequence_length)
        )
        backbone = keras_hub.models.CLIPBackbone(vision, text, projection_dim=projection_dim)
        return cls._from_clip(backbone, token_ids, temperature, **kwargs)

    @classmethod
    def _from_clip(cls, backbone, token_ids, temperature, image_preprocessing=None, **kwargs):
        from keras_hier.layers import CLIPEmbedding

        if callable(image_preprocessing) and not isinstance(image_preprocessing, keras.Model):
            image_preprocessing = image_preprocessing(tuple(backbone.vision_encoder.image_shape))
        if image_preprocessing is None:
            images = keras.Input(tuple(backbone.vision_encoder.image_shape), name="images")
            tower_input = images
        else:
            images, tower_input = image_preprocessing.inputs[0], image_preprocessing.outputs[0]
        embedding = CLIPEmbedding.from_backbone(backbone, "image")(tower_input)
        image_encoder = keras.Model(images, embedding, name="clip_image_tower")
        tokens = keras.Input((token_ids.shape[1],), dtype="int32", name="token_ids")
        text_encoder = keras.Model(tokens, CLIPEmbedding.from_backbone(backbone, "text")(tokens), name="clip_text_tower")
        return cls(image_encoder, token_ids, text_encoder=text_encoder, projection_dim=None, temperature=temperature, **kwargs)

    def class_indices(self, candidates=None):
        """The indices (int64 array) of `candidates`: class indices, or names (`class_names`, else the node ids
        and names of a compiled `HierarchicalInfoNCE`'s hierarchy), mixed as you like; all N when None.

        Raises:
            ValueError: naming an unknown class or an index outside 0..N-1, and how to give names.
        """
        if candidates is None:
            return np.arange(self.num_classes)
        if isinstance(candidates, (str, int, np.integer)):
            candidates = [candidates]
        found = []
        for c in candidates:
            if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
                index = int(c)
            elif isinstance(c, str):
                index = self._index_of_name(c)
            else:
                raise ValueError(f"A candidate must be a class index or a class name; got {c!r}.")
            if not 0 <= index < self.num_classes:
                raise ValueError(f"Class index {index} is outside 0..{self.num_classes - 1}.")
            found.append(index)
        if not found:
            raise ValueError("No candidates: give at least one class.")
        return np.asarray(found, np.int64)

    def _index_of_name(self, name):
        if self.class_names is not None:
            if name not in self.class_names:
                raise ValueError(f"Unknown class {name!r}; the classes are {self.class_names[:10]}"
                                 + (" ..." if self.num_classes > 10 else "") + ".")
            return self.class_names.index(name)
        tables = getattr(getattr(self, "loss", None), "tables", None) if getattr(self, "compiled", False) else None
        if tables is None:
            raise ValueError(f"Class {name!r} given by name, but the model knows no class names: build it with "
                             "class_names=[...], compile it with a HierarchicalInfoNCE loss, or give indices.")
        return tables.find(name)

    def _candidate_names(self, indices):
        """The names of the classes `indices`, or None when the model knows none."""
        if self.class_names is not None:
            return [self.class_names[i] for i in indices]
        tables = getattr(getattr(self, "loss", None), "tables", None) if getattr(self, "compiled", False) else None
        if tables is None:
            return None
        names = tables.names()
        return [names[i] for i in indices]

    def zero_shot_model(self, candidates=None, name="zero_shot_classifier"):
        """A Functional model from images to class probabilities over `candidates`, the class embeddings
        frozen into it: what to serve or export (`.export()`) after training.

        Args:
            candidates: the classes to choose among (e.g. the unseen classes), as indices or names (see
                `class_indices`); default all N.
            name: the model's name.

        Returns:
            A `keras.Model`: images -> float32 probabilities [batch, len(candidates)].

        Example:
        >>> images = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(6)])
        >>> model = DualEncoder(images, np.eye(3, 5, dtype="float32"), projection_dim=3,
        ...                     class_names=["Sandal", "Shirt", "Bag"])
        >>> model.zero_shot_model(["Sandal", 2]).output_shape
        (None, 2)
        """
        candidates = self.class_indices(candidates)
        classes = ops.convert_to_numpy(self.encode_classes())[candidates]
        scale = float(ops.convert_to_numpy(self.logit_scale))
        images = keras.Input(self.image_encoder.input_shape[1:], name="images")
        x = self.image_encoder(images)
        x = x if self.image_projection is None else self.image_projection(x)
        x = keras.layers.UnitNormalization(dtype="float32", name="unit_norm")(x)
        scores = keras.layers.Dense(len(candidates), use_bias=False, trainable=False, dtype="float32", name="class_scores")
        logits = scores(x)
        scores.set_weights([(scale * classes.T).astype("float32")])
        probs = keras.layers.Softmax(dtype="float32", name="probabilities")(logits)
        return keras.Model(images, probs, name=name)

    def export(self, filepath, format="tf_saved_model", verbose=True, candidates=None, version=None,
               preprocessing="unit", top_k=5, resize=False, **kwargs):
        """Exports the zero-shot classifier as a SavedModel for TF Serving with keras_hier's serving contract
        (`keras_hier.export`): its `serving_default` (and `serve`) signature takes raw uint8 `images` [batch,
        height, width, channels], any batch size, preprocesses them inside, and returns `probabilities` over
        `candidates`, `top_k_indices` (positions among the candidates), `top_k_classes` (their names, or their
        class indices when the model knows no names) and `class`, the class index of the most probable candidate.
        Written to a temporary folder and moved into place; an existing folder is replaced only if it is an
        earlier keras_hier export. Returns the folder written.

        Args:
            filepath: the SavedModel folder.
            format: `"tf_saved_model"` (other formats export the model's own call, logits over all classes).
            verbose: print where it went.
            candidates: the classes to choose among, indices or names; default all.
            version: None, or an int or `"next"` for TF Serving's layout `filepath/<version>/`.
            preprocessing: `"unit"` (images / 255, every keras_hier dataset's scale), `"none"`, or a callable on
                float32 images in 0..255 (a CLIP preprocessor's normalisation).
            top_k: candidates in `top_k_indices` / `top_k_classes`.
            resize: accept any height and width, resized to the model's input size.
        """
        if format != "tf_saved_model":
            return super().export(filepath, format=format, verbose=verbose, **kwargs)
        import tensorflow as tf

        from keras_hier.export import export_serving

        indices = self.class_indices(candidates)
        ids = tf.constant(indices, tf.int32)
        names = self._candidate_names(indices)
        filepath = export_serving(
            self.zero_shot_model(indices), filepath, preprocessing=preprocessing,
            class_names=[str(n) for n in (names if names is not None else indices)], top_k=top_k, resize=resize,
            extra_outputs=lambda x, p: {"class": tf.gather(ids, tf.argmax(p, axis=-1, output_type=tf.int32))},
            verbose=False, version=version)
        if verbose:
            print(f"Saved zero-shot SavedModel to {filepath} (serving_default: uint8 images -> probabilities, "
                  "top_k_classes, class)")
        return filepath

    def compile(self, optimizer="adamw", loss=None, weights_optimizer=None, **kwargs):
        # The model's own policy is float32, so Keras would not scale the loss of float16 towers: scale it here.
        towers = [self.image_encoder, self.text_encoder, self.image_projection, self.text_projection]
        if kwargs.get("auto_scale_loss", True) and any(
                t is not None and t.dtype_policy.name == "mixed_float16" for t in towers):
            optimizer = keras.optimizers.get(optimizer)
            if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        super().compile(optimizer=optimizer, loss=loss, **kwargs)
        extra = list(getattr(loss, "trainable_variables", []) or [])
        self.weights_optimizer = None
        if extra:
            self.weights_optimizer = weights_optimizer or keras.optimizers.SGD(learning_rate=1e-4)
            self.weights_optimizer.build(extra)

    def train_step(self, *args):
        # Keras' train step, plus the loss's own variables on their own optimizer.
        backend = keras.backend.backend()
        if backend not in ("tensorflow", "jax"):
            if self.weights_optimizer is not None:
                raise RuntimeError(
                    f"Adaptive layer weights train under Keras' TensorFlow and JAX backends (their own optimizer), "
                    f"not {backend}: use a fixed weighting such as weighting='inverse_count' there."
                )
            return super().train_step(*args)
        data = args[-1]
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        extra = list(getattr(self.loss, "trainable_variables", []) or []) if self.weights_optimizer else []

        def losses():
            logits = self(x, training=True)
            loss = self._compute_loss(x=x, y=y, y_pred=logits, sample_weight=sample_weight, training=True)
            return loss, logits

        def track(loss, logits):
            self._loss_tracker.update_state(loss, sample_weight=ops.shape(x)[0])
            return self.compute_metrics(x, y, logits, sample_weight=sample_weight)

        if backend == "jax":  # Keras' JAX trainer: train_step(state, data) -> (logs, state)
            from keras_hier._stateless_step import stateless_train_step

            also = [(self.weights_optimizer, extra)] if extra else ()
            return stateless_train_step(self, args[0], losses, self.trainable_variables, track=track, also=also)
        import tensorflow as tf

        x = finite_inputs(type(self).__name__, x)
        with tf.GradientTape(persistent=bool(extra)) as tape:
            loss, logits = losses()
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        with tf.control_dependencies(finite_step_checks(type(self).__name__, loss, gradients, self.optimizer)):
            self.optimizer.apply_gradients(zip(gradients, variables))
        if extra:
            # The loss is float32 and unscaled here: the layer weights need no loss scaling.
            self.weights_optimizer.apply_gradients(zip(tape.gradient(loss, extra), extra))
        return track(loss, logits)

    def get_config(self):
        config = super().get_config()
        config.update(
            image_encoder=keras.saving.serialize_keras_object(self.image_encoder),
            text_encoder=None if self.text_encoder is None else keras.saving.serialize_keras_object(self.text_encoder),
            class_inputs_shape=list(self.class_inputs.shape),
            class_inputs_dtype=self.class_inputs.dtype,
            projection_dim=self.projection_dim,
            temperature=self.temperature,
            max_logit_scale=self.max_logit_scale,
            project_text=self.project_text,
            class_names=self.class_names,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = deserialized(config, "image_encoder", "text_encoder")
        # The stored class inputs come back with the weights.
        shape, dtype = config.pop("class_inputs_shape"), config.pop("class_inputs_dtype")
        return cls(class_inputs=np.zeros(shape, dtype), **config)

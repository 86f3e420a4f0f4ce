"""WordNet 3.0 offline: the nltk reader, WordNet ids, and vectorised WUP / LCH similarity matrices."""

import collections
import contextlib
import functools
import json
import math
import os
import re
import shutil
import sys
import time
import warnings

import numpy as np

from keras_hier._io import atomic_directory
from keras_hier._io import write_text_atomic

DEBIAN_WORDNET_DIR = "/usr/share/wordnet"

# The table of `man 5 lexnames`: file number, lexicographer file name, part of speech number. nltk needs it
# in the corpus folder; Debian's wordnet-base package does not ship it.
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_WNID = re.compile(r"^([nvasr])(\d{8})$")

_INSTALL_HINT = (
    "Install Princeton WordNet 3.0 with `apt-get install wordnet-base wordnet-sense-index` (Debian/Ubuntu; "
    "`bash scripts/install.sh` does it), or with `python -m nltk.downloader wordnet` when online."
)


def cache_dir():
    """keras_hier's cache folder: `$KERAS_HIER_HOME`, else `~/.cache/keras_hier`."""
    return os.environ.get("KERAS_HIER_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "keras_hier")


def lexnames_text():
    """The `lexnames` file of WordNet 3.0 (45 lines `NN<TAB>name<TAB>pos`), as `man 5 lexnames` lists it."""
    return "".join(
        f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}\n" for i, name in enumerate(_LEXNAMES)
    )


def _materialise_debian(source, root):
    """Copies Debian's WordNet files into `<root>/corpora/wordnet` (atomically) and returns `root`."""
    target = os.path.join(root, "corpora", "wordnet")
    if os.path.exists(os.path.join(target, "lexnames")):
        return root
    with atomic_directory(target) as tmp:
        for name in os.listdir(source):
            path = os.path.join(source, name)
            if os.path.isfile(path):
                shutil.copyfile(path, os.path.join(tmp, name))
        with open(os.path.join(tmp, "lexnames"), "w", encoding="utf-8") as f:
            f.write(lexnames_text())
    return root


@functools.lru_cache(maxsize=None)
def wordnet30_reader_class():
    """nltk's `WordNetCorpusReader`, less a slow no-op at load for WordNet 3.0.

    nltk 3.10 (at least) compares the loaded version ("3.0") with the package name ("wordnet") when it builds
    the map from WordNet 3.0 (for Open Multilingual Wordnet data) and, finding them different, reads `index.sense`
    twice to map WordNet 3.0 onto itself: about 10 s of a 20 s load on 2 CPU cores. For 3.0 no map is needed
    (nltk's own answer when the names match), so this reader skips it; other versions are mapped as nltk maps them.
    """
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class WordNet30Reader(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):
            if version == "wordnet" and self.get_version() == "3.0":
                return None
            return super().map_wn(version)

    return WordNet30Reader


@functools.lru_cache(maxsize=None)
def load_wordnet():
    """Returns nltk's WordNet 3.0 corpus reader, offline when possible.

    Sources, in order: Debian's `/usr/share/wordnet` (or `$KERAS_HIER_WORDNET_DIR`), copied once into an
    nltk data folder under `cache_dir()` with the `lexnames` file nltk needs; an existing nltk install of
    `wordnet`; `nltk.download("wordnet")`. Raises `RuntimeError` naming the Debian packages and the nltk
    command when none works.

    Example:
    >>> wn = load_wordnet()
    >>> sorted(s.name() for s in wn.synset("dog.n.01").hypernyms())
    ['canine.n.02', 'domestic_animal.n.01']
    """
    import nltk

    source = os.environ.get("KERAS_HIER_WORDNET_DIR", DEBIAN_WORDNET_DIR)
    errors = []
    if os.path.exists(os.path.join(source, "data.noun")):
        try:
            root = _materialise_debian(source, os.path.join(cache_dir(), "nltk_data"))
            if root not in nltk.data.path:
                nltk.data.path.insert(0, root)
        except OSError as e:
            errors.append(f"copying {source}: {e}")
    else:
        errors.append(f"{source} has no WordNet files")

    def try_reader():
        from nltk.corpus import CorpusReader
        from nltk.corpus import LazyCorpusLoader

        # As nltk.corpus.wordnet, with the reader that does not map 3.0 onto itself.
        omw = LazyCorpusLoader("omw-2.0", CorpusReader, r".*/wn-data-.*\.tab", encoding="utf8")
        wordnet = LazyCorpusLoader("wordnet", wordnet30_reader_class(), omw)
        try:
            wordnet.ensure_loaded()
        except LookupError as e:
            errors.append(f"nltk: {str(e).strip().splitlines()[0] if str(e).strip() else e}")
            return None
        return wordnet

    started = time.time()
    print("keras_hier: loading WordNet 3.0 (the first time in a process takes about 10 s) ...", end="",
          file=sys.stderr, flush=True)
    reader = try_reader()
    print(f" {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    if reader is None:
        try:
            if nltk.download("wordnet", quiet=True, raise_on_error=True):
                reader = try_reader()
        except Exception as e:  # No network, or the download server refused.
            errors.append(f"nltk.download('wordnet'): {e}")
    if reader is None:
        raise RuntimeError("WordNet 3.0 is not available (" + "; ".join(errors) + "). " + _INSTALL_HINT)
    if reader.get_version() != "3.0":
        warnings.warn(f"Expected WordNet 3.0 (ImageNet ids are 3.0 offsets); nltk loaded {reader.get_version()}.")
    return reader


def wnid(synset):
    """The WordNet id of an nltk synset: part of speech and 8-digit offset, e.g. `n02084071`."""
    return f"{synset.pos()}{synset.offset():08d}"


def synset_from_wnid(wnid_):
    """The nltk synset of a WordNet id such as `n02084071` (ImageNet's class ids).

    Raises:
        ValueError: if the id is malformed or names no synset of WordNet 3.0.
    """
    m = _WNID.match(str(wnid_))
    if not m:
        raise ValueError(
            f"Malformed WordNet id {wnid_!r}: expected a part of speech letter and 8 digits, e.g. 'n02084071'."
        )
    wn = load_wordnet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            synset = wn.synset_from_pos_and_offset(m.group(1), int(m.group(2)))
        except Exception:
            synset = None
    if synset is None:
        raise ValueError(f"Unknown WordNet id {wnid_!r}: no synset at that offset in WordNet 3.0.")
    return synset


def as_synsets(items):
    """Converts WordNet ids (`n02084071`), synset names (`dog.n.01`) or synsets into a list of synsets.

    Raises:
        ValueError: naming the first item that is not a known synset.
    """
    if isinstance(items, str) or not hasattr(items, "__iter__"):
        items = [items]
    wn = load_wordnet()
    out = []
    for item in items:
        if hasattr(item, "offset") and hasattr(item, "pos"):
            out.append(item)
        elif isinstance(item, str) and _WNID.match(item):
            out.append(synset_from_wnid(item))
        elif isinstance(item, str):
            try:
                out.append(wn.synset(item))
            except Exception as e:
                raise ValueError(
                    f"Unknown WordNet synset {item!r}: give a WordNet id like 'n02084071' or a synset name "
                    f"like 'dog.n.01' ({e})."
                ) from None
        else:
            raise ValueError(f"Expected a WordNet id, synset name or nltk synset; got {item!r}.")
    return out


def _up_distances(synset):
    """Shortest number of hypernym / instance-hypernym steps from `synset` to each ancestor (itself: 0),
    breadth-first exactly as nltk's `Synset._shortest_hypernym_paths`."""
    dist = {}
    queue = collections.deque([(synset, 0)])
    while queue:
        s, d = queue.popleft()
        if s in dist:
            continue
        dist[s] = d
        queue.extend((h, d + 1) for h in s.hypernyms())
        queue.extend((h, d + 1) for h in s.instance_hypernyms())
    return dist


class _AncestorTable:
    """The ancestors of a set of synsets as sparse (row, column, distance) triplets over shared columns."""

    def __init__(self, groups):
        synsets = [s for g in groups for s in g]
        others = [s for s in synsets if s.pos() != "n"]
        if others:
            raise ValueError(
                f"WordNet similarity matrices support noun synsets (as image classes are); got {others[0].name()}."
            )
        self.dist = {}
        for s in synsets:
            if s not in self.dist:
                self.dist[s] = _up_distances(s)
        ancestors = {a for s in synsets for a in self.dist[s]}
        # Column order = nltk's preference for a lowest common hypernym: deepest min_depth, then name.
        self.columns = sorted(ancestors, key=lambda a: (-a.min_depth(), a.name()))
        self.column = {a: i for i, a in enumerate(self.columns)}
        self.rows = [self._rows(groups[0])]
        self.rows += [self.rows[0] if g is groups[0] else self._rows(g) for g in groups[1:]]

    def _rows(self, group):
        """For each column: the row indices of `group` having that ancestor, and their distances."""
        per_col = collections.defaultdict(lambda: ([], []))
        for i, s in enumerate(group):
            for a, d in self.dist[s].items():
                rows, dists = per_col[self.column[a]]
                rows.append(i)
                dists.append(d)
        return {c: (np.asarray(r, np.int64), np.asarray(d, np.float64)) for c, (r, d) in per_col.items()}

    def common_columns(self):
        """Columns that are ancestors of at least one row of each group."""
        return [c for c in range(len(self.columns)) if all(c in rows for rows in self.rows)]


def _path_distance(d_x, d_y):
    """nltk's `shortest_path_distance`: the least d(x, a) + d(y, a) over common ancestors a."""
    best = math.inf
    for a, d in d_x.items():
        e = d_y.get(a)
        if e is not None and d + e < best:
            best = d + e
    return best


def _pairs_and_groups(a, b):
    sa = as_synsets(a)
    sb = sa if b is None else as_synsets(b)
    if not sa or not sb:
        raise ValueError("WordNet similarity needs at least one synset on each side; got an empty list.")
    return sa, sb


def shortest_path_matrix(a, b=None):
    """Shortest hypernym-path distances between synsets, as nltk's `shortest_path_distance` (vectorised).

    The distance of `x` and `y` is the least `d(x, c) + d(y, c)` over their common hypernyms `c`, where `d`
    counts hypernym / instance-hypernym steps.

    Args:
        a: WordNet ids, synset names or synsets (rows).
        b: optional second list (columns); defaults to `a`.

    Returns:
        float64 array [len(a), len(b)] (inf where no common hypernym exists).
    """
    sa, sb = _pairs_and_groups(a, b)
    table = _AncestorTable([sa, sb])
    out = np.full((len(sa), len(sb)), np.inf)
    ra, rb = table.rows
    for c in table.common_columns():
        (ia, da), (ib, db) = ra[c], rb[c]
        block = out[np.ix_(ia, ib)]
        np.minimum(block, da[:, None] + db[None, :], out=block)
        out[np.ix_(ia, ib)] = block
    return out


def wup_matrix(a, b=None):
    """Wu-Palmer similarity of every pair, equal to nltk's `a[i].wup_similarity(b[j])` (nouns), vectorised.

    As nltk does: the subsumer is the common hypernym with the greatest min_depth (ties: the synset `a[i]`
    itself if it is one of them, else the smallest name); its depth is `max_depth + 1`; the lengths are
    nltk's shortest path distances to the subsumer. 1000 x 1000 ImageNet-1k classes take under a second
    where nltk needs minutes.

    Args:
        a: WordNet ids (`n02084071`), synset names (`dog.n.01`) or nltk synsets (rows).
        b: optional second list (columns); defaults to `a`.

    Returns:
        float64 array [len(a), len(b)] in (0, 1] (NaN where no common hypernym exists).

    Example:
    >>> wup_matrix(["dog.n.01", "cat.n.01"]).round(3).tolist()
    [[0.929, 0.857], [0.857, 1.0]]
    """
    sa, sb = _pairs_and_groups(a, b)
    table = _AncestorTable([sa, sb])
    ra, rb = table.rows
    sub = np.full((len(sa), len(sb)), -1, np.int64)
    # Write the columns from the least to the most preferred: each pair keeps its preferred common hypernym.
    for c in reversed(table.common_columns()):
        sub[np.ix_(ra[c][0], rb[c][0])] = c
    # nltk prefers the row synset itself when it is among the deepest common hypernyms.
    min_depth = np.array([s.min_depth() for s in table.columns])
    for i, s in enumerate(sa):
        c = table.column[s]
        if c in rb:
            js = rb[c][0]
            chosen = sub[i, js]
            sub[i, js] = np.where(min_depth[chosen] == min_depth[c], c, chosen)

    # Distances (nltk's shortest_path_distance) of every synset to each of its ancestors, as sparse lookups.
    def lengths(group, rows):
        keys, vals = [], []
        for c, (idx, _) in rows.items():
            anc = table.columns[c]
            d_anc = table.dist.setdefault(anc, _up_distances(anc))
            for i in idx:
                keys.append(int(i) * len(table.columns) + c)
                vals.append(_path_distance(table.dist[group[i]], d_anc))
        order = np.argsort(keys)
        return np.asarray(keys, np.int64)[order], np.asarray(vals, np.float64)[order]

    valid = sub >= 0
    safe = np.where(valid, sub, 0)
    ka, va = lengths(sa, ra)
    kb, vb = (ka, va) if sb is sa else lengths(sb, rb)
    n_col = len(table.columns)
    len_a = va[np.searchsorted(ka, np.arange(len(sa))[:, None] * n_col + safe).clip(0, len(ka) - 1)]
    len_b = vb[np.searchsorted(kb, np.arange(len(sb))[None, :] * n_col + safe).clip(0, len(kb) - 1)]
    depth = np.array([s.max_depth() + 1 for s in table.columns], np.float64)[safe]
    out = 2.0 * depth / (len_a + len_b + 2.0 * depth)
    return np.where(valid, out, np.nan)


@functools.lru_cache(maxsize=None)
def noun_taxonomy_depth():
    """The depth of the noun taxonomy that nltk's `lch_similarity` uses: the largest `max_depth()` of any noun
    synset (19 in WordNet 3.0). Computing it reads every noun synset (several seconds), so the value is kept
    in `cache_dir()` once computed."""
    wn = load_wordnet()
    path = os.path.join(cache_dir(), f"wordnet-{wn.get_version()}-noun-depth.json")
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):  # no cache yet, or an unreadable one
        with open(path, encoding="utf-8") as f:
            return int(json.load(f)["max_depth"])
    depth = max(s.max_depth() for s in wn.all_synsets("n"))
    with contextlib.suppress(OSError):  # a read-only cache only costs the recomputation next time
        write_text_atomic(path, json.dumps({"max_depth": depth}))
    return depth


def lch_matrix(a, b=None):
    """Leacock-Chodorow similarity of every pair, equal to nltk's `lch_similarity` (nouns), vectorised.

    `-log((p + 1) / (2 D))` with `p` the shortest hypernym-path distance and `D` the depth of the noun
    taxonomy (19 in WordNet 3.0).

    Args:
        a: WordNet ids, synset names or synsets (rows).
        b: optional second list (columns); defaults to `a`.

    Returns:
        float64 array [len(a), len(b)] (NaN where no common hypernym exists).

    Example:
    >>> lch_matrix(["dog.n.01", "cat.n.01"]).round(3).tolist()
    [[3.638, 2.028], [2.028, 3.638]]
    """
    dist = shortest_path_matrix(a, b)
    with np.errstate(divide="ignore"):
        out = -np.log((dist + 1.0) / (2.0 * noun_taxonomy_depth()))
    return np.where(np.isfinite(dist), out, np.nan)


def _neighbours(synset):
    return (
        synset.hypernyms() + synset.instance_hypernyms() + synset.hyponyms() + synset.instance_hyponyms()
    )


def synsets_within_hops(sources, max_hops):
    """Every synset within `max_hops` steps of any source in the (undirected) hypernym graph.

    Args:
        sources: WordNet ids, synset names or synsets.
        max_hops: the largest number of hypernym / hyponym steps (instance links included).

    Returns:
        dict mapping each synset reached (sources included, at 0) to its hop distance.
    """
    if max_hops < 0:
        raise ValueError(f"`max_hops` must be >= 0; got {max_hops}.")
    frontier = list(dict.fromkeys(as_synsets(sources)))
    dist = {s: 0 for s in frontier}
    for hop in range(1, int(max_hops) + 1):
        nxt = []
        for s in frontier:
            for t in _neighbours(s):
                if t not in dist:
                    dist[t] = hop
                    nxt.append(t)
        frontier = nxt
        if not frontier:
            break
    return dist


def hop_distance(a, b, max_hops=None):
    """Shortest path length between two synsets in the undirected hypernym graph (hypernym and hyponym
    steps, instance links included), as used for the "2-hops" / "3-hops" zero-shot splits.

    Args:
        a: a WordNet id, synset name or synset.
        b: another one.
        max_hops: optional search limit; beyond it the result is None.

    Returns:
        The number of steps, or None when `b` is not reached (within `max_hops`).

    Example:
    >>> hop_distance("dog.n.01", "canine.n.02")
    1
    """
    (sa,) = as_synsets([a])
    (sb,) = as_synsets([b])
    if sa == sb:
        return 0
    # Breadth-first from both ends, expanding the smaller frontier.
    seen = [{sa: 0}, {sb: 0}]
    frontiers = [[sa], [sb]]
    while frontiers[0] and frontiers[1]:
        side = 0 if len(frontiers[0]) <= len(frontiers[1]) else 1
        mine, other = seen[side], seen[1 - side]
        best = None
        nxt = []
        for s in frontiers[side]:
            for t in _neighbours(s):
                if t in other:
                    total = mine[s] + 1 + other[t]
                    best = total if best is None else min(best, total)
                if t not in mine:
                    mine[t] = mine[s] + 1
                    nxt.append(t)
        if best is not None:
            return best if max_hops is None or best <= max_hops else None
        frontiers[side] = nxt
        reach = max(seen[0].values()) + max(seen[1].values())
        if max_hops is not None and reach >= max_hops:
            return None
    return None

"""Vectorised WordNet similarity vs nltk, on ImageNet-1k classes: `python -m benchmarks.wordnet_similarity`.

nltk computes one pair at a time; keras_hier computes whole matrices. Both run here in the same process: nltk on a random
sample of pairs (its time per pair is extrapolated to all 1000 x 1000 pairs), keras_hier on the full matrix. The table
gives seconds and the speed-up ratio, and checks that the sampled values agree.
"""

import argparse
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.wordnet_similarity", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000, help="pairs timed with nltk (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from keras_hier.knowledge import imagenet, wordnet

    wn = wordnet.load_wordnet()
    wnids = imagenet.imagenet1k_wnids()
    synsets = wordnet.as_synsets(wnids)
    wordnet.noun_taxonomy_depth()  # nltk and keras_hier both compute the taxonomy depth once; keep it out of the timings
    synsets[0].lch_similarity(synsets[1])
    rng = np.random.default_rng(args.seed)
    pairs = rng.integers(0, len(synsets), size=(args.pairs, 2))
    rows = []
    for name, ours, theirs in [
        ("wup", wordnet.wup_matrix, lambda a, b: a.wup_similarity(b)),
        ("lch", wordnet.lch_matrix, lambda a, b: a.lch_similarity(b)),
    ]:
        t = time.perf_counter()
        matrix = ours(synsets)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        values = [theirs(synsets[i], synsets[j]) for i, j in pairs]
        t_nltk = (time.perf_counter() - t) / len(pairs) * len(synsets) ** 2
        err = float(np.max(np.abs(matrix[pairs[:, 0], pairs[:, 1]] - np.array(values))))
        rows.append((name, t_ours, t_nltk, t_nltk / t_ours, err))
    print(f"WordNet {wn.get_version()}, ImageNet-1k 1000 x 1000 pairs (nltk extrapolated from {args.pairs} pairs)")
    print(f"{'measure':<8} {'keras_hier s':>13} {'nltk s':>10} {'speed-up':>10} {'max |diff|':>11}")
    for name, a, b, r, e in rows:
        print(f"{name:<8} {a:>13.2f} {b:>10.1f} {r:>9.0f}x {e:>11.1e}")
    return {f"{name} nltk / keras_hier time": r for name, a, b, r, e in rows}


if __name__ == "__main__":
    main()

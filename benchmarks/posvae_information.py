"""What PosVAE's posterior keeps of the external probabilities at 10, 100 and 1,000 external classes:
`python -m benchmarks.posvae_information`.

The probabilities are a real classifier's outputs with ImageNet-like structure: a nearest-prototype (cosine)
classifier on noisy GloVe vectors of the first K ImageNet-1k class names (similar names, e.g. dog breeds, get
confused as ImageNet's classifiers confuse them), its temperature fitted by maximum likelihood on held-out images
(temperature scaling) so that its probabilities are calibrated, the noise set so that its top-1 accuracy is about
75 % (a ResNet-101's on ImageNet: 77 %). PosVAE (`keras_hier.layers.PosVAE`, the class names' GloVe vectors as s_k) is
then trained on its own loss alone, as in the issue that found the collapse, for each `reconstruct` formulation,
and scored on held-out images with `PosVAE.information`: R² of p and of log p from mu (linear, per class, fitted on
one half and scored on the other), KL to the prior per latent dimension, active dimensions (KL > 0.01 nats), and
the spread of mu over images against the posterior's sigma, and the swap test: how far mu moves when an image's
probabilities are replaced by another image's, in units of sigma (`swap_change`, 0 for a posterior that ignores
p). Writes `--output` metrics.json.
"""

import argparse
import json
import os
import time

import numpy as np


def classifier_posteriors(num_classes, num_images, accuracy=0.75, seed=0):
    """`(probabilities [num_images, K], semantic vectors [K, 50], top-1 accuracy)` of a calibrated classifier on noisy
    GloVe vectors of the first K ImageNet-1k class names (see the module's docstring)."""
    from scipy.optimize import minimize_scalar

    from keras_hier.knowledge.embeddings import glove_embeddings
    from keras_hier.knowledge.imagenet import imagenet1k_names

    rng = np.random.default_rng(seed)
    names = imagenet1k_names()[:num_classes]
    vectors = glove_embeddings(names, on_unknown="zero")
    vectors = vectors + 1e-3 * rng.normal(size=vectors.shape)  # names without a known word stay distinct
    prototypes = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def sample(count, noise):
        labels = rng.integers(0, num_classes, size=count)
        return prototypes[labels] + noise * rng.normal(size=(count, prototypes.shape[1])), labels

    # The noise whose nearest-prototype accuracy is `accuracy` (a bisection).
    low, high = 0.01, 2.0
    for _ in range(20):
        noise = (low + high) / 2
        x, y = sample(4000, noise)
        if ((x @ prototypes.T).argmax(1) == y).mean() > accuracy:
            low = noise
        else:
            high = noise

    def log_softmax(logits):
        logits = logits - logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    # The cosine classifier's temperature by maximum likelihood on held-out images (temperature scaling).
    x_fit, y_fit = sample(4000, noise)
    scores = x_fit @ prototypes.T
    scale = minimize_scalar(lambda b: -log_softmax(b * scores)[np.arange(len(y_fit)), y_fit].mean(),
                            bounds=(0.1, 200.0), method="bounded").x
    x, y = sample(num_images, noise)
    probabilities = np.exp(log_softmax(scale * (x @ prototypes.T)))
    return probabilities.astype(np.float32), vectors.astype(np.float32), float((probabilities.argmax(1) == y).mean())


def train_posvae(probabilities, semantic, reconstruct, latent_dim, epochs, seed):
    """A PosVAE trained on its own loss (Adam 1e-3, batch 128); returns the layer."""
    import keras

    from keras_hier.layers import PosVAE

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((probabilities.shape[1],))
    vae = PosVAE(latent_dim, semantic, hidden_units=256, reconstruct=reconstruct, seed=seed)
    model = keras.Model(inputs, vae(inputs))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(probabilities, batch_size=128, epochs=epochs, verbose=0, shuffle=True)
    return vae


def swap_change(vae, probabilities):
    """Mean |mu(another image's p) - mu(p)| in units of the posterior's standard deviation sigma (mean): how far
    swapping two images' probabilities moves their node states against the noise the paper samples with (0 when mu
    ignores p; well below 1, the move is lost in the noise)."""
    mean, log_var = (np.asarray(t) for t in vae.encode(probabilities))
    swapped = np.asarray(vae.encode(np.roll(probabilities, 1, axis=0))[0])
    return float(np.abs(swapped - mean).mean() / np.exp(0.5 * log_var).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.posvae_information", description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default="10,100,1000", help="comma-separated numbers of external classes")
    parser.add_argument("--reconstruct", default="probability,log_probability",
                        help="comma-separated PosVAE formulations (probability, log_probability, embedding)")
    parser.add_argument("--images", type=int, default=3000, help="images: two thirds train PosVAE, a third score it")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--latent-dim", type=int, default=64, help="the node-state size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/posvae_information")
    args = parser.parse_args(argv)
    rows, ratios = [], {}
    for k in (int(c) for c in args.classes.split(",")):
        probabilities, semantic, accuracy = classifier_posteriors(k, args.images, seed=args.seed)
        split = 2 * len(probabilities) // 3
        train, test = probabilities[:split], probabilities[split:]
        top = np.sort(test, axis=1)[:, ::-1]
        print(f"K = {k}: classifier top-1 {accuracy:.3f}, mean top-1 probability {top[:, 0].mean():.3f}, "
              f"median probability {np.median(test):.2e}")
        for reconstruct in args.reconstruct.split(","):
            start = time.perf_counter()
            vae = train_posvae(train, semantic, reconstruct, args.latent_dim, args.epochs, args.seed)
            row = {"classes": k, "reconstruct": reconstruct, "classifier_top1": accuracy, **vae.information(test),
                   "swap_change": swap_change(vae, test), "seconds": time.perf_counter() - start}
            rows.append(row)
            print(f"  {reconstruct:<16} R² p {row['r2_probability']:7.3f}  R² log p {row['r2_log_probability']:7.3f}"
                  f"  mu spread {row['mu_spread']:.4f}  sigma {row['sigma']:.3f}"
                  f"  KL/dim {row['kl_per_dimension']:7.4f}  active {row['active_dimensions']:3d}/{args.latent_dim}"
                  f"  swap change {row['swap_change']:6.3f}  ({row['seconds']:.0f} s)")
        paper = next((r for r in rows if r["classes"] == k and r["reconstruct"] == "probability"), None)
        remedy = next((r for r in rows if r["classes"] == k and r["reconstruct"] == "log_probability"), None)
        if paper and remedy:
            ratios[f"K={k}: swap change, log_probability / probability"] = remedy["swap_change"] / max(
                paper["swap_change"], 1e-12)
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "metrics.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"args": vars(args), "rows": rows}, f, indent=1)
    os.replace(path + ".tmp", path)
    print(f"wrote {path}")
    return ratios


if __name__ == "__main__":
    main()

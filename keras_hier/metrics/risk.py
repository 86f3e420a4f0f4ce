"""`risk_minimising_decision`: the conditional-risk-minimising decision (CRM, Karthik et al. ICLR 2021), a post-hoc
decoding of any classifier's probabilities that trades a little accuracy for less severe mistakes."""

import numpy as np

from keras_hier.metrics.mistakes import distance_matrix


def cost_matrix(cost):
    """The cost matrix [classes, classes] of `cost`: a matrix as given, or a `Hierarchy` (or its JSON) -> its
    `lca_distance(kind="height")` (the CRM paper's cost)."""
    return distance_matrix(cost, "height")


def risk_minimising_decision(probabilities, cost, return_risk=False):
    """CRM: y = argmin_j sum_i C(i, j) p(i | x), the class whose expected cost under the model's distribution is
    lowest (Karthik et al., "No Cost Likelihood Manipulation at Test Time for Making Better Mistakes in Deep
    Networks", ICLR 2021). With C the 0/1 cost it is the argmax; with the LCA distance it prefers a class close to
    every likely one.

    Args:
        probabilities: class probabilities [n, classes] (softmax outputs, not logits).
        cost: a cost matrix [classes, classes] (C(i, j): the cost of predicting j when the class is i) or a
            `Hierarchy` (or its JSON), whose `lca_distance(kind="height")` is the cost.
        return_risk: also return the expected costs [n, classes].

    Returns:
        int array [n] of decisions (ties: the lower label), and the risks with `return_risk`.

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> risk_minimising_decision(np.array([[0.3, 0.3, 0.4]]), h)  # car is likeliest, but an animal is likelier
    array([0])
    """
    cost = cost_matrix(cost)
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != cost.shape[0]:
        raise ValueError(f"Expected probabilities [n, {cost.shape[0]}] for a {cost.shape[0]}-class cost matrix; got "
                         f"{probabilities.shape}.")
    if not np.isfinite(probabilities).all():
        raise ValueError("The probabilities hold NaN or infinite values.")
    risk = probabilities @ cost.astype(np.float64)
    decision = risk.argmin(axis=1)
    return (decision, risk) if return_risk else decision

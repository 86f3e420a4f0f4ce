"""Checks of numeric arguments shared by the whole public API: one place that says what a valid number is.

A check written `if x <= 0: raise` lets NaN through (every comparison with NaN is False); these checks are written
the other way round (`not (x > low)`), refuse NaN and infinities, and name the argument, the allowed range and what
was given.
"""

import math
import numbers

import numpy as np


def _range_text(low, high, low_open, high_open):
    left = "-inf" if low is None else f"{low:g}"
    right = "inf" if high is None else f"{high:g}"
    return ("(" if low is None or low_open else "[") + f"{left}, {right}" + (")" if high is None or high_open else "]")


def check_number(value, name, low=None, high=None, low_open=False, high_open=False, integer=False):
    """`value` as a Python float (an int with `integer`) when it is a finite number within the range, else a
    ValueError that names `name`, the range and the value.

    Args:
        value: the argument to check (a Python or NumPy number, or a 0-d array).
        name: the argument's name, as the user wrote it (e.g. `"temperature"`).
        low, high: the bounds (None: unbounded).
        low_open, high_open: exclude the bound itself (e.g. `low=0, low_open=True` for a positive number).
        integer: require a whole number and return an int.

    Example:
    >>> check_number(0.1, "temperature", low=0, low_open=True)
    0.1
    >>> check_number(float("nan"), "temperature", low=0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: `temperature` must be a finite number in (0, inf); got nan.
    """
    kind = "an integer" if integer else "a finite number"
    where = _range_text(low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray)) or np.ndim(value) != 0:
        raise ValueError(f"`{name}` must be {kind} in {where}; got {value!r}.")
    number = float(value)
    if not math.isfinite(number) or (integer and not number.is_integer()) or (
            low is not None and not (number > low if low_open else number >= low)) or (
            high is not None and not (number < high if high_open else number <= high)):
        raise ValueError(f"`{name}` must be {kind} in {where}; got {value!r}.")
    return int(number) if integer else number


def check_numbers(values, name, length=None, what=None, **bounds):
    """`values` (a number or a sequence) as a float64 vector after `check_number` on each item, else a ValueError
    naming `name`; with `length`, the vector must hold that many values (or, with `length=(1, n)`, either).

    Args:
        values: a number or a sequence of numbers.
        name: the argument's name.
        length: the required number of values, a tuple of allowed numbers, or None (any, at least one).
        what: optional words on the length for the message (e.g. "one per channel, or one for all").
        **bounds: `low`, `high`, `low_open`, `high_open`, `integer`, as `check_number`'s.

    Example:
    >>> check_numbers([0.2, 0.3], "std", length=(1, 2), low=0, low_open=True)
    array([0.2, 0.3])
    """
    vector = np.asarray(values, dtype=object).reshape(-1)
    allowed = (length,) if isinstance(length, int) else None if length is None else sorted(set(length))
    if vector.size == 0 or (allowed is not None and vector.size not in allowed):
        count = "at least one value" if allowed is None else " or ".join(str(n) for n in allowed) + " value(s)"
        raise ValueError(f"`{name}` must hold {count}{f' ({what})' if what else ''}; got {vector.size}.")
    return np.asarray([check_number(v, f"{name}[{i}]" if vector.size > 1 else name, **bounds)
                       for i, v in enumerate(vector)], dtype=np.float64)


def check_finite(array, name):
    """`array` as a NumPy array when every value in it is finite, else a ValueError naming `name`, how many values
    are NaN or infinite and where the first is. Metrics and prototypes use it so that NaN never turns silently into a
    number (e.g. a mean average precision computed over NaN scores).

    Args:
        array: array-like of numbers.
        name: the argument's name.

    Example:
    >>> check_finite([[0.5, float("nan")]], "y_score")
    Traceback (most recent call last):
    ...
    ValueError: `y_score` holds 1 NaN or infinite value(s) (the first at index (0, 1)); scores, features and weights must be finite.
    """
    array = np.asarray(array)
    if array.dtype.kind in "fc":
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(i) for i in np.unravel_index(int(np.flatnonzero(bad.reshape(-1))[0]), array.shape))
            raise ValueError(f"`{name}` holds {int(bad.sum())} NaN or infinite value(s) (the first at index "
                             f"{first if len(first) != 1 else first[0]}); scores, features and weights must be "
                             "finite.")
    return array


def nan_unless_finite(x):
    """0.0 when every value of the tensor `x` is finite, else NaN (a float32 scalar, any Keras backend). A stateful
    metric adds it to its running totals, so that scores holding NaN make its result NaN, visibly, instead of a
    number computed over them (a graph cannot raise a Python error).

    Example:
    >>> from keras import ops
    >>> [float(nan_unless_finite(ops.convert_to_tensor(v))) for v in ([1.0, 2.0], [float("nan")])]
    [0.0, nan]
    """
    from keras import ops

    finite = ops.all(ops.isfinite(ops.cast(x, "float32")))
    return ops.where(finite, ops.convert_to_tensor(0.0, "float32"), ops.convert_to_tensor(float("nan"), "float32"))

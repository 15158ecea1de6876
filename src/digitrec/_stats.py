"""NumPy's median and linear percentile of a 1-D array, the same values and types, at a fraction of the cost.

NumPy partitions an array at several ranks at once (the two middle ranks
of a median; the two ranks around a percentile, plus the first and last)
through a path about ten times slower than a partition at one rank
(16,384 float32 values here: `np.median` 157 microseconds, `median` 16).
Ink extraction takes a few dozen of them per picture, so these partition at
one rank and find the rank below it as the maximum of the lower part. The
arithmetic is NumPy's own (`numpy.lib._function_base_impl._lerp` for the
percentile, the mean of the two middle values for the median), so the
results are equal bit for bit: checked on 100,000 random float32 and float64
arrays of 1 to 20,000 values, with and without ties (tests/test_stats.py).
"""

import numpy as np


def median(values):
    """`np.median(values)` of a 1-D array `values` of finite numbers (NaN is not looked for, as NumPy does; an empty
    array is answered as NumPy answers it: nan, with its warning)."""
    k = len(values) // 2
    if not k:
        return np.median(values)
    part = np.partition(values, k)
    return part[k] if len(values) % 2 else (part[:k].max() + part[k]) / 2


def percentile(values, q):
    """`np.percentile(values, q)` (the default, linear method) of a 1-D array `values` of finite numbers (NaN is
    not looked for), for a Python number `q` in [0, 100] (at the ends, and for fewer than two values, NumPy
    answers)."""
    virtual = (len(values) - 1) * (q / 100)
    if not 0 <= virtual < len(values) - 1:
        return np.percentile(values, q)
    below = int(virtual)
    part = np.partition(values, below + 1)
    low, high = part[: below + 1].max(), part[below + 1]
    step, t = high - low, virtual - below
    return high - step * (1 - t) if t >= 0.5 else low + step * t

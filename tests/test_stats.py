"""`digitrec._stats`: NumPy's median and percentile, bit for bit."""

import numpy as np
import pytest

from digitrec import _stats


def arrays(seed, count=3000):
    """Random 1-D float32 and float64 arrays of 1 to 20,000 values, half of them rounded to a few levels (ties)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(rng.integers(1, 20000)) if i % 10 == 0 else int(rng.integers(1, 60))
        dtype = np.float32 if i % 3 else np.float64
        values = rng.random(n) ** float(rng.choice([1, 4]))
        yield (np.round(values * 20) / 7 if i % 2 else values).astype(dtype)


def test_median_is_numpys():
    for values in arrays(0):
        expected, got = np.median(values), _stats.median(values)
        assert got == expected and type(got) is type(expected), (len(values), values.dtype)


@pytest.mark.parametrize("q", [0, 30, 50, 75, 90, 95, 100])
def test_percentile_is_numpys(q):
    for values in arrays(q):
        expected, got = np.percentile(values, q), _stats.percentile(values, q)
        assert got == expected and type(got) is type(expected), (len(values), values.dtype)


def test_the_input_is_left_as_it_was():
    values = np.random.default_rng(1).random(101).astype(np.float32)
    copy = values.copy()
    _stats.median(values), _stats.percentile(values, 75)
    assert np.array_equal(values, copy)


def test_median_and_mad_is_two_numpy_medians():
    """The median absolute deviation from one sort is NumPy's median of the deviations, bit for bit: arrays with
    ties, with odd and even lengths, of float32 and float64 (the noise floor's statistic, `masks.noise_floor`)."""
    for values in arrays(2):
        m = float(np.median(values))
        expected = np.median(np.abs(values - m))
        got_m, got = _stats.median_and_mad(values)
        assert got_m == m and got == expected and type(got) is type(expected), (len(values), values.dtype)

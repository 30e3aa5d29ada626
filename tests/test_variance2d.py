"""The 2-D variance data set (notebook 03): layout, determinism, the variance parameter, the Bayes error."""
from __future__ import annotations

import math

import pytest
import torch

import samlab.data as data
from samlab.data.variance2d import VARIANCE2D_OFFSET, make_variance2d, variance2d_bayes_error


def _centres(x: torch.Tensor, a: float = VARIANCE2D_OFFSET) -> torch.Tensor:
    return torch.sign(x) * a  # every point is far closer to its own blob's centre at small variance


def test_exported_from_samlab_data():
    assert data.make_variance2d is make_variance2d
    assert data.variance2d_bayes_error is variance2d_bayes_error


def test_shapes_dtypes_and_balanced_classes():
    x, y = make_variance2d(5.0, n=2000, seed=0)
    assert x.shape == (2000, 2) and x.dtype == torch.float32
    assert y.shape == (2000,) and y.dtype == torch.int64
    assert int((y == 0).sum()) == int((y == 1).sum()) == 1000


def test_xor_layout_at_tiny_variance():
    # class 0 at (+a,+a) and (-a,-a), class 1 at (+a,-a) and (-a,+a): the label is [x1 * x2 < 0]
    x, y = make_variance2d(1e-4, n=400, seed=3)
    assert torch.equal((x[:, 0] * x[:, 1] < 0).long(), y)
    assert torch.allclose(x.abs(), torch.full_like(x, VARIANCE2D_OFFSET), atol=0.1)
    for cls in (0, 1):  # both blobs of each class are used, equally
        sel = x[y == cls]
        assert int((sel[:, 0] > 0).sum()) == int((sel[:, 0] < 0).sum()) == 100


def test_same_seed_same_points_other_seed_other_points():
    a, ya = make_variance2d(15.0, n=300, seed=1)
    b, yb = make_variance2d(15.0, n=300, seed=1)
    c, _ = make_variance2d(15.0, n=300, seed=2)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)


def test_variance_scales_the_same_draw():
    # same seed: the noise is the same draw, scaled by sigma (so a sweep over variances has no resampling noise)
    x1, y1 = make_variance2d(1.0, n=500, seed=4)
    x4, y4 = make_variance2d(4.0, n=500, seed=4)
    assert torch.equal(y1, y4)
    c = _centres(make_variance2d(1e-6, n=500, seed=4)[0])
    assert torch.allclose(x4 - c, 2.0 * (x1 - c), atol=1e-4)


def test_per_coordinate_variance_is_the_parameter():
    for var in (1.0, 30.0):
        x, _ = make_variance2d(var, n=40000, seed=0)
        c = _centres(make_variance2d(1e-8, n=40000, seed=0)[0])
        emp = (x - c).double().var(dim=0)
        assert torch.allclose(emp, torch.full_like(emp, var), rtol=0.03), emp


def test_bayes_error_closed_form_and_monte_carlo():
    assert variance2d_bayes_error(0.0) == 0.0
    # sigma^2 = 25, a = 10: q = Phi(2) = 0.97725, error = 2 q (1 - q) = 0.04447
    q = 0.5 * (1 + math.erf(2 / math.sqrt(2)))
    assert variance2d_bayes_error(25.0) == pytest.approx(2 * q * (1 - q), rel=1e-12)
    assert variance2d_bayes_error(25.0) == pytest.approx(0.04447, abs=1e-4)
    # the Bayes rule (class 1 iff x1 x2 < 0) reaches it on samples
    x, y = make_variance2d(50.0, n=200000, seed=0)
    err = float(((x[:, 0] * x[:, 1] < 0).long() != y).float().mean())
    assert err == pytest.approx(variance2d_bayes_error(50.0), abs=0.004)
    # more variance, more overlap
    errs = [variance2d_bayes_error(v) for v in (1, 5, 15, 30, 80)]
    assert errs == sorted(errs) and errs[-1] < 0.25


@pytest.mark.parametrize("kwargs, match", [
    (dict(variance=-1.0), "variance"), (dict(variance=float("nan")), "variance"),
    (dict(variance=1.0, n=1), "n=1"), (dict(variance=1.0, n=10.5), "n="),
    (dict(variance=1.0, seed="0"), "seed"), (dict(variance=1.0, offset=-2.0), "offset"),
])
def test_bad_input_is_refused_with_the_argument_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_variance2d(**kwargs)

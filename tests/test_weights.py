"""samlab.weights: exact perturb/restore, conv/linear weights, clipping hooks derived by hand."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from samlab.weights import clip_weights, clip_weights_std, conv_linear_weights, perturbed, replaced

T = torch.tensor


def test_conv_linear_weights_are_exactly_the_conv_and_linear_weights():
    model = nn.Sequential(nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3), nn.Conv2d(3, 4, 1), nn.Conv3d(4, 2, 1),
                          nn.Flatten(), nn.Linear(6, 2), nn.LayerNorm(2))
    got = conv_linear_weights(model)
    assert [id(w) for w in got] == [id(model[i].weight) for i in (0, 2, 3, 5)]


def test_perturbed_restores_bitwise():
    # 0.1 + 0.2 - 0.2 != 0.1 in floating point: a subtraction would not restore w exactly; a copy does.
    w = nn.Parameter(T([0.1, 0.7, 1e-8]))
    before = w.detach().clone()
    with perturbed([w], [T([0.2, 0.3, 1.0])]):
        torch.testing.assert_close(w.detach(), before + T([0.2, 0.3, 1.0]))
    assert torch.equal(w.detach(), before)
    assert w.requires_grad


def test_perturbed_restores_on_exception():
    w = nn.Parameter(T([[1.0, 2.0]]))
    with pytest.raises(RuntimeError, match="boom"):
        with perturbed([w], [T([[5.0, 5.0]])]):
            assert torch.equal(w.detach(), T([[6.0, 7.0]]))
            raise RuntimeError("boom")
    assert torch.equal(w.detach(), T([[1.0, 2.0]]))


def test_callable_delta_none_entries_and_mul_mode():
    a, b = nn.Parameter(T([1.0, 2.0])), nn.Parameter(T([3.0]))
    seen = []

    def noise(params):
        seen.append([p.clone() for p in params])
        return [T([0.5, 3.0]), None]

    with perturbed([a, b], noise, mode="mul"):
        assert torch.equal(a.detach(), T([0.5, 6.0]))   # W' = W * delta
        assert torch.equal(b.detach(), T([3.0]))        # None: untouched
    assert torch.equal(seen[0][0], T([1.0, 2.0])) and torch.equal(a.detach(), T([1.0, 2.0]))


def test_replaced_sets_and_restores_and_works_under_no_grad():
    w = nn.Parameter(T([1.0, 2.0]))
    with torch.no_grad(), replaced([w], [T([9.0, 8.0])]):
        assert torch.equal(w.detach(), T([9.0, 8.0]))
    assert torch.equal(w.detach(), T([1.0, 2.0]))


def test_forward_inside_the_block_sees_the_perturbed_weights():
    lin = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(2.0)
    with perturbed([lin.weight], [T([[1.0]])]):
        assert lin(T([[1.0]])).item() == 3.0
    assert lin(T([[1.0]])).item() == 2.0


@pytest.mark.parametrize("delta, match", [([T([1.0]), T([1.0])], "one entry"), ([T([1.0, 2.0])], "shape"),
                                          ([3.0], "tensor or None")])
def test_bad_delta_is_refused(delta, match):
    with pytest.raises(ValueError, match=match):
        with perturbed([nn.Parameter(T([1.0]))], delta):
            pass


def test_bad_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        with perturbed([nn.Parameter(T([1.0]))], [T([1.0])], mode="sub"):
            pass


def sgd_step(w, grad, hook, arg):
    """One plain SGD step with lr 1 and the given gradient, with the constraint hook attached."""
    opt = torch.optim.SGD([w], lr=1.0)
    handle = hook(opt, [w], arg)
    w.grad = grad
    opt.step()
    return opt, handle


def test_clip_weights_after_an_sgd_step_by_hand():
    # w - g = [[0.5 - 0.1, -0.2 + 0.4], [0.05 - (-0.3), 0.0 - 0.25]] = [[0.4, 0.2], [0.35, -0.25]]; clip c = 0.3
    w = nn.Parameter(T([[0.5, -0.2], [0.05, 0.0]]))
    opt, handle = sgd_step(w, T([[0.1, -0.4], [-0.3, 0.25]]), clip_weights, 0.3)
    torch.testing.assert_close(w.detach(), T([[0.3, 0.2], [0.3, -0.25]]))
    handle.remove()                                  # detached: the next step is not clipped
    w.grad = T([[-1.0, 0.0], [0.0, 0.0]])
    opt.step()
    torch.testing.assert_close(w.detach(), T([[1.3, 0.2], [0.3, -0.25]]))


def test_clip_weights_std_after_the_update_by_hand():
    # w - g = [[3, -1], [0, 2]]: mean 1, unbiased var = (4 + 4 + 1 + 1) / 3 = 10/3, std = 1.8257;
    # alpha = 1 clamps 3 and 2 -> 1.8257 (std computed AFTER the update; the old w had std 0)
    w = nn.Parameter(T([[1.0, 1.0], [1.0, 1.0]]))
    sgd_step(w, T([[-2.0, 2.0], [1.0, -1.0]]), clip_weights_std, 1.0)
    s = (10 / 3) ** 0.5
    torch.testing.assert_close(w.detach(), T([[s, -1.0], [0.0, s]]))


def test_clip_std_is_per_tensor():
    a, b = nn.Parameter(T([0.0, 0.0, 3.0])), nn.Parameter(T([0.0, 0.0, 30.0]))
    opt = torch.optim.SGD([a, b], lr=1.0)
    clip_weights_std(opt, [a, b], 1.0)
    a.grad, b.grad = torch.zeros(3), torch.zeros(3)
    opt.step()
    # std([0, 0, 3]) = sqrt(3) (unbiased: mean 1, (1 + 1 + 4) / 2 = 3); std([0, 0, 30]) = 10 sqrt(3)
    torch.testing.assert_close(a.detach(), T([0.0, 0.0, 3 ** 0.5]))
    torch.testing.assert_close(b.detach(), T([0.0, 0.0, 10 * 3 ** 0.5]))


def test_clip_hooks_work_with_adam():
    w = nn.Parameter(T([0.0, 0.0]))
    opt = torch.optim.Adam([w], lr=10.0)
    clip_weights(opt, [w], 0.05)
    w.grad = T([-1.0, 1.0])
    opt.step()                                       # Adam moves each weight by ~lr = 10
    assert torch.equal(w.detach(), T([0.05, -0.05]))


@pytest.mark.parametrize("fn, arg, name", [(clip_weights, 0.0, "c"), (clip_weights, -0.1, "c"),
                                           (clip_weights, float("nan"), "c"), (clip_weights_std, 0.0, "alpha"),
                                           (clip_weights_std, "two", "alpha")])
def test_bad_constraint_arguments(fn, arg, name):
    w = nn.Parameter(T([1.0]))
    with pytest.raises(ValueError, match=name):
        fn(torch.optim.SGD([w], lr=0.1), [w], arg)


def test_constraint_needs_an_optimizer_instance():
    w = nn.Parameter(T([1.0]))
    with pytest.raises(ValueError, match="optimizer"):
        clip_weights(torch.optim.SGD, [w], 0.1)

"""samlab.batchnorm: model-scoped freezing of BN statistics and AdaBS re-estimation, checked by hand."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from samlab.batchnorm import frozen_statistics, reestimate_statistics

T = torch.tensor


def test_frozen_statistics_restores_the_buffers_exactly():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    model(torch.randn(5, 3, generator=torch.Generator().manual_seed(0)))     # some non-trivial statistics
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with frozen_statistics(model):
        model(torch.randn(5, 3) + 10)
        assert not torch.equal(model[1].running_mean, before["1.running_mean"])  # it did run in train mode
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_frozen_statistics_restores_on_exception_and_leaves_other_models_alone():
    frozen, other = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    with pytest.raises(RuntimeError):
        with frozen_statistics(frozen):
            frozen(T([[1.0, 2.0], [3.0, 6.0]]))
            other(T([[1.0, 2.0], [3.0, 6.0]]))
            raise RuntimeError
    assert torch.equal(frozen.running_mean, torch.zeros(2)) and frozen.num_batches_tracked.item() == 0
    # the other model updated normally: momentum 0.1 towards the batch mean [2, 4]
    torch.testing.assert_close(other.running_mean, T([0.2, 0.4]))
    assert other.num_batches_tracked.item() == 1


def tiny():
    """Linear(1 -> 2) with weight [[1], [2]], bias [0, 1], then BatchNorm1d(2), dropout, Linear."""
    lin = nn.Linear(1, 2)
    with torch.no_grad():
        lin.weight.copy_(T([[1.0], [2.0]]))
        lin.bias.copy_(T([0.0, 1.0]))
    return nn.Sequential(lin, nn.BatchNorm1d(2, momentum=0.3), nn.Dropout(0.5), nn.Linear(2, 1))


def test_reestimate_gives_the_pooled_mean_and_unbiased_variance():
    model = tiny()
    model(T([[100.0], [-50.0]]))                     # stale statistics, to be reset
    batches = [T([[0.0], [2.0]]), (T([[4.0], [6.0], [8.0]]), T([0, 1, 0]))]   # a tensor and an (x, y) pair
    reestimate_statistics(model, batches)
    # x over both batches: 0, 2, 4, 6, 8 -> mean 4, unbiased var (16 + 4 + 0 + 4 + 16) / 4 = 10.
    # BN input channel 0 = x: mean 4, var 10; channel 1 = 2x + 1: mean 9, var 40.
    bn = model[1]
    torch.testing.assert_close(bn.running_mean, T([4.0, 9.0]))
    torch.testing.assert_close(bn.running_var, T([10.0, 40.0]))
    assert bn.num_batches_tracked.item() == 2


def test_reestimate_restores_flags_and_momentum_and_turns_dropout_off():
    model = tiny()
    model.train()
    model[3].eval()                                  # a mixed state must come back as it was
    seen = []
    model[2].register_forward_hook(lambda m, i, o: seen.append((m.training, torch.equal(i[0], o))))
    reestimate_statistics(model, [T([[1.0], [2.0], [3.0]])])
    assert seen == [(False, True)], "dropout must be in eval mode (identity) during re-estimation"
    assert [m.training for m in model] == [True, True, True, False] and model.training
    assert model[1].momentum == 0.3


def test_reestimate_refuses_no_batches():
    with pytest.raises(ValueError, match="batches"):
        reestimate_statistics(tiny(), [])


def test_reestimate_moves_batches_to_the_device():
    model = tiny()
    reestimate_statistics(model, [T([[1.0], [3.0]])], device="cpu")
    torch.testing.assert_close(model[1].running_mean, T([2.0, 5.0]))
    torch.testing.assert_close(model[1].running_var, T([2.0, 8.0]))


def _state(model):
    """Everything reestimate_statistics may touch: buffers (and parameters), every flag, every momentum."""
    return ({k: v.clone() for k, v in model.state_dict().items()}, [m.training for m in model.modules()],
            [getattr(m, "momentum", None) for m in model.modules()])


def _assert_unchanged(model, before):
    state, flags, momenta = _state(model)
    for k, v in state.items():
        assert torch.equal(v, before[0][k]), k
    assert flags == before[1] and momenta == before[2]


def trained_tiny():
    """tiny() with trained statistics (not the reset ones: mean 0, var 1, count 0) and a mixed flag state."""
    model = tiny()
    model.train()
    model(T([[100.0], [-50.0], [7.0]]))
    model[3].eval()
    return model


@pytest.mark.parametrize("batches", [[], None, 3, iter([]), (b for b in [])],
                         ids=["empty list", "None", "int", "empty iterator", "empty generator"])
def test_a_refused_call_names_batches_and_leaves_the_model_as_it_was(batches):
    model = trained_tiny()
    before = _state(model)
    with pytest.raises(ValueError, match="batches"):
        reestimate_statistics(model, batches)
    _assert_unchanged(model, before)


def test_a_bare_tensor_is_refused_with_a_hint():
    model = trained_tiny()
    before = _state(model)
    with pytest.raises(ValueError, match=r"batches.*\[x\]"):
        reestimate_statistics(model, T([[1.0], [2.0]]))
    _assert_unchanged(model, before)


def test_a_forward_that_raises_halfway_leaves_the_model_as_it_was():
    model = trained_tiny()
    before = _state(model)

    def batches():
        yield T([[1.0], [2.0]])                  # estimated ...
        yield T([[1.0, 2.0], [3.0, 4.0]])        # ... then a batch of the wrong width: Linear raises

    with pytest.raises(RuntimeError):
        reestimate_statistics(model, batches())
    _assert_unchanged(model, before)


def test_a_generator_is_read_once_and_gives_what_a_list_gives():
    xs = [T([[0.0], [2.0]]), T([[4.0], [6.0], [8.0]])]
    reads = []

    def batches():
        for x in xs:
            reads.append(1)
            yield x

    from_generator, from_list = tiny(), tiny()
    reestimate_statistics(from_generator, batches())
    reestimate_statistics(from_list, xs)
    assert len(reads) == 2
    for k, v in from_list[1].state_dict().items():
        assert torch.equal(from_generator[1].state_dict()[k], v), k
    torch.testing.assert_close(from_list[1].running_mean, T([4.0, 9.0]))

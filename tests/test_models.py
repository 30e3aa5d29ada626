"""samlab.models: every registered network builds, gives logits of the right shape and has the published size."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from samlab.models import MNIST1D_MODELS, MODELS, create_model, model_names

CIFAR_MODELS = [n for n in model_names() if n != "table2_mlp" and n not in MNIST1D_MODELS]


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_names():
    assert set(model_names()) == {"resnet18", "resnet34", "resnet50", "resnet20", "resnet32", "vgg13_bn",
                                  "mobilenetv2", "densenet40", "wrn28_10", "small_cnn", "table2_mlp",
                                  "mnist1d_mlp", "mnist1d_cnn", "mnist1d_cnn_bn", "mnist1d_gru"}
    assert tuple(MODELS) == model_names()
    with pytest.raises(TypeError):
        MODELS["mine"] = nn.Linear  # the registry is read-only


@pytest.mark.parametrize("name", CIFAR_MODELS)
def test_cifar_model_gives_logits(name):
    model = create_model(name, num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7) and torch.isfinite(out).all()


# Published parameter counts (10 classes): He et al. 2016 Table 6 (ResNet-20 0.27M, ResNet-32 0.46M);
# Zagoruyko & Komodakis 2016 (WRN-28-10 36.5M); Huang et al. 2017 Table 2 (DenseNet L=40 k=12 1.0M);
# ResNet-18 with the CIFAR stem: 11.17M (e.g. the kuangliu/pytorch-cifar and SAM code bases).
@pytest.mark.parametrize("name, published", [
    ("resnet20", 0.27e6), ("resnet32", 0.46e6), ("resnet18", 11.17e6), ("wrn28_10", 36.5e6), ("densenet40", 1.0e6),
])
def test_parameter_counts_match_the_literature(name, published):
    n = _n_params(create_model(name))
    assert abs(n - published) / published < 0.03, f"{name}: {n:,} parameters, published {published:,.0f}"


def test_small_models_train_one_step():
    for model in (create_model("wrn28_10", depth=16, width=2), create_model("small_cnn"), create_model("resnet20")):
        x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
        nn.functional.cross_entropy(model.train()(x), y).backward()
        assert all(p.grad is not None for p in model.parameters())
    assert abs(_n_params(create_model("wrn28_10", depth=16, width=2)) - 0.69e6) / 0.69e6 < 0.03  # WRN-16-2


def test_init_is_deterministic_under_manual_seed():
    torch.manual_seed(0)
    a = create_model("resnet20")
    torch.manual_seed(0)
    b = create_model("resnet20")
    torch.manual_seed(1)
    c = create_model("resnet20")
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.fc.weight, c.fc.weight)


def test_seeded_init_leaves_the_global_rng_alone_and_matches_manual_seed():
    torch.manual_seed(0)
    reference = create_model("small_cnn")
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = create_model("small_cnn", seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a.state_dict()[k], v) for k, v in reference.state_dict().items())
    b = create_model("small_cnn", seed=1)
    assert not torch.equal(a.classifier.weight if hasattr(a, "classifier") else next(a.parameters()),
                           b.classifier.weight if hasattr(b, "classifier") else next(b.parameters()))
    with pytest.raises(ValueError, match="seed=-1"):
        create_model("small_cnn", seed=-1)


def test_table2_mlp_is_reproduced_as_printed():
    model = create_model("table2_mlp")
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "Linear", "ReLU", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert len(linears) == 5
    assert [(m.in_features, m.out_features) for m in linears] == [(2, 10), (10, 10), (10, 10), (10, 10), (10, 2)]
    assert model(torch.randn(3, 2)).shape == (3, 2)
    wide = create_model("table2_mlp", num_classes=3, in_features=4, width=8)
    assert wide(torch.randn(5, 4)).shape == (5, 3)


@pytest.mark.parametrize("call, argument", [
    (lambda: create_model("resnet999"), "name"),
    (lambda: create_model("resnet20", num_classes=0), "num_classes"),
    (lambda: create_model("wrn28_10", depth=27), "depth"),
    (lambda: create_model("small_cnn", width=0), "width"),
])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


def test_unknown_model_lists_the_allowed_names():
    with pytest.raises(ValueError, match="'resnet18'.*'table2_mlp'"):
        create_model("alexnet")

"""The set-up files agree with each other: pyproject is the one dependency list."""
from __future__ import annotations

import tomllib

import yaml

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_only_installs_the_project():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    pip_items = [d for d in deps if isinstance(d, dict)]
    assert pip_items == [{"pip": ["-e .[dev]"]}]
    others = [d for d in deps if isinstance(d, str) and d not in ("python=3.11", "pip")]
    assert others == [], f"environment.yml lists dependencies that belong in pyproject.toml: {others}"


def test_pyproject_pins_the_torch_aihwkit_triple():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"]
    for pin in ("torch==2.12.1", "torchvision==0.27.1", "aihwkit==1.1.0"):
        assert pin in deps
    assert project["requires-python"].startswith(">=3.11")


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_aihwkit_compiled_tile_runs_with_the_installed_torch():
    """Not just an import: aihwkit's compiled tiles break at the first tile operation on torch >= 2.13.

    The default forward pass is noisy (out_noise 0.06 of each row's abs-max, drawn by aihwkit's
    own C++ generator, which torch.manual_seed does not seed), so a single noisy pass is never
    compared with the ideal product: a perfect tile must match it exactly, and the default tile
    must match it on average over many passes while each pass carries noise.
    """
    import torch
    from aihwkit.nn import AnalogLinear
    from aihwkit.simulator.configs import InferenceRPUConfig

    torch.manual_seed(0)
    w = torch.eye(3, 4)
    x = torch.randn(5, 4)
    ideal = x @ w.T

    perfect = InferenceRPUConfig()
    perfect.forward.is_perfect = True
    layer = AnalogLinear(4, 3, bias=False, rpu_config=perfect)
    layer.set_weights(w)
    torch.testing.assert_close(layer(x), ideal, atol=1e-5, rtol=1e-5)

    layer = AnalogLinear(4, 3, bias=False, rpu_config=InferenceRPUConfig())
    layer.set_weights(w)
    with torch.no_grad():
        ys = torch.stack([layer(x) for _ in range(400)])
    assert ys.shape == (400, 5, 3)
    # per-pass std of the noisy tile is 0.04-0.15 here; the mean of 400 passes is within 0.01
    # of the ideal product (std of the mean <= 0.0075), so 0.05 is over six standard errors
    torch.testing.assert_close(ys.mean(0), ideal, atol=0.05, rtol=0.0)
    assert 0.01 < ys.std(0).mean().item() < 0.3

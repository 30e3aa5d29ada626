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
    """Not just an import: aihwkit's compiled tiles break at the first tile operation on torch >= 2.13."""
    import torch
    from aihwkit.nn import AnalogLinear
    from aihwkit.simulator.configs import InferenceRPUConfig

    torch.manual_seed(0)
    layer = AnalogLinear(4, 3, bias=False, rpu_config=InferenceRPUConfig())
    w = torch.eye(3, 4)
    layer.set_weights(w)
    x = torch.randn(5, 4)
    y = layer(x)
    assert y.shape == (5, 3)
    # default forward noise is small: the analog matmul tracks the ideal one
    torch.testing.assert_close(y, x @ w.T, atol=0.15, rtol=0.1)

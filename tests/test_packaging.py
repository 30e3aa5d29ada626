"""The set-up files agree with each other: pyproject.toml declares ranges and extras, requirements.lock pins inside them."""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from samlab import extras

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: The torch releases the aihwkit tile was built and run with (tests/test_install.py installs the other one).
TESTED_TORCH = ("2.14.1", "2.15.0")


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^ ;]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def _requirements() -> list[Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    for items in PROJECT["optional-dependencies"].values():
        reqs += [Requirement(r) for r in items if not r.startswith("samlab")]
    return reqs


def test_environment_yml_installs_the_lock_and_the_project():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.12" in deps and "pip" in deps
    assert [d for d in deps if isinstance(d, dict)] == [{"pip": ["-r requirements.lock", "-e ."]}]
    others = [d for d in deps if isinstance(d, str) and d not in ("python=3.12", "pip")]
    assert others == [], f"environment.yml lists dependencies that belong in pyproject.toml: {others}"


def test_pyproject_declares_ranges_and_extras_not_pins():
    assert PROJECT["requires-python"] == ">=3.12"
    core = {Requirement(r).name for r in PROJECT["dependencies"]}
    assert core == {"torch", "numpy", "scipy", "tqdm", "packaging"}, "the core is the optimizer's and trainer's needs"
    assert set(PROJECT["optional-dependencies"]) == {"data", "analog", "notebooks", "cluster", "all", "docs", "dev"}
    for extra, modules in extras.EXTRAS.items():  # samlab.extras names the same extras as pyproject.toml
        names = {Requirement(r).name for r in PROJECT["optional-dependencies"][extra]}
        assert {extras._DISTRIBUTIONS.get(m, m).replace("_", "-") for m in modules} <= {n.replace("_", "-") for n in names}
    for req in _requirements():
        assert not any(s.operator == "==" for s in req.specifier), f"{req} pins a version: declare a range"
    torch = next(r for r in _requirements() if r.name == "torch")
    assert all(torch.specifier.contains(v) for v in TESTED_TORCH), f"{torch} leaves out a tested torch"


def test_lock_pins_every_dependency_inside_its_range():
    pins = _lock()
    for req in _requirements():
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"requirements.lock lacks {req.name}: run `make lock`"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), f"lock {name}=={pins[name]} outside {req}"
    assert pins["torch"] in TESTED_TORCH and pins["aihwkit"].startswith("1.2.")
    text = (ROOT / "requirements.lock").read_text()
    assert "://" not in text and "--index-url" not in text, "the lock names packages and versions, never hosts"


def test_ci_runs_make_test_and_a_second_python():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "PYVER=3.13" in ci


def test_missing_extra_names_the_package_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "seaborn", None)  # import seaborn now raises ModuleNotFoundError
    with pytest.raises(extras.MissingExtraError, match=r"correlation plots needs seaborn.*pip install 'samlab\[notebooks\]'"):
        extras.require("seaborn", "correlation plots")
    with pytest.raises(ValueError, match="belongs to no extra"):
        extras.require("numpy", "x")


def test_require_extra_checks_without_importing(monkeypatch):
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None if name == "submitit" else object())
    with pytest.raises(extras.MissingExtraError, match=r"sweeps needs submitit.*samlab\[cluster\]"):
        extras.require_extra("cluster", "sweeps")
    extras.require_extra("notebooks", "plots")  # every module found: nothing raised
    with pytest.raises(ValueError, match="not one of samlab's extras"):
        extras.require_extra("gpu", "x")


def test_version_status_against_the_windows():
    windows = extras.supported_versions()  # from the installed package's metadata
    assert str(windows["python"]) == ">=3.12"
    assert extras.version_status("torch", "2.15.0+cu132", windows) == "ok"
    assert extras.version_status("torch", "2.12.1", windows) == "outside"
    assert extras.version_status("python", "3.11.7", windows) == "outside"
    assert extras.version_status("aihwkit", None, windows) == "missing"
    assert extras.version_status("left-pad", "1.0", windows) == "untested"


def test_aihwkit_compiled_tile_runs_with_the_installed_torch():
    """Not just an import: aihwkit's compiled tiles break at the first tile operation on a torch they were not built for.

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

"""checks, paths and methods: the shared rules every other module relies on."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from samlab import checks, methods, paths


@pytest.mark.parametrize("value, expected", [(3, 3), (np.int64(4), 4), (5.0, 5), (np.float32(6.0), 6)])
def test_check_int_accepts_integral_values(value, expected):
    out = checks.check_int("n", value, low=0)
    assert out == expected and type(out) is int


@pytest.mark.parametrize("value", [True, 3.5, "3", None, float("nan"), float("inf")])
def test_check_int_refuses(value):
    with pytest.raises(ValueError, match="n="):
        checks.check_int("n", value)


def test_check_int_bounds_and_optional():
    assert checks.check_int("n", None, optional=True) is None
    with pytest.raises(ValueError, match=r"integers >= 1"):
        checks.check_int("n", 0, low=1)
    with pytest.raises(ValueError, match=r"<= 3"):
        checks.check_int("n", 4, high=3)


def test_check_number_and_choice():
    assert checks.check_number("x", 0.5, low=0, high=1) == 0.5
    assert checks.check_number("p", math.inf, low=1, allow_inf=True) == math.inf
    for bad, kw in [(True, {}), (math.nan, {}), (math.inf, {}), (0.0, dict(low=0, low_open=True)), ("a", {})]:
        with pytest.raises(ValueError, match="x="):
            checks.check_number("x", bad, **kw)
    with pytest.raises(ValueError, match="choose one of 'a', 'b'"):
        checks.check_choice("k", "c", ("a", "b"))
    with pytest.raises(ValueError, match="k="):
        checks.check_choice("k", [1], ("a",))  # unhashable


def test_paths_follow_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("SAMLAB_ROOT", raising=False)
    for var in ("SAMLAB_DATA", "SAMLAB_RUNS", "SAMLAB_FIGURES"):
        monkeypatch.delenv(var, raising=False)
    project = tmp_path / "proj"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "samlab"\n')
    monkeypatch.chdir(project / "notebooks")  # a notebook's kernel runs here
    assert paths.project_root() == project.resolve()
    assert paths.runs_dir() == project.resolve() / "data" / "runs"
    assert paths.figures_dir() == project.resolve() / "figures"
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # outside any checkout: the working directory, never site-packages
    assert paths.project_root() == elsewhere.resolve()
    monkeypatch.setenv("SAMLAB_ROOT", str(project))
    assert paths.data_dir() == project.resolve() / "data"
    monkeypatch.setenv("SAMLAB_RUNS", str(tmp_path / "r"))
    assert paths.runs_dir() == tmp_path / "r" and str(tmp_path / "r") in paths.describe()


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    paths.atomic_write(target, lambda fh: fh.write("old"), "w")
    assert target.read_text() == "old"

    def half(fh):
        fh.write("ne")
        raise KeyboardInterrupt  # killed mid-write

    with pytest.raises(KeyboardInterrupt):
        paths.atomic_write(target, half, "w")
    assert target.read_text() == "old" and [p.name for p in target.parent.iterdir()] == ["f.txt"]
    paths.atomic_write(target, lambda fh: fh.write(b"new"))
    assert target.read_bytes() == b"new" and [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_no_path_points_into_the_package(monkeypatch, tmp_path):
    monkeypatch.delenv("SAMLAB_ROOT", raising=False)
    monkeypatch.delenv("SAMLAB_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    pkg = Path(methods.__file__).resolve().parent
    assert pkg not in paths.runs_dir().resolve().parents


class _Cfg:
    def __init__(self, **kw):
        self.__dict__.update(dict(method="sgd", p=2.0, base="sgd", beta=1.0, gamma=1.0, clip=None), **kw)


@pytest.mark.parametrize("kw, name, key", [
    (dict(method="sgd"), "SGD", "sgd"),
    (dict(method="sgd", base="adam"), "Adam", "adam"),
    (dict(method="sam"), "SAM", "sam"),
    (dict(method="asam"), "ASAM", "asam"),
    (dict(method="samson", p=2.0), "SAMSON_2", "samson_2"),
    (dict(method="samson", p=math.inf), "SAMSON_inf", "samson_inf"),
    (dict(method="samson", p=3.0), "SAMSON_3", "samson"),
    (dict(method="esam", beta=0.6, gamma=0.5), "ESAM", "esam"),
    (dict(method="esam", beta=0.6, gamma=1.0), "ESAM-SWP", "esam"),
    (dict(method="esam", beta=1.0, gamma=0.5), "ESAM-SDS", "esam"),
])
def test_method_names_and_keys(kw, name, key):
    cfg = _Cfg(**kw)
    assert methods.method_name(cfg) == name
    assert methods.method_key(cfg) == key
    assert methods.method_color(cfg) == methods.METHOD_COLORS.get(key, "#17becf")


def test_labels():
    assert methods.method_label("samson", 2.0) == "SAMSON$_{2}$"
    assert methods.method_label("samson", math.inf, plain=True) == "SAMSON∞"
    assert methods.method_label("samson", 3.0, plain=True) == "SAMSON₃"
    assert methods.method_label("adam") == "Adam" and methods.method_label("asam") == "ASAM"
    assert methods.run_label(_Cfg(method="samson", p=math.inf)) == "SAMSON$_{\\infty}$"
    assert methods.run_label(_Cfg(method="esam", beta=0.3, gamma=0.5), tex=False) == "ESAM (β=0.3, γ=0.5)"
    assert methods.run_label(_Cfg(method="sam", base="adam", clip=0.1), tex=False) == "SAM (Adam) + clip 0.1"
    assert set(methods.PAPER_VARIANTS) == {"SAM", "ASAM", "SAMSON_2", "SAMSON_inf"}


def test_same_protocol_refuses_dicts_and_mixed_classes():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class C:
        model: str = "a"
        method: str = "sgd"
        rho: float = 0.0

    assert methods.same_protocol(C(method="sam", rho=0.1), C())
    assert not methods.same_protocol(C(model="b"), C())
    assert not methods.same_protocol({"model": "a"}, C())  # a stored run of an unknown class

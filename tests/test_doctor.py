"""The setup check: each check's outcome on a good and a broken setup (faked), the table and the exit status."""
from __future__ import annotations

import json

import pytest

from samlab import doctor
from samlab.cli import main as cli_main
from samlab.doctor import Check


def _versions(**v):
    return lambda dist: v.get(dist)


def _extension(tmp_path, version="5.0.16"):
    pkg = tmp_path / "labext" / "@jupyter-widgets" / "jupyterlab-manager"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": "@jupyter-widgets/jupyterlab-manager", "version": version}))
    return lambda: [tmp_path / "nowhere", tmp_path / "labext"]


def test_widgets_ok_when_extension_matches_ipywidgets(tmp_path):
    c = doctor.check_widgets(version=_versions(ipywidgets="8.1.9", jupyterlab_widgets="3.0.17", jupyterlab="4.6.6"),
                             extension_dirs=_extension(tmp_path))
    assert c.ok and c.status == "ok" and "5.0.16" in c.detail and "8.1.9" in c.detail


def test_widgets_missing_extension_is_a_problem_with_advice(tmp_path):
    c = doctor.check_widgets(version=_versions(ipywidgets="8.1.9", jupyterlab_widgets="3.0.17", jupyterlab="4.6.6"),
                             extension_dirs=lambda: [tmp_path])
    assert not c.ok and c.required and c.status == "PROBLEM"
    assert "extension" in c.detail and "pip install" in c.advice


def test_widgets_missing_package_is_a_problem():
    c = doctor.check_widgets(version=_versions(ipywidgets="8.1.9"), extension_dirs=lambda: [])
    assert not c.ok and "jupyterlab_widgets" in c.detail and c.advice


def test_widgets_major_version_mismatch(tmp_path):
    c = doctor.check_widgets(version=_versions(ipywidgets="8.1.9", jupyterlab_widgets="1.1.7", jupyterlab="4.6.6"),
                             extension_dirs=_extension(tmp_path, "3.1.7"))
    assert not c.ok and "ipywidgets 7" in c.detail and "model not found" in c.detail


def test_aihwkit_tile_failure_names_torch_and_the_fix():
    def broken():
        raise RuntimeError("weights must be a CPU tensor")

    c = doctor.check_aihwkit(forward=broken, version=_versions(aihwkit="1.2.0", torch="2.16.0"))
    assert not c.ok and c.required
    assert "torch 2.16.0" in c.detail and "CPU tensor" in c.detail and "torch 2.14-2.15" in c.detail
    assert "samlab[analog]" in c.advice and "make clean-venv install" in c.advice


def test_versions_inside_the_windows_are_ok():
    c = doctor.check_versions(version=_versions(torch="2.15.0+cu132", torchvision="0.29.2", aihwkit="1.2.0",
                                                ipywidgets="8.1.9"), python="3.12.1")
    assert c.ok and "python 3.12.1" in c.detail and "torch 2.15.0+cu132" in c.detail and "aihwkit 1.2.0" in c.detail


def test_versions_outside_a_window_say_what_to_do():
    c = doctor.check_versions(version=_versions(torch="2.12.1", torchvision="0.29.2", ipywidgets="8.1.9"),
                              python="3.12.1")
    assert not c.ok and not c.required  # samlab may still run; the note says what was tested
    assert "torch 2.12.1 (outside; tested <2.16,>=2.14)" in c.detail and "aihwkit - (missing" in c.detail
    assert "torch 2.12.1 is outside" in c.advice and "make clean-venv install" in c.advice


def test_versions_unsupported_python_is_a_problem():
    c = doctor.check_versions(version=_versions(torch="2.15.0"), python="3.11.7")
    assert not c.ok and c.required and "python 3.11.7 (outside; tested >=3.12)" in c.detail
    assert "needs Python >=3.12" in c.advice


def test_aihwkit_not_installed():
    c = doctor.check_aihwkit(forward=lambda: "unused", version=_versions(torch="2.12.1"))
    assert not c.ok and "not installed" in c.detail


@pytest.mark.slow
def test_aihwkit_real_tile_runs():
    assert doctor.check_aihwkit().ok


def test_data_absent_is_a_note_not_a_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMLAB_DATA", str(tmp_path))
    c = doctor.check_data("cifar10")
    assert not c.ok and not c.required and c.status == "note"
    assert "digits" in c.detail and "python -m samlab data cifar10" in c.advice


def test_data_present_and_incomplete(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMLAB_DATA", str(tmp_path))
    folder = tmp_path / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)
    for name in ("train", "test"):
        (folder / name).write_bytes(b"x")
    c = doctor.check_data("cifar100")
    assert not c.ok and "lacks meta" in c.detail
    (folder / "meta").write_bytes(b"x")
    assert doctor.check_data("cifar100").ok


def test_paths_report_where_results_go(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMLAB_RUNS", str(tmp_path / "r" / "runs"))
    monkeypatch.setenv("SAMLAB_FIGURES", str(tmp_path / "f"))
    c = doctor.check_paths()
    assert c.ok and str(tmp_path / "r" / "runs") in c.detail and str(tmp_path / "f") in c.detail


def test_paths_unwritable_is_a_problem(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "_writable", lambda folder: False)
    c = doctor.check_paths()
    assert not c.ok and c.required and "SAMLAB_RUNS" in c.advice


def test_report_lists_problems_and_renders(monkeypatch):
    checks = [Check("a", True, "fine"), Check("b", False, "missing", "do x", required=False),
              Check("c", False, "broken", "do y")]
    rep = doctor.report(checks)
    assert [c.name for c in rep.problems] == ["c"]
    text = str(rep)
    assert "PROBLEM" in text and "-> do y" in text and "-> do x" in text and "1 problem(s): c" in text
    assert "<table>" in rep._repr_html_() and "do y" in rep._repr_html_()


@pytest.mark.parametrize("problem", [False, True])
def test_cli_exit_status_only_for_real_problems(monkeypatch, capsys, problem):
    checks = [Check("CIFAR-10", False, "absent", "download", required=False),
              Check("aihwkit tile", not problem, "x", "reinstall")]
    monkeypatch.setattr(doctor, "run_checks", lambda: checks)
    assert cli_main(["doctor"]) == int(problem)
    out = capsys.readouterr().out
    assert "CIFAR-10" in out and ("1 problem(s): aihwkit tile" in out) == problem


def test_widget_probe_is_the_green_line_notebook_00_shows():
    probe = doctor.widget_probe()
    assert type(probe).__name__ == "HTML" and "widgets render here" in probe.value
    probe.close()

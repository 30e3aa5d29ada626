"""The wheel, installed as a researcher would: into a fresh venv that already holds a torch of its own.

``python -m build`` makes the wheel and the sdist; pip (with no machine-wide pip configuration, as on a
laptop) installs the wheel, not editable, first with the core alone, then with the ``notebooks`` extra. The
torch that was there must survive both installs; the core must run a SAM step and name the extra a missing
part needs; with the extra, the command line and one notebook at smoke scale run from a folder outside the
checkout, and results and figures land where the README says (``data/runs`` and ``figures`` under the
working directory when it is no samlab checkout).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from test_packaging import TESTED_TORCH, _lock

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"

SAM_STEP = """
import torch, samlab
from samlab.optim import SAM
torch.manual_seed(0)
model = torch.nn.Linear(3, 2)
opt = SAM(model.parameters(), torch.optim.SGD, method="samson", p=float("inf"), rho=0.5, lr=0.1)
x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
def closure():
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss
before = model.weight.detach().clone()
loss = opt.step(closure)
assert torch.isfinite(loss) and not torch.equal(before, model.weight), "the SAM step changed nothing"
print("sam step ok", samlab.__version__, torch.__version__)
"""
MISSING = """
import samlab.extras
try:
    import samlab.plots
except samlab.extras.MissingExtraError as err:
    print(err)
else:
    raise SystemExit("samlab.plots imported without the notebooks extra")
"""


def _run(cmd: list, *, cwd: Path, env: dict | None = None, timeout: int = 600) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _user_env(tmp: Path) -> dict:
    """A laptop's environment: no samlab variables, no machine-wide pip configuration, one torch thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAMLAB_", "PIP_", "VIRTUAL_ENV", "PYTHON"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "OMP_NUM_THREADS": "1",
            "HOME": str(tmp / "home"), "JUPYTER_PLATFORM_DIRS": "1"}


@pytest.mark.install
def test_wheel_installs_beside_an_existing_torch_and_runs_outside_the_checkout(tmp_path):
    assert UV.exists(), f"uv is part of the dev extra but is not beside {sys.executable}: make install"
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--installer", "uv", "--outdir", dist, ROOT], cwd=tmp_path)
    wheels, sdists = list(dist.glob("samlab-*.whl")), list(dist.glob("samlab-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(dist.iterdir())
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "samlab/extras.py" in names and not any(n.startswith(("tests/", "notebooks/")) for n in names)

    other = next(v for v in TESTED_TORCH if v != _lock()["torch"])  # a supported torch the lock does not pick
    venv, env = tmp_path / "venv", _user_env(tmp_path)
    (tmp_path / "home").mkdir()
    _run([UV, "venv", "--seed", "--python", sys.executable, venv], cwd=tmp_path)
    py = venv / "bin" / "python"
    _run([UV, "pip", "install", "--python", py, f"torch=={other}"], cwd=tmp_path)
    torch_version = "import torch; print(torch.__version__.split('+')[0])"

    # the core alone: the researcher's torch stays, a SAM step runs, a missing extra is named
    _run([py, "-m", "pip", "install", "--no-input", wheels[0]], cwd=tmp_path, env=env)
    assert _run([py, "-c", torch_version], cwd=tmp_path, env=env).strip() == other, "the install replaced torch"
    work = tmp_path / "work"
    work.mkdir()
    assert "sam step ok 0.2.0" in _run([py, "-c", SAM_STEP], cwd=work, env=env)
    assert "pip install 'samlab[notebooks]'" in _run([py, "-c", MISSING], cwd=work, env=env)
    assert _run([py, "-m", "samlab", "--version"], cwd=work, env=env).strip() == "samlab 0.2.0"
    sweep = subprocess.run([py, "-m", "samlab", "sweep", "--status"], cwd=work, env=env, capture_output=True, text=True)
    assert sweep.returncode == 2 and "pip install 'samlab[cluster]'" in sweep.stderr, sweep.stderr

    # with the notebooks extra: still the same torch; the command line and a notebook outside the checkout
    _run([py, "-m", "pip", "install", "--no-input", f"{wheels[0]}[notebooks]"], cwd=tmp_path, env=env, timeout=900)
    assert _run([py, "-c", torch_version], cwd=tmp_path, env=env).strip() == other, "the extra replaced torch"
    assert "reproduce" in _run([py, "-m", "samlab", "--help"], cwd=work, env=env)
    (work / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "02_worst_case_perturbation.ipynb", work / "notebooks")
    out = _run([py, "-m", "samlab", "reproduce", "--scale", "smoke", "--only", "02", "--threads", "1"],
               cwd=work, env=env, timeout=900)
    assert f"figures: {work / 'figures'}" in out and "1/1 notebooks ran" in out, out
    executed = json.loads((work / "notebooks" / "_executed" / "02_worst_case_perturbation.ipynb").read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    assert list((work / "figures").rglob("*.png")), "the notebook wrote no figure under the working directory"
    assert not list(venv.rglob("site-packages/samlab/**/*.png")), "a figure was written into the installed package"

"""Helpers of the browser test: copy the notebooks at smoke scale, run JupyterLab and Chromium, leave nothing behind.

Smoke scale in the browser: the notebooks are copied into a temp folder that JupyterLab serves, with a cell
``SCALE = "smoke"`` (tagged ``injected-parameters``) inserted right after the cell tagged ``parameters``, as
papermill does for the headless runner. The notebooks in the checkout are never edited or executed in place.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def find_chromium() -> str | None:
    """The Chromium executable (``$SAMLAB_CHROMIUM`` or Debian's), or None."""
    env = os.environ.get("SAMLAB_CHROMIUM")
    for path in ((env,) if env else CHROMIUM_CANDIDATES):
        if path and os.access(path, os.X_OK):
            return path
    return None


def smoke_copy(src: Path, dest_dir: Path, scale: str = "smoke") -> tuple[Path, dict[str, Any]]:
    """Copy ``src`` into ``dest_dir`` with ``SCALE = scale`` injected after its parameters cell.

    Returns the copy and the parameters the notebook runs with (its parameters cell, then the injection).
    """
    nb = nbformat.read(src, as_version=4)
    idx = next(i for i, c in enumerate(nb.cells)
               if c.cell_type == "code" and "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(f"SCALE = {scale!r}  # injected by tests/test_browser.py",
                                         metadata={"tags": ["injected-parameters"]})
    injected.id = "injected-parameters"
    nb.cells.insert(idx + 1, injected)
    params: dict[str, Any] = {}
    exec(compile(nb.cells[idx].source + "\n" + injected.source, str(src), "exec"), {}, params)  # noqa: S102
    dest = dest_dir / src.name
    nbformat.write(nb, dest)
    return dest, params


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return any(alive(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit() and _pgid(int(p.name)) == pgid)


def _pgid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return None


class JupyterLab:
    """JupyterLab from this Python on a free loopback port, with every Jupyter folder under ``base``.

    ``env`` is added to this process's environment for the server and its kernels (a value None unsets).
    """

    def __init__(self, base: Path, root_dir: Path, env: dict[str, str | None]):
        self.base, self.root_dir = base, root_dir
        self.port, self.token = free_port(), os.urandom(16).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None
        self.seen: set[int] = set()  # every process seen below the server (kernels run in their own session)
        settings = base / "lab-settings"
        for plugin, values in {
            # every cell in the DOM (no virtual scrolling), no news or update checks on this closed network
            "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                                "checkForUpdates": False},
        }.items():
            (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
            (settings / plugin).write_text(json.dumps(values))
        self.env = {**{k: v for k, v in os.environ.items() if k not in env}, **{k: v for k, v in env.items() if v},
                    "JUPYTER_CONFIG_DIR": str(base / "jupyter-config"),
                    "JUPYTER_RUNTIME_DIR": str(base / "jupyter-runtime"),
                    "JUPYTER_DATA_DIR": str(base / "jupyter-data"),
                    "JUPYTERLAB_SETTINGS_DIR": str(settings),
                    "JUPYTERLAB_WORKSPACES_DIR": str(base / "lab-workspaces"),
                    "IPYTHONDIR": str(base / "ipython")}

    def start(self, timeout: float = 90.0) -> None:
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
               "--ServerApp.terminals_enabled=False", "--LabApp.news_url=",
               "--LabApp.extension_manager=readonly", *(["--allow-root"] if os.geteuid() == 0 else [])]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=self.root_dir, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def remember_processes(self) -> None:
        """Note the server's descendants now (kernels), so stop() can find them even if the server dies first."""
        if self.proc is not None:
            self.seen |= descendants(self.proc.pid)

    def api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def stop(self, timeout: float = 20.0) -> None:
        """Shut the kernels and the server down; kill whatever is left (process group and every descendant seen)."""
        if self.proc is None:
            return
        self.remember_processes()
        if self.proc.poll() is None:
            try:
                for k in self.api("GET", "/api/kernels"):
                    self.api("DELETE", f"/api/kernels/{k['id']}")
            except OSError:
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        own = os.getpgid(0)
        for pid in [self.proc.pid, *self.seen]:
            pg = _pgid(pid)
            try:
                if pg is not None and pg != own:
                    os.killpg(pg, signal.SIGKILL)
                elif alive(pid):
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.leftovers():
            time.sleep(0.1)
        self._log.close()

    def leftovers(self) -> list[int]:
        """Processes this server started that are still alive (empty after stop())."""
        if self.proc is None:
            return []
        pids = [p for p in {self.proc.pid, *self.seen} if alive(p)]
        if group_alive(self.proc.pid):
            pids.append(-self.proc.pid)
        return sorted(set(pids))


def copy_notebooks(paths: list[Path], dest: Path, scale: str = "smoke") -> dict[str, tuple[Path, dict[str, Any]]]:
    """Smoke copies of ``paths`` in ``dest``: {stem: (copy, parameters)}."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for p in paths:
        out[p.stem] = smoke_copy(p, dest, scale)
    return out

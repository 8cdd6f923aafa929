"""The README's open command serves JupyterLab with notebook 00 reachable."""

from __future__ import annotations

import pytest
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_00 = "notebooks/00_course_tour.ipynb"
START_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def _stop(server: subprocess.Popen) -> None:
    """Stop the whole process group (the course script execs jupyter, which starts kernels)."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_open_command_serves_the_course(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ)
    for name in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR"):
        env[name] = str(tmp_path / name.lower())
    log_path = tmp_path / "jupyter.log"
    base = f"http://127.0.0.1:{port}"
    # The server's output goes to a file: an unread pipe could fill up and stall it.
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(ROOT / "course"), "open", "--no-browser", "--port", str(port),
             "--", "--IdentityProvider.token=", "--ServerApp.port_retries=0"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        status = None
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise AssertionError(f"./course open exited with {server.returncode}:\n{log_path.read_text()}")
            try:
                status, _ = _get(f"{base}/lab")
            except (urllib.error.URLError, ConnectionError, OSError):
                status = None
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, f"JupyterLab did not serve /lab within {START_TIMEOUT_S} s:\n{log_path.read_text()}"

        status, body = _get(f"{base}/api/contents/{NOTEBOOK_00}")
        assert status == 200
        assert b'"type": "notebook"' in body.replace(b'"type":"notebook"', b'"type": "notebook"')
        status, page = _get(f"{base}/lab/tree/{NOTEBOOK_00}")
        assert status == 200 and b"JupyterLab" in page
    finally:
        _stop(server)

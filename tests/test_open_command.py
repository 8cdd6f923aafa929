"""The README's open command serves JupyterLab with notebook 00 reachable."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_00 = "notebooks/00_course_tour.ipynb"


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


def test_open_command_serves_the_course(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ)
    for name in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR"):
        env[name] = str(tmp_path / name.lower())
    server = subprocess.Popen(
        [str(ROOT / "course"), "open", "--port", str(port), "--", "--IdentityProvider.token="],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stdout.read().decode(errors="replace")
            try:
                status, _ = _get(f"{base}/api/status")
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.5)
        assert status == 200, "JupyterLab did not answer within 120 s"
        status, body = _get(f"{base}/api/contents/{NOTEBOOK_00}")
        assert status == 200 and b'"type": "notebook"' in body.replace(b'"type":"notebook"', b'"type": "notebook"')
        status, page = _get(f"{base}/lab/tree/{NOTEBOOK_00}")
        assert status == 200 and b"JupyterLab" in page
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

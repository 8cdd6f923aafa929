"""The README's open command serves JupyterLab at the URL it prints, on the student edition.

The requested port is taken by the test first, so the script must move to a free one;
the URL it prints (with its token) must then serve the student edition's notebook 00,
with the course's settings override (kernels shut down with their tab) in force.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_00 = "student/notebooks/00_course_tour.ipynb"
START_TIMEOUT_S = 120


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
    env = dict(os.environ)
    env.pop("JUPYTER_TOKEN", None)
    for name in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR"):
        env[name] = str(tmp_path / name.lower())
    log_path = tmp_path / "jupyter.log"
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    requested = busy.getsockname()[1]
    # The server's output goes to a file: an unread pipe could fill up and stall it.
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(ROOT / "course"), "open", "--no-browser", "--port", str(requested)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        url = None
        while time.monotonic() < deadline and url is None:
            if server.poll() is not None:
                raise AssertionError(f"./course open exited with {server.returncode}:\n{log_path.read_text()}")
            found = re.search(r"^course: +(http://\S+)$", log_path.read_text(), re.MULTILINE)
            url = found[1] if found else None
            time.sleep(0.2)
        assert url, f"./course open printed no URL:\n{log_path.read_text()}"
        match = re.fullmatch(r"(http://127\.0\.0\.1:(\d+))/lab/tree/(\S+)\?token=(\w+)", url)
        assert match, url
        base, port, start, token = match[1], int(match[2]), match[3], match[4]
        assert port != requested and f"port {requested} is busy; using {port}" in log_path.read_text()
        assert start == NOTEBOOK_00
        status = None
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise AssertionError(f"./course open exited with {server.returncode}:\n{log_path.read_text()}")
            try:
                status, page = _get(url)
            except (urllib.error.URLError, ConnectionError, OSError):
                status = None
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, f"the printed URL did not serve within {START_TIMEOUT_S} s:\n{log_path.read_text()}"
        assert b"JupyterLab" in page

        status, body = _get(f"{base}/api/contents/{NOTEBOOK_00}?token={token}")
        assert status == 200 and json.loads(body)["type"] == "notebook"
        assert _get(f"{base}/api/contents/{NOTEBOOK_00}")[0] == 403, "without the token the server must refuse"
        status, body = _get(f"{base}/lab/api/settings/@jupyterlab/notebook-extension:tracker?token={token}")
        assert status == 200 and json.loads(body)["schema"]["properties"]["kernelShutdown"]["default"] is True, (
            "the course's overrides.json (kernels shut down with their tab) is not in force")
    finally:
        busy.close()
        _stop(server)

"""The course script as a newcomer meets it.

Unit tier: ``--help`` of the script and of every command, answered without building
anything; ports outside 1–65535 and unknown options refused.

Slow tier, on a small stand-in checkout (the real ``course`` script, a pyproject.toml
with no dependencies, a lock, and a stand-in for the tool a command runs), so that each
run builds a real ``.venv`` in seconds: a second run installs nothing; a moved checkout
and a ``.venv`` whose pip no longer answers are rebuilt; a ``.venv`` the script did not
make is left alone; a busy port moves to the next free one and the URL printed is the
one JupyterLab is told to serve; ``./course lock`` never leaves a broken lock behind.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("open", "test", "strip", "lock", "site", "coursework")
FLOOR = re.search(r'^requires-python = "(>=[0-9.]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)[1]
INSTALL_TIMEOUT_S = 600


def course(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(cwd / "course"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


# --- unit: help and argument checks --------------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize("args", [("--help",), ("-h",), *((c, "--help") for c in COMMANDS)],
                         ids=lambda a: " ".join(a))
def test_help_answers_without_building_anything(args: tuple[str, ...], tmp_path: Path) -> None:
    # A fresh copy of the script: were it to build, .venv would appear next to it.
    shutil.copy(ROOT / "course", tmp_path / "course")
    result = course(*args, cwd=tmp_path, timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ./course")
    if len(args) == 2:
        assert result.stdout.startswith(f"usage: ./course {args[0]}")
    assert list(tmp_path.iterdir()) == [tmp_path / "course"], "help must not create anything"


@pytest.mark.unit
def test_no_command_or_an_unknown_one_shows_the_usage(tmp_path: Path) -> None:
    shutil.copy(ROOT / "course", tmp_path / "course")
    for args in ((), ("bogus",)):
        result = course(*args, cwd=tmp_path, timeout=10)
        assert result.returncode == 2 and "usage: ./course COMMAND" in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "course"]


@pytest.mark.unit
@pytest.mark.parametrize("port", ["0", "65536", "70000", "-1", "abc", ""])
def test_ports_outside_the_range_are_refused(port: str, tmp_path: Path) -> None:
    shutil.copy(ROOT / "course", tmp_path / "course")
    result = course("open", "--port", port, cwd=tmp_path, timeout=10)
    assert result.returncode == 1
    assert f"--port must be a number from 1 to 65535, got '{port}'" in result.stderr
    assert not (tmp_path / ".venv").exists()


@pytest.mark.unit
def test_unknown_open_option_is_refused_with_a_pointer_to_help(tmp_path: Path) -> None:
    shutil.copy(ROOT / "course", tmp_path / "course")
    result = course("open", "--colab", cwd=tmp_path, timeout=10)
    assert result.returncode == 1 and "unknown option for 'open': --colab (see ./course open --help)" in result.stderr


# --- slow: a stand-in checkout --------------------------------------------------------------

STAND_IN_PYPROJECT = f"""[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "standin"
version = "0.1.0"
requires-python = "{FLOOR}"

[project.optional-dependencies]
course = []
experiments = []
test = []
instructor = []

[tool.setuptools]
py-modules = []
"""

#: Stands in for tools/strip_notebooks.py: shows which interpreter ran it.
STAND_IN_TOOL = "import sys\nprint('ran in', sys.prefix)\n"

#: Stands in for jupyter: prints the port, the retries setting and the token it was given.
STAND_IN_JUPYTER = """#!/bin/sh
for arg in "$@"; do echo "arg $arg"; done
echo "token $JUPYTER_TOKEN"
"""


def _stand_in(folder: Path) -> Path:
    (folder / "requirements").mkdir(parents=True)
    (folder / "tools").mkdir()
    shutil.copy(ROOT / "course", folder / "course")
    (folder / "pyproject.toml").write_text(STAND_IN_PYPROJECT)
    (folder / "requirements" / "constraints.txt").write_text("# ./course lock\ntorch==2.13.0\n")
    (folder / "tools" / "strip_notebooks.py").write_text(STAND_IN_TOOL)
    return folder


def _env() -> dict[str, str]:
    # No CPU index in these runs: nothing here installs torch.
    return {**os.environ, "COURSE_TORCH_INDEX": "", "PYTHON": sys.executable}


def _strip(folder: Path) -> subprocess.CompletedProcess:
    result = course("strip", cwd=folder, env=_env(), timeout=INSTALL_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ran in {folder / '.venv'}" in result.stdout
    return result


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in checkout whose .venv the course script has built."""
    folder = _stand_in(tmp_path_factory.mktemp("standin") / "checkout")
    result = _strip(folder)
    assert f"creating {folder / '.venv'}" in result.stderr
    return folder


@pytest.mark.slow
def test_a_second_run_installs_nothing(checkout: Path) -> None:
    result = _strip(checkout)
    assert "environment up to date" in result.stderr and "installing" not in result.stderr


@pytest.mark.slow
def test_a_moved_checkout_gets_a_new_venv(checkout: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(checkout, moved, symlinks=True)
    result = _strip(moved)
    assert f"rebuilding {moved / '.venv'}: the checkout moved: .venv was built at {checkout / '.venv'}" in result.stderr
    assert _strip(moved).stderr.count("up to date") == 1


@pytest.mark.slow
def test_a_venv_whose_pip_does_not_answer_is_rebuilt(checkout: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(checkout, broken, symlinks=True)
    _strip(broken)  # rebuilt once for the move
    for pip in (broken / ".venv" / "lib").glob("python3*/site-packages/pip"):
        shutil.rmtree(pip)
    result = _strip(broken)
    assert "its Python or pip does not answer" in result.stderr


@pytest.mark.slow
def test_a_venv_the_script_did_not_make_is_left_alone(tmp_path: Path) -> None:
    folder = _stand_in(tmp_path / "foreign")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / ".venv")], check=True)
    result = course("strip", cwd=folder, env=_env())
    assert result.returncode == 1 and "was not created by ./course" in result.stderr
    assert (folder / ".venv" / "bin").is_dir() and not (folder / ".venv" / ".course-venv").exists()


@pytest.mark.slow
@pytest.mark.parametrize("solutions", [False, True], ids=["student", "solutions"])
def test_a_busy_port_moves_on_and_the_printed_url_is_the_served_one(checkout: Path, solutions: bool) -> None:
    jupyter = checkout / ".venv" / "bin" / "jupyter"
    jupyter.write_text(STAND_IN_JUPYTER)
    jupyter.chmod(0o755)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["open", "--no-browser", "--port", str(port)] + (["--solutions"] if solutions else [])
        result = course(*args, cwd=checkout, env=_env())
    assert result.returncode == 0, result.stderr
    served = {line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("arg ")}
    token = re.search(r"^token (\w+)$", result.stdout, re.MULTILINE)[1]
    (url,) = re.findall(r"http://\S+", result.stderr)
    new_port = int(re.search(r":(\d+)/", url)[1])
    assert f"port {port} is busy; using {new_port}" in result.stderr and new_port > port
    assert {f"--port={new_port}", "--ServerApp.port_retries=0", "--ip=127.0.0.1"} <= served
    edition = "notebooks/00_course_tour.ipynb" if solutions else "student/notebooks/00_course_tour.ipynb"
    assert url == f"http://127.0.0.1:{new_port}/lab/tree/{edition}?token={token}" and len(token) >= 32
    assert f"--LabApp.default_url=/lab/tree/{edition}" in served


def _uv_stand_in(checkout: Path, body: str) -> None:
    uv = checkout / ".venv" / "bin" / "uv"
    uv.write_text("#!/bin/sh\n" + body)
    uv.chmod(0o755)


@pytest.mark.slow
@pytest.mark.parametrize("uv", [
    "exit 1",                                                    # uv fails
    'for a; do [ "$prev" = "-o" ] && : > "$a"; prev=$a; done',   # uv "succeeds" with an empty file
    'for a; do [ "$prev" = "-o" ] && echo "torch==2.13.0+cpu" > "$a"; prev=$a; done',  # a local label
], ids=["uv-fails", "empty-output", "local-label"])
def test_lock_never_leaves_a_broken_lock_behind(checkout: Path, uv: str) -> None:
    lock = checkout / "requirements" / "constraints.txt"
    before = lock.read_text()
    _uv_stand_in(checkout, uv)
    result = course("lock", cwd=checkout, env=_env())
    assert result.returncode == 1 and "is unchanged" in result.stderr
    assert lock.read_text() == before
    assert sorted(p.name for p in lock.parent.iterdir()) == ["constraints.txt"], "a temporary file was left behind"


@pytest.mark.slow
def test_lock_replaces_the_lock_with_a_complete_one(checkout: Path) -> None:
    lock = checkout / "requirements" / "constraints.txt"
    _uv_stand_in(checkout, 'for a; do [ "$prev" = "-o" ] && printf "numpy==2.4.6\\ntorch==2.13.0\\n" > "$a"; prev=$a; done')
    result = course("lock", cwd=checkout, env=_env())
    assert result.returncode == 0, result.stderr
    assert lock.read_text() == "numpy==2.4.6\ntorch==2.13.0\n"
    assert "2 pins" in result.stderr

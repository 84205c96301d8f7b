"""A plain `pip install .` (a built wheel, not editable) runs the commands an operator starts with.

It catches what a checkout hides: a data file that is not package data, a path that climbs out of
the package into the repository (deploy/, classify/data/ by file path), a module left out of the
package list. The project's dependencies are not downloaded again: the fresh venv sees the test
interpreter's site-packages through a .pth line placed after its own, so the wheel's packages win.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "schemas", "kafkaio", "ingest", "route", "classify", "sla", "sinks", "reports", "mcu")

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("wheel")
    # A copy of the sources: building in the checkout would leave build/ and *.egg-info behind.
    src = tmp / "src"
    ignore = shutil.ignore_patterns(".git", ".venv", "var", "build", "*.egg-info", "__pycache__", "tests", "bench")
    shutil.copytree(ROOT, src, ignore=ignore)
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp, dict(os.environ))
    assert made.returncode == 0, made.stderr
    py = venv / "bin" / "python"
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp, dict(os.environ))
    site = Path(purelib.stdout.strip())
    # Dependencies from the test interpreter's environment (a path line: its own .pth files, the
    # editable install of this checkout among them, are not run).
    (site / "zz_project_deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MCU_"))}
    env["MCU_VAR_DIR"] = str(tmp / "var")
    # --no-deps: the dependencies come through the .pth line; only the build backend pyproject.toml
    # names (setuptools, wheel) is fetched, from pip's cache after the first run.
    pip = [str(py), "-m", "pip", "install", "--quiet", "--no-deps", str(src)]
    res = _run(pip, tmp, env)
    assert res.returncode == 0, res.stdout + res.stderr
    return venv, env


def test_the_wheel_holds_the_packages_not_the_checkout(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    venv, env = installed
    code = f"import importlib; print('\\n'.join(importlib.import_module(p).__file__ for p in {PACKAGES!r}))"
    res = _run([str(venv / "bin" / "python"), "-c", code], tmp_path, env)
    assert res.returncode == 0, res.stderr
    files = res.stdout.split()
    assert len(files) == len(PACKAGES)
    assert all(f.startswith(str(venv)) for f in files), files
    # `mcu demo`'s default batch lived under deploy/, which a wheel does not have.
    demo = "from mcu.commands.service import DEMO_FILE as f; print(f.is_file(), f)"
    res = _run([str(venv / "bin" / "python"), "-c", demo], tmp_path, env)
    assert res.stdout.startswith(f"True {venv}"), res.stdout + res.stderr


def test_worker_and_report_help(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    venv, env = installed
    for args in (["worker", "--help"], ["report", "--help"], ["demo", "--help"]):
        res = _run([str(venv / "bin" / "mcu"), *args], tmp_path, env)
        assert res.returncode == 0, f"mcu {' '.join(args)}: {res.stdout}{res.stderr}"
        assert "Использование:" in res.stdout


def test_classify_predict_uses_the_packaged_rules_model_and_directory(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    venv, env = installed
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "1", "text": "В Джубге третий день нет воды"}, ensure_ascii=False) + "\n", "utf-8")
    out = tmp_path / "out.jsonl"
    res = _run(
        [str(venv / "bin" / "mcu"), "classify", "predict", "--input", str(src), "--output", str(out)], tmp_path, env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    rec = json.loads(out.read_text("utf-8"))
    assert rec["settlement"] == "dzhubgskoe" and rec["settlement_evidence"] == "text:Джубга"
    assert rec["category"] != "unresolved" and rec["department"] != "unresolved"

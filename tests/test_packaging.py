"""The wheel holds every module and data file of the source tree.

The quickstart installs in editable mode, which reads the source tree and so hides files that
``pyproject.toml`` forgets to package; a cluster installs the built wheel (README "Run on a
cluster"), where a missing stop-word list fails every run at start-up.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT

#: source folder → the package it is installed as (``[tool.setuptools] package-dir``)
PACKAGE_DIRS = {"pipeline": "webrefinery/pipeline", "filters": "webrefinery/filters", "dedup": "webrefinery/dedup",
                "tokenizer_training": "webrefinery/tokenizer_training"}


def source_files() -> set[str]:
    """Every file the installed packages need, as its path inside the wheel."""
    files = set()
    for src, pkg in PACKAGE_DIRS.items():
        for p in (ROOT / src).rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts and p.name != "README.md":
                files.add(f"{pkg}/{p.relative_to(ROOT / src).as_posix()}")
    return files


def test_wheel_holds_every_module_and_data_file(tmp_path: Path) -> None:
    # built from a copy: setuptools' build/ folder in the checkout keeps files of earlier builds
    src = tmp_path / "src"
    for name in PACKAGE_DIRS:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("webrefinery-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(source_files() - names)
    assert not missing, f"not in the wheel (pyproject.toml packages / package-data): {missing}"

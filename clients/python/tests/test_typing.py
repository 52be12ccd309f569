"""The package is typed (py.typed): mypy --strict finds nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_mypy_strict() -> None:
    src = Path(__file__).resolve().parents[1] / "src" / "graft_client"
    assert (src / "py.typed").exists()
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(src)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr

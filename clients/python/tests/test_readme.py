"""The README's notebook example, run as written against a real daemon."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import BACKBONE, REPO


def test_readme_example_runs(daemon, digits: Path) -> None:
    readme = (REPO / "clients" / "python" / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) == 1, "the README has one Python example"
    env = dict(os.environ, GRAFT_URL=daemon.url, GRAFT_BACKBONE=str(BACKBONE), GRAFT_DATA=str(digits))
    env.pop("GRAFT_TOKEN", None)
    out = subprocess.run([sys.executable, "-c", blocks[0]], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [l.split(":")[0] for l in lines if l.startswith("epoch ")] == ["epoch 1", "epoch 2", "epoch 3"], out.stdout
    assert any(l.startswith("succeeded best epoch") for l in lines), out.stdout
    assert sum(str(digits) in l for l in lines) == 3, out.stdout

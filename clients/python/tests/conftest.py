"""A real graft serve for the tests: the graft binary of GRAFT_BIN (make
test-clients builds it), on a free loopback port, with a temporary data
directory, trained on real MNIST digits written as PNG by testdata/gen."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest
import requests

from graft_client import Client, Job

REPO = Path(__file__).resolve().parents[3]
BACKBONE = REPO / "testdata" / "models" / "fashion_cnn"


def graft_bin() -> str:
    b = os.environ.get("GRAFT_BIN") or str(REPO / "bin" / "graft")
    if not os.access(b, os.X_OK):
        pytest.fail(f"no graft binary at {b}: run make test-clients (or make build, or set GRAFT_BIN)")
    return b


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """graft serve as a subprocess; start() waits for /readyz."""

    def __init__(self, data_dir: Path, roots: List[Path], extra: Optional[List[str]] = None, port: Optional[int] = None) -> None:
        self.data_dir = data_dir
        self.roots = roots
        self.extra = extra or []
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.log = data_dir.parent / f"serve-{self.port}.log"

    def start(self) -> "Daemon":
        args = [graft_bin(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir), "--log-format", "json", "--log-level", "warn"]
        for r in self.roots:
            args += ["--allow-root", str(r)]
        env = {k: v for k, v in os.environ.items() if k != "GRAFT_TOKEN"}
        self.proc = subprocess.Popen(args + self.extra, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"), env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"graft serve exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        pytest.fail(f"graft serve not ready after 30 s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def gen_images(out: Path, per_class: int, split: str = "train", offset: int = 0) -> Path:
    subprocess.run(
        ["go", "run", "./testdata/gen", "images", "-split", split, "-per-class", str(per_class), "-offset", str(offset), "-out", str(out)],
        cwd=REPO,
        check=True,
    )
    return out


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("graft")


@pytest.fixture(scope="session")
def digits(work: Path) -> Path:
    """500 training digits, 50 per class."""
    return gen_images(work / "digits", 50)


@pytest.fixture(scope="session")
def test_images(work: Path) -> List[Path]:
    """Unseen test digits, two per class."""
    d = gen_images(work / "test", 2, split="t10k")
    return sorted(p for p in d.rglob("*.png"))


@pytest.fixture(scope="session")
def daemon(work: Path, digits: Path) -> Iterator[Daemon]:
    d = Daemon(work / "data", [REPO / "testdata", digits]).start()
    yield d
    d.stop()


@pytest.fixture(scope="session")
def client(daemon: Daemon) -> Client:
    return Client(daemon.url)


def spec(digits: Path, **kw: object) -> dict:
    s = {"backbone": str(BACKBONE), "tap": "conv2d_2", "data": str(digits), "preprocess": "unit", "head": "conv:8", "epochs": 3, "seed": 1}
    s.update(kw)
    return s


@pytest.fixture(scope="session")
def trained(client: Client, digits: Path) -> Job:
    """A job trained to completion as model "digits"."""
    job = client.submit(spec(digits, model="digits", head="conv:32", epochs=5))
    done = client.wait(job.id, poll=0.2, timeout=300)
    assert done.state == "succeeded", done.error
    return done

"""The job and model lists a page at a time (issue 22, defect 6): jobs()
and models() read every page."""

from __future__ import annotations

from pathlib import Path

from conftest import BACKBONE, Daemon, spec
from graft_client import Client


def test_jobs_reads_every_page(work: Path, digits: Path) -> None:
    d = Daemon(work / "pages-data", [BACKBONE.parent, digits]).start()
    try:
        c = Client(d.url)
        ids = [c.submit(spec(digits, epochs=1, model="m")).id for _ in range(3)]
        assert [j.id for j in c.jobs(page_size=2)] == ids
        assert [j.id for j in c.jobs()] == ids
        for id in ids:
            assert c.wait(id, poll=0.1, timeout=120).state == "succeeded"
        assert [(m.name, m.version) for m in c.models(page_size=2)] == [("m", 1), ("m", 2), ("m", 3)]
    finally:
        d.stop()

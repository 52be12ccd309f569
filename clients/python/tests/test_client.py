"""The client against a real graft serve (conftest.py): jobs, events,
predict, inspect, auth and the daemon's refusals."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import struct
import tarfile
import threading
from pathlib import Path
from typing import List

import numpy as np
import pytest
import requests
from PIL import Image

from conftest import BACKBONE, Daemon, graft_bin, spec
import graft_client
from graft_client import BadRequest, Busy, Client, Conflict, JobRequest, NotFound, RateLimited, Unauthorized


def test_submit_to_succeeded_with_events_followed(client: Client, digits: Path) -> None:
    job = client.submit(JobRequest(backbone=str(BACKBONE), tap="conv2d_2", data=str(digits), preprocess="unit", head="conv:8", epochs=2, seed=3))
    assert job.state in ("queued", "running")
    events = list(client.events(job.id))
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(events) + 1)), "events lost or repeated"
    types = [e.type for e in events]
    assert types[0] == "queued" and types[-1] == "succeeded"
    epochs = [e.data["metrics"] for e in events if e.type == "epoch"]
    assert [m["epoch"] for m in epochs] == [1, 2]
    done = client.job(job.id)
    assert done.state == "succeeded" and done.version == 1
    # The epochs the stream told equal the run's own metrics.jsonl.
    lines = [json.loads(l) for l in (Path(done.run_dir) / "metrics.jsonl").read_text().splitlines()]
    assert epochs == lines
    assert job.id in [j.id for j in client.jobs(state="succeeded")]


def test_events_resume_after_a_seq(client: Client, trained) -> None:
    every = list(client.events(trained.id, follow=False))
    assert len(every) > 4
    tail = list(client.events(trained.id, after=3, follow=False))
    assert [e.seq for e in tail] == [e.seq for e in every[3:]]
    assert tail == every[3:]
    # Following an ended job from its last event ends at once.
    assert list(client.events(trained.id, after=every[-1].seq, max_retries=0)) == []


def test_events_reconnect_across_a_daemon_restart(work: Path, digits: Path) -> None:
    # The stream breaks when the daemon stops; the generator reconnects
    # with Last-Event-ID to the restarted daemon (same port and data), which
    # resumes the job: every event arrives once, in order, up to the end.
    d = Daemon(work / "restart-data", [BACKBONE.parent, digits]).start()
    try:
        c = Client(d.url)
        job = c.submit(spec(digits, epochs=12, head="conv:32"))
        seen = []
        restarted = False
        for ev in c.events(job.id, retry_delay=0.2, max_retries=200):
            seen.append(ev)
            if not restarted and ev.type == "epoch":
                d.stop()
                d.start()
                restarted = True
        assert restarted
        assert [e.seq for e in seen] == list(range(1, len(seen) + 1))
        types = [e.type for e in seen]
        assert "interrupted" in types, types
        assert types[-1] == "succeeded"
        assert c.job(job.id).state == "succeeded"
    finally:
        d.stop()


# Issue 22, defect 8: class folder names with NEL (U+0085, which Go's JSON
# leaves unescaped), LS, PS (U+2028, U+2029) and CR. The names reach the
# event stream in the done event's duplicate examples (each class holds two
# byte-identical images): events() must read every event whole.
ODD_CLASSES = ["nel\u0085x", "ls\u2028x", "ps\u2029x", "cr\rx"]


def test_events_with_line_breaking_characters_in_class_names(work: Path, digits: Path, tmp_path: Path) -> None:
    odd = tmp_path / "odd"
    for name, src in zip(ODD_CLASSES, sorted(p for p in digits.iterdir() if p.is_dir())):
        (odd / name).mkdir(parents=True)
        pngs = sorted(src.glob("*.png"))[:6]
        for p in pngs:
            (odd / name / p.name).write_bytes(p.read_bytes())
        (odd / name / "copy.png").write_bytes(pngs[0].read_bytes())
    d = Daemon(tmp_path / "data", [BACKBONE.parent, odd]).start()
    try:
        c = Client(d.url)
        job = c.submit(spec(odd, epochs=1))
        events = list(c.events(job.id))
        assert [e.seq for e in events] == list(range(1, len(events) + 1)), "events lost or repeated"
        assert events[-1].type == "succeeded", [e.type for e in events]
        paths = [p for e in events if e.type == "done" for g in e.data["summary"]["duplicates"]["examples"] for p in g]
        for name in ODD_CLASSES:
            assert any(f"/{name}/" in p for p in paths), f"class {name!r} not in the done event's duplicates: {paths}"
    finally:
        d.stop()


def cli_predictions(run_dir: str, paths: List[Path]) -> List[dict]:
    out = subprocess.run(
        [graft_bin(), "predict", "--run", run_dir, "--format", "jsonl", "--top", "100", "--log-level", "error"] + [str(p) for p in paths],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(l) for l in out.splitlines()]


def test_predict_equals_graft_predict_run(client: Client, trained, test_images: List[Path]) -> None:
    got = client.predict("digits", test_images)
    want = cli_predictions(trained.run_dir, test_images)
    assert len(got) == len(want) == len(test_images)
    for g, w, p in zip(got, want, test_images):
        top = [(s["label"], s["score"]) for s in w["top"]]
        assert g.label == top[0][0], p
        assert [c for c, _ in g.top(100)] == [c for c, _ in top], p
        np.testing.assert_allclose([s for _, s in g.top(100)], [s for _, s in top], rtol=0, atol=1e-6)
    # Most unseen digits are right: the class names are the folders'.
    right = sum(g.label == p.parent.name for g, p in zip(got, test_images))
    assert right >= len(test_images) // 2


def test_evaluation_equals_graft_eval_and_log_is_the_file(client: Client, trained, daemon: Daemon) -> None:
    out = subprocess.run(
        [graft_bin(), "eval", "--run", trained.run_dir, "--split", "val", "--format", "json", "--log-level", "error"], check=True, capture_output=True, text=True
    ).stdout
    cli = json.loads(out)
    ev = client.evaluation(trained.id)
    assert ev["confusion"] == cli["confusion"]
    assert ev["classes"] == cli["classes"]
    assert (ev["samples"], ev["accuracy"], ev["split"]) == (cli["samples"], cli["accuracy"], "val")
    assert trained.summary is not None and ev["best_epoch"] == trained.summary["best_epoch"]
    log = (daemon.data_dir / "logs" / f"{trained.id}.log").read_text()
    shown = client.log(trained.id)
    assert shown and log.endswith(shown)


def test_predict_takes_bytes_pil_and_numpy(client: Client, trained, test_images: List[Path]) -> None:
    p = test_images[0]
    by_path = client.predict("digits", p)[0].scores
    raw = p.read_bytes()
    pil = Image.open(io.BytesIO(raw))
    arr = np.asarray(pil)
    for im in (raw, pil, arr, arr[:, :, None]):
        assert client.predict("digits", im)[0].scores == by_path
    # A batch may sum in another order than one image (BLAS blocks by the
    # batch's size): equal to float32 rounding, not bit for bit.
    for batch in (np.stack([arr, arr]), np.stack([arr, arr])[..., None], [raw, pil]):
        for b in client.predict("digits", batch):
            assert b.scores == pytest.approx(by_path, rel=1e-5, abs=1e-7)
    assert client.predict("digits", raw, version=trained.version)[0].scores == by_path
    with pytest.raises(NotFound):
        client.predict("digits", raw, version=99)
    with pytest.raises(TypeError, match="uint8"):
        client.predict("digits", arr.astype(np.float32))


def test_models_and_inspect(client: Client, trained) -> None:
    ms = [m for m in client.models() if m.name == "digits"]
    assert ms and ms[0].classes == [str(i) for i in range(10)]
    assert client.model("digits").job_id == trained.id
    rep = client.inspect(str(BACKBONE), tensors=True)
    assert "conv2d_2" in json.dumps(rep)
    with pytest.raises(NotFound):
        client.model("no-such-model")


@pytest.mark.parametrize(
    "bad,field,words",
    [({"data": "relative/dir"}, "data", "absolute"), ({"epochs": -1}, "epochs", ">= 1"), ({"head": "conv:0"}, "head", "")],
    ids=["relative-path", "epochs", "head"],
)
def test_bad_spec_carries_field_errors(client: Client, digits: Path, bad: dict, field: str, words: str) -> None:
    with pytest.raises(BadRequest) as e:
        client.submit(spec(digits, **bad))
    assert e.value.status == 400
    assert [f.field for f in e.value.fields] == [field], e.value
    assert words in e.value.fields[0].message, e.value


def test_cancel(client: Client, digits: Path) -> None:
    job = client.submit(spec(digits, epochs=200))
    c = client.cancel(job.id)
    assert c.cancel_requested or c.state == "cancelled"
    assert client.wait(job.id, poll=0.1, timeout=60).state == "cancelled"
    with pytest.raises(Conflict):
        client.cancel(job.id)


def test_auth_and_429(work: Path, digits: Path) -> None:
    tok = work / "token"
    tok.write_text("s3cret-token\n")
    tok.chmod(0o600)
    d = Daemon(work / "auth-data", [BACKBONE.parent, digits], ["--token-file", str(tok), "--queue-size", "1"]).start()
    try:
        with pytest.raises(Unauthorized):
            Client(d.url, token="").jobs()
        ok = Client(d.url, token="s3cret-token")
        assert ok.jobs() == []
        # A full queue is a 429 with the daemon's delay.
        with pytest.raises(RateLimited) as full:
            for _ in range(4):
                ok.submit(spec(digits, epochs=200))
        assert full.value.retry_after and full.value.retry_after > 0
        # Wrong tokens: after ten, 429 with Retry-After.
        bad = Client(d.url, token="wrong")
        n = 0
        with pytest.raises(RateLimited) as limited:
            for n in range(1, 20):
                try:
                    bad.jobs()
                except Unauthorized:
                    continue
        assert n <= 11, n
        assert limited.value.retry_after == 10
        assert limited.value.status == 429
    finally:
        d.stop()


def test_engine_fields_reach_the_daemon(client: Client, digits: Path) -> None:
    # engine and tf_memory_fraction are in the spec's JobRequest: the daemon
    # takes them (a native job with a tensorflow-only setting is refused by
    # field, not as an unknown field).
    with pytest.raises(BadRequest) as e:
        client.submit(JobRequest(**spec(digits), engine="native", tf_memory_fraction=0.5))
    assert [f.field for f in e.value.fields] == ["tf_memory_fraction"], e.value


def test_busy_event_streams_raise_busy_with_retry_after(work: Path, digits: Path) -> None:
    d = Daemon(work / "busy-data", [BACKBONE.parent, digits], ["--max-event-streams", "1"]).start()
    try:
        c = Client(d.url)
        job = c.submit(spec(digits, epochs=200))
        first = c.events(job.id)
        assert next(first).seq == 1  # holds the daemon's one stream
        with pytest.raises(Busy) as e:
            list(c.events(job.id, follow=False))
        assert e.value.status == 503 and e.value.retry_after == 5
        first.close()
        c.cancel(job.id)
        assert c.wait(job.id, poll=0.1, timeout=60).state == "cancelled"
    finally:
        d.stop()


def test_export_is_a_tensorflow_serving_tar(client: Client, trained, tmp_path: Path) -> None:
    out = client.export("digits", tmp_path / "digits.tar")
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert f"digits/{trained.version}/saved_model.pb" in names, names
    assert any(n.startswith(f"digits/{trained.version}/variables/") for n in names), names
    with pytest.raises(NotFound):
        client.export("nosuch", tmp_path / "x.tar")


def test_export_onnx_is_one_model_file(client: Client, trained, tmp_path: Path) -> None:
    out = client.export("digits", tmp_path / "digits.onnx.tar", format="onnx")
    with tarfile.open(out) as tar:
        assert tar.getnames() == [f"digits/{trained.version}", f"digits/{trained.version}/model.onnx"]
        model = tar.extractfile(f"digits/{trained.version}/model.onnx").read()
    assert model[:2] == b"\x08\x08", "ModelProto starts with ir_version 8"
    with pytest.raises(ValueError):
        client.export("digits", tmp_path / "x.tar", format="pt")


def test_export_replaces_dest_only_when_asked(client: Client, trained, tmp_path: Path) -> None:
    dest = tmp_path / "digits.tar"
    whole = client.export("digits", dest).read_bytes()
    dest.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        client.export("digits", dest)
    assert dest.read_bytes() == b"keep me"
    client.export("digits", dest, overwrite=True)
    assert dest.read_bytes() == whole
    assert [p.name for p in tmp_path.iterdir()] == ["digits.tar"], "temporary files left"


def test_export_broken_off_leaves_nothing(tmp_path: Path) -> None:
    """A download the server breaks off (as graft serve does when a file
    of the export changes while it is sent) raises, and neither dest nor a
    temporary file is left."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        c, _ = srv.accept()
        c.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n"
        c.sendall(head + b"400\r\n" + b"x" * 1024 + b"\r\n")
        c.close()  # no last chunk: a broken transfer

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with pytest.raises(requests.RequestException):
            Client(f"http://127.0.0.1:{srv.getsockname()[1]}").export("digits", tmp_path / "cut.tar")
    finally:
        t.join(10)
        srv.close()
    assert list(tmp_path.iterdir()) == []


def test_delete_jobs_and_models(client: Client, digits: Path, daemon: Daemon) -> None:
    jobs = [client.submit(spec(digits, model="to-delete", epochs=1)) for _ in range(2)]
    a, b = (client.wait(j.id, poll=0.1, timeout=120) for j in jobs)
    assert (a.state, b.state) == ("succeeded", "succeeded")
    # A version: latest moves down to the one left.
    assert client.delete_model("to-delete", version=b.version)["models"] == [{"name": "to-delete", "version": b.version}]
    assert client.model("to-delete").version == a.version
    with pytest.raises(NotFound):
        client.delete_model("to-delete", version=b.version)
    # A job whose version stays: its run directory stays for it, and goes with it.
    d = client.delete_job(a.id)
    assert d["job"] == a.id and d["kept"] == [{"name": "to-delete", "version": a.version}]
    assert (daemon.data_dir / "runs" / a.id).is_dir()
    assert client.delete_model("to-delete")["models"] == [{"name": "to-delete", "version": a.version}]
    assert not (daemon.data_dir / "runs" / a.id).exists()
    with pytest.raises(NotFound):
        client.model("to-delete")
    with pytest.raises(NotFound):
        client.job(a.id)
    assert client.delete_job(b.id, models=True) == {"job": b.id, "models": []}
    assert not (daemon.data_dir / "runs" / b.id).exists()
    # Not ended: 409, unless cancelled on the way.
    running = client.submit(spec(digits, epochs=100000))
    with pytest.raises(Conflict):
        client.delete_job(running.id)
    assert client.delete_job(running.id, cancel=True)["job"] == running.id
    with pytest.raises(NotFound):
        client.job(running.id)


def test_backup_and_status(client: Client, trained, tmp_path: Path) -> None:
    """backup writes a bbolt file (its first meta page carries bbolt's
    magic), private, and refuses an existing dest; status lists every
    state and every part of the data directory."""
    dest = client.backup(tmp_path / "graft.db")
    b = dest.read_bytes()
    assert len(b) >= 4 * 4096 and struct.unpack_from("<I", b, 16)[0] == 0xED0CDAED, "not a bbolt file"
    assert dest.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        client.backup(dest)
    st = client.status()
    assert set(st["jobs"]) == set(graft_client.STATES) and st["jobs"]["succeeded"] >= 1, st["jobs"]
    assert set(st["disk"]["parts"]) == {"store", "runs", "cache", "logs", "exports"}, st["disk"]
    assert st["disk"]["free"] > 0 and st["disk"]["min_free"] > 0 and st["uptime_seconds"] > 0


def test_export_tflite(client: Client, trained, tmp_path: Path) -> None:
    """format="tflite": the archive holds one TFLite flatbuffer (its file
    identifier TFL3), the float16 one smaller; a bad format is refused."""
    sizes = {}
    for quantize in (None, "float16"):
        out = client.export("digits", tmp_path / f"digits-{quantize}.tar", format="tflite", quantize=quantize)
        with tarfile.open(out) as tar:
            files = [m.name for m in tar.getmembers() if m.isfile()]
            assert files == [f"digits/{trained.version}/model.tflite"], files
            b = tar.extractfile(f"digits/{trained.version}/model.tflite").read()
        assert b[4:8] == b"TFL3"
        sizes[quantize] = len(b)
    assert sizes["float16"] < sizes[None], sizes
    with pytest.raises(Exception) as e:
        client.export("digits", tmp_path / "x.tar", format="coreml")
    assert "format" in str(e.value)
    assert not (tmp_path / "x.tar").exists()

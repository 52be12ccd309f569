"""Client: the HTTP API of graft serve (daemon/openapi.yaml) as methods."""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

import requests

from ._errors import Busy, GraftError, NotFound, error_for
from ._types import FINAL_STATES, Event, Job, JobRequest, Model, Prediction

# Every operation of daemon/openapi.yaml and the method that calls it.
# tests/test_openapi.py checks this table against the spec both ways.
OPERATIONS: Dict[str, str] = {
    "POST /v1/jobs": "submit",
    "GET /v1/jobs": "jobs",
    "GET /v1/jobs/{id}": "job",
    "POST /v1/jobs/{id}:cancel": "cancel",
    "DELETE /v1/jobs/{id}": "delete_job",
    "GET /v1/jobs/{id}/events": "events",
    "GET /v1/jobs/{id}/log": "log",
    "GET /v1/jobs/{id}/evaluation": "evaluation",
    "GET /v1/backbones:inspect": "inspect",
    "GET /v1/models": "models",
    "GET /v1/models/{name}": "model",
    "DELETE /v1/models/{name}": "delete_model",
    "DELETE /v1/models/{name}/versions/{version}": "delete_model",
    "POST /v1/models/{name}:predict": "predict",
    "POST /v1/models/{name}/versions/{version}:predict": "predict",
    "POST /v1/models/{name}:export": "export",
    "POST /v1/models/{name}/versions/{version}:export": "export",
    "GET /v1/status": "status",
    "GET /v1/admin/backup": "backup",
    "GET /metrics": "metrics",
    "GET /healthz": "healthy",
    "GET /readyz": "ready",
}

# What predict takes as an image: a path, encoded PNG/JPEG bytes, a PIL
# image or a numpy array (HxW or HxWxC, uint8).
ImageInput = Union[str, "os.PathLike[str]", bytes, Any]


class Client:
    """A client of graft serve.

    >>> c = Client("http://127.0.0.1:8470")            # token: GRAFT_TOKEN if set
    >>> job = c.submit({"backbone": "/abs/model", "tap": "conv2d_2", "data": "/abs/images"})

    Error answers raise GraftError subclasses (BadRequest carries the
    daemon's field errors, RateLimited and Busy the Retry-After delay).
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8470",
        token: Optional[str] = None,
        timeout: float = 60.0,
        session: Optional[requests.Session] = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()
        # Like the daemon and graft's CLI, GRAFT_TOKEN is the default token.
        token = token if token is not None else os.environ.get("GRAFT_TOKEN") or None
        self._headers: Dict[str, str] = {"Accept": "application/json"}
        # A model version's classes never change: kept once seen.
        self._class_names: Dict[Tuple[str, int], List[str]] = {}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    # -- plumbing -----------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        stream: bool = False,
        timeout: Union[None, float, Tuple[float, float]] = None,
    ) -> requests.Response:
        h = dict(self._headers)
        data = None
        if body is not None:
            # The daemon refuses POSTs that are not application/json (415).
            h["Content-Type"] = "application/json"
            data = json.dumps(body)
        elif method == "POST":
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        r = self._session.request(
            method,
            self.url + path,
            data=data,
            params=params,
            headers=h,
            stream=stream,
            timeout=timeout if timeout is not None else self.timeout,
        )
        if r.status_code >= 400:
            try:
                payload: Any = r.json()
            except ValueError:
                payload = r.text
            r.close()
            raise error_for(r.status_code, payload, r.headers.get("Retry-After"))
        return r

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        r = self._request(method, path, **kw)
        try:
            return r.json()
        finally:
            r.close()

    # -- jobs ---------------------------------------------------------------

    def submit(self, spec: Union[JobRequest, Mapping[str, Any]]) -> Job:
        """Queue a training job (POST /v1/jobs). spec is a JobRequest or a
        dict of graft train's options in snake_case; paths must be absolute."""
        body = spec.to_dict() if isinstance(spec, JobRequest) else dict(spec)
        return Job.from_dict(self._json("POST", "/v1/jobs", body=body))

    def jobs(self, state: Optional[str] = None, page_size: int = 1000) -> List[Job]:
        """Every job, oldest first, or those in one state, each without its
        summary (job() has it); the list is read page_size jobs a request
        (the daemon allows 1 to 1000)."""
        params = {"state": state} if state else {}
        return [Job.from_dict(j) for j in self._pages("/v1/jobs", "jobs", page_size, params)]

    def _pages(self, path: str, key: str, page_size: int, params: Dict[str, str]) -> List[Dict[str, Any]]:
        """Every item of a paged list, following its next cursors."""
        out: List[Dict[str, Any]] = []
        after = ""
        while True:
            d = self._json("GET", path, params={**params, "limit": str(page_size), "after": after})
            page = d.get(key) or []
            out.extend(page)
            after = d.get("next") or ""
            if not after or not page:
                return out

    def job(self, id: str) -> Job:
        return Job.from_dict(self._json("GET", f"/v1/jobs/{quote(id, safe='')}"))

    def cancel(self, id: str) -> Job:
        """Cancel a job: at once when queued; a running one stops after its
        current step. Conflict (409) when it has already ended."""
        return Job.from_dict(self._json("POST", f"/v1/jobs/{quote(id, safe='')}:cancel"))

    def delete_job(self, id: str, cancel: bool = False, models: bool = False) -> Dict[str, Any]:
        """Delete a job: its record, log and run directory. The model
        versions it registered stay served (its run directory is kept for
        them) unless models. A queued or running job raises Conflict (409)
        unless cancel: then the daemon cancels it and deletes it once its
        worker is gone. Returns what went: {"job", "models", "kept"}."""
        params = {k: "true" for k, v in (("cancel", cancel), ("models", models)) if v}
        return self._json("DELETE", f"/v1/jobs/{quote(id, safe='')}", params=params)  # type: ignore[no-any-return]

    def events(
        self,
        id: str,
        after: int = 0,
        follow: bool = True,
        max_retries: int = 10,
        retry_delay: float = 1.0,
    ) -> Iterator[Event]:
        """The job's events (Server-Sent Events), from after seq `after`.

        With follow (the default) the generator ends after the job's final
        event; when the connection drops first (a daemon restart, a proxy)
        it reconnects with Last-Event-ID, so no event is lost or repeated.
        It gives up after max_retries failed reconnections in a row.
        """
        last = after
        failures = 0
        path = f"/v1/jobs/{quote(id, safe='')}/events"
        while True:
            try:
                r = self._request(
                    "GET",
                    path,
                    params=None if follow else {"follow": "false"},
                    headers={"Accept": "text/event-stream", "Last-Event-ID": str(last)},
                    stream=True,
                    # A stream lasts as long as its job; the daemon sends a
                    # heartbeat every 15 s, so a minute of silence is a dead
                    # connection, and the generator reconnects.
                    timeout=(self.timeout, 60.0),
                )
            except (requests.RequestException, Busy) as e:
                failures += 1
                if not follow or failures > max_retries:
                    raise
                delay = e.retry_after if isinstance(e, Busy) and e.retry_after else retry_delay
                time.sleep(delay)
                continue
            final = False
            try:
                for ev in _parse_sse(_lines(r.iter_content(chunk_size=None))):
                    failures = 0
                    last = ev.seq
                    final = ev.type in FINAL_STATES
                    yield ev
            except requests.RequestException:
                pass  # a broken or silent connection: reconnect below
            finally:
                r.close()
            if not follow or final:
                return
            # The stream ended without a final event: the job had ended
            # before `after` (nothing more to come), or the daemon went
            # away or closed it: then reconnect from the last event seen.
            try:
                if self.job(id).final:
                    return
            except (requests.RequestException, Busy):
                pass
            failures += 1
            if failures > max_retries:
                raise GraftError(0, f"event stream of {id} ended {failures} times in a row before the job did")
            time.sleep(retry_delay)

    def log(self, id: str) -> str:
        """The end (last 64 KiB) of a job's worker log, JSON lines."""
        r = self._request("GET", f"/v1/jobs/{quote(id, safe='')}/log", headers={"Accept": "text/plain"})
        try:
            return r.text
        finally:
            r.close()

    def evaluation(self, id: str) -> Dict[str, Any]:
        """A succeeded job's best head on its validation split, as graft eval
        --split val --format json reports it (samples, accuracy, macro_f1,
        classes with precision/recall/f1/support, confusion; split,
        best_epoch, bad_files). Conflict (409) before the job succeeded."""
        return dict(self._json("GET", f"/v1/jobs/{quote(id, safe='')}/evaluation"))

    def wait(self, id: str, poll: float = 0.5, timeout: Optional[float] = None) -> Job:
        """Poll until the job is final; returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            j = self.job(id)
            if j.final:
                return j
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {id} still {j.state} after {timeout} s")
            time.sleep(poll)

    # -- backbones and models -------------------------------------------------

    def inspect(
        self,
        path: str,
        tensors: bool = False,
        tags: Optional[Sequence[str]] = None,
        signature: Optional[str] = None,
    ) -> Dict[str, Any]:
        """graft inspect of a SavedModel (an absolute path inside the
        daemon's allowed roots): signatures, variables, ops, tap candidates."""
        params: Dict[str, str] = {"path": str(path)}
        if tensors:
            params["tensors"] = "true"
        if tags:
            params["tags"] = ",".join(tags)
        if signature:
            params["signature"] = signature
        return self._json("GET", "/v1/backbones:inspect", params=params)  # type: ignore[no-any-return]

    def models(self, page_size: int = 1000) -> List[Model]:
        """Every version of every registered model, read page_size a
        request; a version's classes are cut to the first 20 (class_count
        says how many; model() has all)."""
        return [Model.from_dict(m) for m in self._pages("/v1/models", "models", page_size, {})]

    def model(self, name: str) -> Model:
        """The latest version of a model."""
        return Model.from_dict(self._json("GET", f"/v1/models/{quote(name, safe='')}"))

    def delete_model(self, name: str, version: Optional[int] = None) -> Dict[str, Any]:
        """Delete a model version, or every version without version. The
        predictions in flight finish first; the latest is then the newest
        version left. Returns the versions deleted: {"models": [...]}."""
        path = f"/v1/models/{quote(name, safe='')}"
        if version is not None:
            path += f"/versions/{int(version)}"
        for k in [k for k in self._class_names if k[0] == name and version in (None, k[1])]:
            del self._class_names[k]
        return self._json("DELETE", path)  # type: ignore[no-any-return]

    def predict(
        self,
        name: str,
        images: Union[ImageInput, Iterable[ImageInput]],
        version: Optional[int] = None,
    ) -> List[Prediction]:
        """Classify images with a model: one Prediction per image, with the
        model's class names. Without version, the latest version at the time
        of the call is used (pinned, so classes and scores agree: one GET
        more); with version, the classes are fetched once per version."""
        if isinstance(images, (str, bytes, os.PathLike)) or _is_single_image(images):
            images = [images]
        instances = [{"b64": base64.b64encode(_encode(im)).decode("ascii")} for im in images]
        if version is None:
            m = self.model(name)
            v, classes = m.version, m.classes
            self._class_names[(name, v)] = classes
        else:
            v = version
            classes = self._class_names.get((name, v)) or self._classes(name, v)
        d = self._json(
            "POST",
            f"/v1/models/{quote(name, safe='')}/versions/{int(v)}:predict",
            body={"instances": instances},
        )
        return [Prediction(classes=list(classes), scores=[float(x) for x in row]) for row in d["predictions"]]

    def export(
        self,
        name: str,
        dest: Union[str, "os.PathLike[str]"],
        version: Optional[int] = None,
        overwrite: bool = False,
        format: str = "savedmodel",
        quantize: Optional[str] = None,
    ) -> Path:
        """The model (backbone and trained head) as one TensorFlow SavedModel:
        the daemon's tar archive, laid out for TensorFlow Serving
        (NAME/VERSION/saved_model.pb), written to dest; returns dest.
        format="onnx" gives the whole model as one ONNX file instead
        (opset 17), the archive holding NAME/VERSION/model.onnx (Triton's
        model repository layout).

        format="tflite" sends the model as one TFLite file instead, in the
        archive as NAME/VERSION/model.tflite (float32; quantize="float16"
        stores its weights as float16): inputs "images" (float32 [-1, H, W,
        C], 0..255), outputs "probabilities" and "classes" (an int32 index
        into the class names, listed one a line in the file's labels.txt
        metadata entry).

        The archive goes to a temporary file beside dest, renamed at the
        end: dest holds a whole archive or is as it was (a broken download
        raises and leaves nothing). A dest that exists before the download
        raises FileExistsError unless overwrite."""
        if format not in ("savedmodel", "onnx", "tflite"):
            raise ValueError(f"format {format!r}: use 'savedmodel', 'onnx' or 'tflite'")
        path = f"/v1/models/{quote(name, safe='')}"
        if version is not None:
            path += f"/versions/{int(version)}"
        query = {"format": format}
        if quantize is not None:
            query["quantize"] = quantize
        return self._download("POST", path + ":export", "application/x-tar", dest, overwrite, 0o644, params=query)

    def backup(self, dest: Union[str, "os.PathLike[str]"], overwrite: bool = False) -> Path:
        """A consistent copy of the daemon's job store (a bbolt graft.db,
        taken while jobs run), written to dest as export writes, private
        (0600: it holds paths and class names); returns dest. Restoring is
        starting graft serve with it as DATA/graft.db (docs/operations.md)."""
        return self._download("GET", "/v1/admin/backup", "application/octet-stream", dest, overwrite, 0o600)

    def _download(
        self,
        method: str,
        path: str,
        accept: str,
        dest: Union[str, "os.PathLike[str]"],
        overwrite: bool,
        mode: int,
        params: Optional[Mapping[str, Any]] = None,
    ) -> Path:
        """An answer's body to a temporary file beside dest, renamed at the
        end; an existing dest raises FileExistsError unless overwrite."""
        out = Path(dest)
        if not overwrite and os.path.lexists(out):
            raise FileExistsError(errno.EEXIST, f"{out} exists: give a new file, or pass overwrite=True to replace it", str(out))
        r = self._request(method, path, params=params, headers={"Accept": accept}, stream=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in r.iter_content(1 << 20):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, out)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        finally:
            r.close()
        return out

    def _classes(self, name: str, version: int) -> List[str]:
        for m in self.models():
            if m.name == name and m.version == version:
                self._class_names[(name, version)] = m.classes
                return m.classes
        raise NotFound(404, f"model {name} has no version {version}")

    # -- operations ------------------------------------------------------------

    def status(self) -> Dict[str, Any]:
        """The daemon's version, commit, started, uptime_seconds, jobs (by
        state) and disk: bytes by part (store, runs, cache, logs, exports)
        as last walked (measured), the largest, free and min_free."""
        return dict(self._json("GET", "/v1/status"))

    def metrics(self) -> str:
        """Prometheus metrics, as text."""
        r = self._request("GET", "/metrics", headers={"Accept": "text/plain"})
        try:
            return r.text
        finally:
            r.close()

    def healthy(self) -> bool:
        """Whether the daemon answers /healthz."""
        try:
            self._request("GET", "/healthz").close()
            return True
        except (GraftError, requests.ConnectionError):
            return False

    def ready(self) -> bool:
        """Whether the daemon is ready (/readyz: started, disk not full)."""
        try:
            self._request("GET", "/readyz").close()
            return True
        except (GraftError, requests.ConnectionError):
            return False


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The lines of a byte stream, split on "\n" only (a trailing "\r" of
    CRLF dropped). Not str.splitlines nor requests' iter_lines: they also
    split on U+0085 (which Go's JSON leaves unescaped in a class name or a
    path), U+2028, U+2029 and a lone CR. Each line is decoded whole, so a
    character cut between two chunks stays one character."""
    buf = bytearray()
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            buf += chunk[start:end]
            yield bytes(buf).removesuffix(b"\r").decode("utf-8")
            buf.clear()
            start = end + 1
        buf += chunk[start:]
    if buf:
        yield bytes(buf).removesuffix(b"\r").decode("utf-8")


def _parse_sse(lines: Iterable[str]) -> Iterator[Event]:
    """Events of a text/event-stream: blocks of field lines, blank-line
    terminated; comments (heartbeats) start with ':'."""
    data: List[str] = []
    for line in lines:
        if line == "":
            if data:
                yield Event.from_dict(json.loads("\n".join(data)))
            data = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        # id and event repeat what data holds (seq, type).


def _is_single_image(x: Any) -> bool:
    # One image: a PIL image, a numpy HxW array or an HxWxC one with 1, 3
    # or 4 channels. Several: a list, an NxHxWxC array or an NxHxW one.
    shape = getattr(x, "shape", None)
    if shape is not None:
        return len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3, 4))
    return hasattr(x, "save") and hasattr(x, "mode")


def _encode(im: Any) -> bytes:
    """PNG or JPEG bytes for an image input."""
    if isinstance(im, bytes):
        return im
    if isinstance(im, (str, os.PathLike)):
        with open(im, "rb") as f:
            return f.read()
    if hasattr(im, "shape"):  # numpy: HxW or HxWxC
        try:
            from PIL import Image
        except ImportError as e:  # pragma: no cover
            raise TypeError("numpy images need Pillow: pip install 'graft-client[images]'") from e
        import numpy as np

        a = np.asarray(im)
        if a.dtype != np.uint8:
            raise TypeError(f"numpy image of dtype {a.dtype}: give uint8 pixels 0..255 (e.g. (x * 255).astype('uint8'))")
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        im = Image.fromarray(a)
    if hasattr(im, "save"):  # PIL: lossless PNG, so the daemon sees these pixels
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return buf.getvalue()
    raise TypeError(f"cannot send {type(im).__name__} as an image: give a path, PNG/JPEG bytes, a PIL image or a uint8 numpy array")


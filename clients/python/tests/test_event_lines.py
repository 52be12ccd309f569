"""events() reads a stream whose JSON carries raw line-breaking characters
(issue 22, defect 8): graft serve before it escaped U+0085 sent NEL raw, and
JSON allows U+0085, U+2028 and U+2029 raw inside strings. A loopback server
sends them raw, cut between writes in the middle of a character."""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Iterator

import pytest

from graft_client import Client

NAMES = ["nel\u0085x", "ls\u2028x", "ps\u2029x", "cr\rx", "crlf\r\nx"]


def stream() -> bytes:
    # json.dumps escapes CR and LF itself; U+0085, U+2028, U+2029 go raw.
    ev = {"seq": 1, "type": "done", "data": {"event": "done", "names": NAMES}}
    end = {"seq": 2, "type": "succeeded"}
    out = ""
    for e in (ev, end):
        out += f"id: {e['seq']}\nevent: {e['type']}\ndata: {json.dumps(e, ensure_ascii=False)}\n\n"
    return out.encode("utf-8")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = stream()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        # Three bytes at a time: the two-byte NEL and the three-byte LS and
        # PS are cut between writes somewhere.
        for i in range(0, len(body), 3):
            self.wfile.write(body[i : i + 3])
            self.wfile.flush()
            time.sleep(0.001)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=s.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{s.server_address[1]}"
    s.shutdown()
    s.server_close()


def test_events_keep_raw_line_breaking_characters_in_strings(server: str) -> None:
    assert "\u0085".encode() in stream() and "\u2028".encode() in stream()
    events = list(Client(server).events("job-1", max_retries=0))
    assert [e.type for e in events] == ["done", "succeeded"]
    assert events[0].data is not None and events[0].data["names"] == NAMES

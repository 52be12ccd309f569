"""Exceptions for the daemon's error answers ({"error": ..., "fields": [...]})."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Type

from ._types import FieldError


class GraftError(Exception):
    """An error answer of graft serve: the HTTP status, the daemon's message,
    its per-field errors (invalid job specs) and Retry-After in seconds when
    the daemon sent one."""

    def __init__(
        self,
        status: int,
        message: str,
        fields: Optional[List[FieldError]] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.fields: List[FieldError] = fields or []
        self.retry_after = retry_after

    def __str__(self) -> str:
        s = f"graft serve answered {self.status}: {self.message}"
        for f in self.fields:
            s += f"\n  {f.field}: {f.message}"
        return s


class BadRequest(GraftError):
    """400 or 422: a malformed or unworkable request; fields names the
    settings to fix."""


class Unauthorized(GraftError):
    """401: the daemon needs a token (Client(url, token=...) or GRAFT_TOKEN)."""


class Forbidden(GraftError):
    """403 (a foreign Origin) or 421 (a Host the daemon does not answer to)."""


class NotFound(GraftError):
    """404: no such job or model."""


class Conflict(GraftError):
    """409: the job has already ended."""


class TooLarge(GraftError):
    """413: over a limit of the request (body, images, pixels, memory)."""


class RateLimited(GraftError):
    """429: the queue is full or too many wrong tokens; retry_after says
    when to try again."""


class Busy(GraftError):
    """503: the daemon is at a limit for now or stopping; retry_after says
    when to try again."""


_BY_STATUS: Dict[int, Type[GraftError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    421: Forbidden,
    422: BadRequest,
    429: RateLimited,
    503: Busy,
}


def error_for(status: int, body: Any, retry_after: Optional[str]) -> GraftError:
    """The exception for an error answer."""
    message = ""
    fields: List[FieldError] = []
    if isinstance(body, dict):
        message = str(body.get("error", ""))
        for f in body.get("fields") or []:
            fields.append(FieldError(field=str(f.get("field", "")), message=str(f.get("message", ""))))
    elif isinstance(body, str):
        message = body.strip()
    delay: Optional[float] = None
    if retry_after:
        try:
            delay = float(retry_after)
        except ValueError:
            delay = None  # an HTTP date: graft sends seconds, so unexpected
    cls = _BY_STATUS.get(status, GraftError)
    return cls(status, message or f"HTTP {status}", fields, delay)

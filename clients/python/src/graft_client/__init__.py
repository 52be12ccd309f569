"""graft_client: a Python client of graft serve, the daemon of graft.

    from graft_client import Client
    c = Client("http://127.0.0.1:8470", token=None)
    job = c.submit({"backbone": "/abs/model", "tap": "conv2d_2", "data": "/abs/images", "model": "digits"})
    for ev in c.events(job.id): ...
    c.predict("digits", ["/abs/img.png"])[0].label

The methods follow daemon/openapi.yaml one to one (OPERATIONS lists them).
"""

from ._client import OPERATIONS, Client
from ._errors import (
    BadRequest,
    Busy,
    Conflict,
    Forbidden,
    GraftError,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
)
from ._types import FINAL_STATES, STATES, Attempt, Event, FieldError, Job, JobRequest, Model, Prediction, Progress

__all__ = [
    "OPERATIONS",
    "Client",
    "GraftError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "TooLarge",
    "RateLimited",
    "Busy",
    "STATES",
    "FINAL_STATES",
    "Attempt",
    "Event",
    "FieldError",
    "Job",
    "JobRequest",
    "Model",
    "Prediction",
    "Progress",
]

"""The daemon's wire types (daemon/openapi.yaml, components/schemas).

Each dataclass's fields are the properties of the schema of the same name;
tests/test_openapi.py checks them against the spec so that the two cannot
drift. Unknown keys in an answer are ignored (a newer daemon may add some).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Type, TypeVar

T = TypeVar("T")

# Job states (components/schemas/State).
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES = frozenset(("succeeded", "failed", "cancelled"))


def _from(cls: Type[T], d: Mapping[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class JobRequest:
    """The body of POST /v1/jobs: graft train's options, snake_case.

    Paths (backbone, data, val) must be absolute and inside one of the
    daemon's --allow-root directories. Unset fields take graft's defaults.
    """

    backbone: str
    tap: str
    data: str
    model: Optional[str] = None
    tags: Optional[List[str]] = None
    signature: Optional[str] = None
    val: Optional[str] = None
    val_split: Optional[float] = None
    preprocess: Optional[str] = None
    on_bad_file: Optional[str] = None
    augment: Optional[str] = None
    views: Optional[int] = None
    head: Optional[str] = None
    label_smoothing: Optional[float] = None
    dropout: Optional[float] = None
    class_weight: Optional[str] = None
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    optimizer: Optional[str] = None
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    momentum: Optional[float] = None
    schedule: Optional[str] = None
    step_every: Optional[int] = None
    gamma: Optional[float] = None
    plateau_patience: Optional[int] = None
    early_stopping: Optional[int] = None
    monitor: Optional[str] = None
    min_delta: Optional[float] = None
    seed: Optional[int] = None
    device: Optional[str] = None
    memory_budget: Optional[int] = None
    workers: Optional[int] = None
    # threads the job computes on; None or 0: the CPUs its container may use
    threads: Optional[int] = None
    # shard the extraction: this many shard workers at once (local
    # processes, or Ray jobs on a daemon with --launcher ray)
    extract_workers: Optional[int] = None
    shard_size: Optional[int] = None
    shard_attempts: Optional[int] = None
    engine: Optional[str] = None
    tf_memory_fraction: Optional[float] = None
    # A sweep: {"space": {"lr": [0.001, 0.01], ...}, "trials": N, "parallel": N}.
    sweep: Optional[Dict[str, Any]] = None
    # The job contract's version; None: the client's (1). A number given
    # is used as given: epochs=0 is an error, not the default.
    version: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        """The JSON body: unset fields are left out (the daemon rejects
        unknown ones and fills the rest with defaults)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass
class Attempt:
    n: int = 0
    pid: Optional[int] = None
    proc_start: Optional[int] = None
    resumed: bool = False
    start: Optional[str] = None
    end: Optional[str] = None
    exit: Optional[str] = None
    reason: Optional[str] = None
    node: Optional[str] = None  # the host (or Ray node) the worker ran on
    launch_id: Optional[str] = None  # the Ray submission id with --launcher ray
    graft: Optional[str] = None  # the version of the graft serve that started it


@dataclass
class Progress:
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    loss: float = 0.0
    accuracy: float = 0.0
    # shards done of shards in all, while a sharded extraction runs
    shards_done: int = 0
    shards: int = 0


@dataclass
class Job:
    id: str
    state: str
    spec: Dict[str, Any] = field(default_factory=dict)
    model: str = ""
    version: Optional[int] = None
    run_dir: str = ""
    created: Optional[str] = None
    updated: Optional[str] = None
    attempts: List[Attempt] = field(default_factory=list)
    progress: Progress = field(default_factory=Progress)
    error: Optional[str] = None
    summary: Optional[Dict[str, Any]] = None
    cancel_requested: bool = False
    format: Optional[int] = None  # the job contract's version of the record
    gpu_bytes: Optional[int] = None
    host_bytes: Optional[int] = None

    @property
    def final(self) -> bool:
        """Whether the job will never change again."""
        return self.state in FINAL_STATES

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Job":
        j = _from(cls, d)
        j.attempts = [_from(Attempt, a) for a in (d.get("attempts") or [])]
        j.progress = _from(Progress, d.get("progress") or {})
        return j


@dataclass
class Event:
    """One entry of a job's event log. data holds the worker's training
    event (epoch metrics, steps, timings) for training events."""

    seq: int
    type: str
    time: Optional[str] = None
    attempt: Optional[int] = None
    message: Optional[str] = None
    data: Optional[Dict[str, Any]] = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Event":
        return _from(cls, d)


@dataclass
class Model:
    name: str
    version: int
    job_id: str = ""
    run_dir: str = ""
    classes: List[str] = field(default_factory=list)
    created: Optional[str] = None
    class_count: Optional[int] = None  # in lists, when classes holds only the first 20

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Model":
        return _from(cls, d)


@dataclass
class FieldError:
    """One invalid setting of a job spec: the field and what is wrong."""

    field: str
    message: str


@dataclass
class Prediction:
    """The class probabilities of one image, in the model's class order."""

    classes: List[str]
    scores: List[float]

    @property
    def label(self) -> str:
        """The most probable class."""
        return self.top(1)[0][0]

    def top(self, k: int = 5) -> List["tuple[str, float]"]:
        """The k most probable classes, largest first (ties by index, as
        graft predict orders them)."""
        order = sorted(range(len(self.scores)), key=lambda i: (-self.scores[i], i))
        return [(self.classes[i], self.scores[i]) for i in order[:k]]

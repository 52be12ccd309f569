"""TensorBoard reads graft's event files: its own loader (the tensorboard
pip package's EventAccumulator) finds every scalar of metrics.jsonl, epoch
by epoch, and the run's config as a text summary."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing import event_accumulator as ea


def load(run_dir: str) -> ea.EventAccumulator:
    acc = ea.EventAccumulator(str(Path(run_dir) / "events"), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def test_scalars_equal_metrics_jsonl(trained) -> None:
    acc = load(trained.run_dir)
    metrics = [json.loads(l) for l in (Path(trained.run_dir) / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 5
    tags = set(acc.Tags()["scalars"])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "val_top5", "lr", "seconds"):
        assert key in tags, f"{key} missing from TensorBoard's scalars {sorted(tags)}"
        got = [(s.step, s.value) for s in acc.Scalars(key)]
        # TensorBoard keeps scalars as float32, as tf.summary writes them.
        want = [(m["epoch"], float(np.float32(m[key]))) for m in metrics]
        assert got == want, key


def test_config_text_summary(trained) -> None:
    acc = load(trained.run_dir)
    assert "config" in acc.Tags()["tensors"], acc.Tags()
    (ev,) = acc.Tensors("config")
    text = ev.tensor_proto.string_val[0].decode()
    cfg = json.loads((Path(trained.run_dir) / "config.json").read_text())
    # The text plugin renders markdown: the config as a JSON code block.
    body = text.split("```")[1].removeprefix("json\n")
    assert json.loads(body) == cfg
    meta = acc.SummaryMetadata("config")
    assert meta.plugin_data.plugin_name == "text"


def test_per_class_scalars_of_the_best_epoch_equal_graft_eval(trained) -> None:
    # graft eval scores the best epoch's head on the run's validation split
    # on its own (features through the backbone again); TensorBoard's
    # per-class scalars at the best epoch must say the same.
    from conftest import graft_bin

    out = subprocess.run(
        [graft_bin(), "eval", "--run", trained.run_dir, "--split", "val", "--format", "json", "--log-level", "error"],
        check=True, capture_output=True, text=True,
    ).stdout
    rep = json.loads(out)
    best = trained.summary["best_epoch"]
    acc = load(trained.run_dir)
    tags = set(acc.Tags()["scalars"])
    assert len(rep["classes"]) == 10
    for c in rep["classes"]:
        for key in ("precision", "recall"):
            tag = f"val_{key}/{c['name']}"
            assert tag in tags, sorted(tags)
            series = acc.Scalars(tag)
            assert [s.step for s in series] == [1, 2, 3, 4, 5]
            (at_best,) = [s.value for s in series if s.step == best]
            assert at_best == float(np.float32(c[key])), (tag, at_best, c[key])
    # The epochs differ from one another: these are per-epoch scores, not
    # the final ones repeated.
    assert any(len({s.value for s in acc.Scalars(f"val_recall/{c['name']}")}) > 1 for c in rep["classes"])

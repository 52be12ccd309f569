"""Run SavedModels as TensorFlow itself loads them (tf.saved_model.load),
the reader graft's writer is checked against.

Usage: tf_load_check.py JOBS.json
JOBS.json is a list of {"model": DIR, "signature": KEY, "input": FILE,
"shape": [N, H, W, C], "output": FILE}: each input file holds float32
values (little-endian, row-major) of that shape, fed to the signature's only
input; the signature's only output is written to "output" the same way,
with its shape as JSON in output + ".shape". Exits non-zero on any failure.
"""

import json
import sys

import numpy as np
import tensorflow as tf


def run(job):
    model = tf.saved_model.load(job["model"])
    fn = model.signatures[job.get("signature") or "serving_default"]
    _, kwargs = fn.structured_input_signature
    if len(kwargs) != 1:
        raise SystemExit(f"{job['model']}: signature has inputs {sorted(kwargs)}, want one")
    (name,) = kwargs
    x = np.fromfile(job["input"], dtype="<f4").reshape(job["shape"])
    out = fn(**{name: tf.constant(x)})
    if len(out) != 1:
        raise SystemExit(f"{job['model']}: signature has outputs {sorted(out)}, want one")
    (y,) = out.values()
    y = y.numpy().astype("<f4")
    y.tofile(job["output"])
    with open(job["output"] + ".shape", "w") as f:
        json.dump(list(y.shape), f)


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    for job in jobs:
        run(job)
    print(f"tf_load_check: {len(jobs)} models run by TensorFlow {tf.__version__}")


if __name__ == "__main__":
    main()

"""graft's ONNX export against the tf2onnx peer (make bench-export).

For each model: trains a small head with graft (random two-class images),
exports the run twice (graft export --format onnx; graft export as a
SavedModel, then python -m tf2onnx.convert --opset 17 on its
serving_default), checks both give the same probabilities, and times
onnxruntime (CPU) on each at batch 1 and 32, the two alternated, medians.
Prints a markdown table. Not a test: numbers for docs/export.md.
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def images(folder, size, per_class=8, seed=0):
    rng = np.random.default_rng(seed)
    for k, cls in enumerate(["a", "b"]):
        os.makedirs(os.path.join(folder, cls), exist_ok=True)
        for i in range(per_class):
            x = rng.integers(0, 128, (size, size, 3)) + 100 * k
            Image.fromarray(np.clip(x, 0, 255).astype(np.uint8)).save(os.path.join(folder, cls, f"{i}.png"))


def median_times(sessions, x, reps):
    times = collections.defaultdict(list)
    for _ in range(reps):
        for name, s in sessions.items():  # alternated
            t = time.perf_counter()
            s.run(None, {s.get_inputs()[0].name: x})
            times[name].append(time.perf_counter() - t)
    return {k: (float(np.median(v)), float(np.min(v))) for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--graft", required=True)
    ap.add_argument("--zoo", required=True)
    ap.add_argument("--models", default="MobileNetV2:out_relu,ResNet50:conv5_block3_out")
    ap.add_argument("--reps", type=int, default=60)
    args = ap.parse_args()
    rows = []
    for spec in args.models.split(","):
        model, tap = spec.split(":")
        backbone = os.path.join(args.zoo, model, "keras3", "model")
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "data")
            images(data, 64)
            run = os.path.join(tmp, "run")
            sh(args.graft, "train", "--backbone", backbone, "--tap", tap, "--data", data, "--preprocess", "tf",
               "--head", "conv:8", "--epochs", "1", "--cache-dir", "none", "--log-level", "error", "--out", run)
            ours = os.path.join(tmp, "graft.onnx")
            sh(args.graft, "export", "--run", run, "--out", ours, "--format", "onnx", "--log-level", "error")
            sm = os.path.join(tmp, "sm")
            sh(args.graft, "export", "--run", run, "--out", sm, "--log-level", "error")
            peer = os.path.join(tmp, "tf2onnx.onnx")
            subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", sm, "--signature_def", "serving_default",
                            "--opset", "17", "--output", peer], check=True, capture_output=True)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 2
            sessions = {n: ort.InferenceSession(p, opts, providers=["CPUExecutionProvider"]) for n, p in (("graft", ours), ("tf2onnx", peer))}
            nodes = {n: len(onnx.load(p).graph.node) for n, p in (("graft", ours), ("tf2onnx", peer))}
            shape = onnx.load(ours).graph.input[0].type.tensor_type.shape.dim
            h, w, c = (d.dim_value for d in shape[1:])
            for batch in (1, 32):
                x = np.random.default_rng(1).integers(0, 256, (batch, h, w, c)).astype(np.float32)
                a = sessions["graft"].run(["probabilities"], {"images": x})[0]
                b = sessions["tf2onnx"].run(None, {sessions["tf2onnx"].get_inputs()[0].name: x})
                b = next(o for o in b if o.dtype == np.float32)
                diff = float(np.abs(a - b).max())
                median_times(sessions, x, 3)  # warm-up
                t = median_times(sessions, x, args.reps)
                (gm, gmin), (pm, pmin) = t["graft"], t["tf2onnx"]
                rows.append((model, batch, gm * 1e3, pm * 1e3, pm / gm, gmin * 1e3, pmin * 1e3, nodes["graft"], nodes["tf2onnx"], diff))
    print("| model (64x64) | batch | graft median ms | tf2onnx median ms | tf2onnx / graft | graft min ms | tf2onnx min ms | nodes graft | nodes tf2onnx | max abs diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %d | %.1e |" % r)


if __name__ == "__main__":
    main()

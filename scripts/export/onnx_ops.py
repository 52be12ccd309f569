"""Runs graft's per-op ONNX test models (internal/export TestExportONNXOps).

Reads DIR/cases.json ([{"name", "input": [shape]}]); for each case checks
DIR/NAME.onnx with onnx.checker (full_check) and runs it with onnxruntime
(CPU) on DIR/NAME.in.f32 (raw little-endian float32), writing
DIR/NAME.out.f32 and the output shapes to DIR/results.json.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    d = sys.argv[1]
    cases = json.load(open(os.path.join(d, "cases.json")))
    res = {}
    for c in cases:
        p = os.path.join(d, c["name"] + ".onnx")
        onnx.checker.check_model(onnx.load(p), full_check=True)
        x = np.fromfile(os.path.join(d, c["name"] + ".in.f32"), dtype="<f4").reshape(c["input"])
        s = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
        y = s.run(None, {s.get_inputs()[0].name: x})[0].astype("<f4")
        y.tofile(os.path.join(d, c["name"] + ".out.f32"))
        res[c["name"]] = list(y.shape)
    json.dump(res, open(os.path.join(d, "results.json"), "w"))


if __name__ == "__main__":
    main()

"""Run one TFLite file in LiteRT on one batch: the zoo parity of graft's
TFLite converter (internal/export/tflite/zoo_test.go).

usage: tflite_run.py MODEL.tflite IN.f32 N H W C OUT.f32

IN.f32 is the batch as raw little-endian float32 NHWC; the signature
serving_default's input "images" is resized to it (strict: the file's
shape_signature must allow the batch) and its output "features" written
to OUT.f32 the same way. Its shape is printed as JSON on stdout.
"""

import json
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def main():
    model, data, n, h, w, c, out = sys.argv[1:8]
    x = np.fromfile(data, dtype="<f4").reshape(int(n), int(h), int(w), int(c))
    it = Interpreter(model_path=model)
    sig = it._get_full_signature_list()["serving_default"]  # names -> tensor indices
    index = sig["inputs"]["images"]
    it.resize_tensor_input(index, x.shape, strict=True)
    it.allocate_tensors()
    it.set_tensor(index, x)
    it.invoke()
    y = it.get_tensor(sig["outputs"]["features"]).astype("<f4")
    y.tofile(out)
    print(json.dumps(list(y.shape)))


if __name__ == "__main__":
    main()

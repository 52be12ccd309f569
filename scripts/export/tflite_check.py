"""Run a graft TFLite export in LiteRT, the oracle of `graft export --format tflite`.

usage: tflite_check.py MODEL.tflite MODEL16.tflite INPUT.f32 N H W C OUT.json

INPUT.f32 holds N images as raw little-endian float32 NHWC, 0..255 (what
graft's images package gives `graft predict` before preprocessing). The
float32 model runs them one at a time (batch 1, as written) and all at
once (resize_tensor_input to N), the float16 model all at once. The model
file is also read with LiteRT's own flatbuffer schema (schema_py_generated):
its labels metadata, its operator codes and its tensor types, so that the
Go test checks what the file holds, not what graft meant to write.
"""

import json
import sys

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter

BUILTIN = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
TYPES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def read_file(path):
    with open(path, "rb") as f:
        buf = f.read()
    m = schema.ModelT.InitFromPackedBuf(buf, 0)
    meta = {}
    for e in m.metadata or []:
        meta[e.name.decode()] = bytes(m.buffers[e.buffer].data).decode()
    ops = sorted({BUILTIN[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in m.operatorCodes})
    g = m.subgraphs[0]
    types = sorted({TYPES[t.type] for t in g.tensors})
    sig = m.signatureDefs[0]
    return {
        "labels": meta.get("labels.txt", ""),
        "ops": ops,
        "tensor_types": types,
        "version": m.version,
        "signature": sig.signatureKey.decode(),
        "input_signature": [int(d) for d in g.tensors[g.inputs[0]].shapeSignature],
    }


def run(path, x, batch):
    it = Interpreter(model_path=path)
    sig = it._get_full_signature_list()["serving_default"]  # names -> tensor indices
    index = sig["inputs"]["images"]
    probs, classes = [], []
    for lo in range(0, len(x), batch):
        # strict: the file's shape_signature must allow this batch
        it.resize_tensor_input(index, x[lo:lo + batch].shape, strict=True)
        it.allocate_tensors()
        it.set_tensor(index, x[lo:lo + batch])
        it.invoke()
        probs.append(it.get_tensor(sig["outputs"]["probabilities"]).copy())
        classes.append(it.get_tensor(sig["outputs"]["classes"]).copy())
    return np.concatenate(probs).tolist(), np.concatenate(classes).tolist()


def main():
    model, model16, data, n, h, w, c, out = sys.argv[1:9]
    n, h, w, c = int(n), int(h), int(w), int(c)
    x = np.fromfile(data, dtype="<f4").reshape(n, h, w, c)
    res = {"file": read_file(model), "file16": read_file(model16)}
    res["probs_b1"], res["classes_b1"] = run(model, x, 1)
    res["probs_bn"], res["classes_bn"] = run(model, x, n)
    res["probs16"], res["classes16"] = run(model16, x, n)
    with open(out, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()

"""Oracle for graft's ONNX export (make test-export).

Loads MODEL.onnx, runs onnx.checker with full_check, then runs the model
with onnxruntime (CPU) on the given PNG files (Pillow decodes them; they
are at the model's input size, so no resizing is involved) as one batch,
and, when the batch is dynamic, image by image too. Prints one JSON object:
probabilities and classes of the batch, those of the single runs, the
node counts by op type and the metadata.
"""
import argparse
import collections
import json

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()

    m = onnx.load(args.model)
    onnx.checker.check_model(m, full_check=True)
    inp = m.graph.input[0]
    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in inp.type.tensor_type.shape.dim]
    _, h, w, c = dims
    mode = "L" if c == 1 else "RGB"
    x = np.stack([np.asarray(Image.open(p).convert(mode), dtype=np.float32).reshape(h, w, c) for p in args.images])

    sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    out = {
        "opset": [(o.domain, o.version) for o in m.opset_import],
        "input_dims": dims,
        "outputs": [o.name for o in m.graph.output],
        "ops": dict(collections.Counter(n.op_type for n in m.graph.node)),
        "metadata": {p.key: p.value for p in m.metadata_props},
    }
    if isinstance(dims[0], int):
        # A static batch: as many copies of the images as it holds.
        reps = -(-dims[0] // len(x))
        xb = np.concatenate([x] * reps)[: dims[0]]
        probs, classes = sess.run(["probabilities", "classes"], {"images": xb})
        out["probabilities"] = probs[: len(x)].tolist()
        out["classes"] = classes[: len(x)].tolist()
    else:
        probs, classes = sess.run(["probabilities", "classes"], {"images": x})
        out["probabilities"], out["classes"] = probs.tolist(), classes.tolist()
        singles = [sess.run(["probabilities"], {"images": x[i : i + 1]})[0][0] for i in range(len(x))]
        out["single_probabilities"] = [s.tolist() for s in singles]
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Run a model written by `graft export` as TensorFlow serves it: the oracle
of graft's export tests.

Usage: export_check.py MODEL OUT.json IMAGE... [--bytes-only IMAGE...]
Loads MODEL with tf.saved_model.load and lists it with saved_model_cli
show --all; decodes each image with Pillow (0..255, the model's input size
and channels, gray replicated to RGB) and calls serving_default with all of
them at once; calls serving_bytes with every file's bytes in one batch (the
files after --bytes-only, of any size, go to serving_bytes only). Writes OUT.json:
{"signatures": [...], "cli_signatures": [...], "probabilities": [[...]],
"classes": [...], "bytes_probabilities": [[...]], "bytes_classes": [...]}.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import tensorflow as tf
from PIL import Image


def main():
    model_dir, out_path, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    extra = []
    if "--bytes-only" in files:
        i = files.index("--bytes-only")
        files, extra = files[:i], files[i + 1:]
    model = tf.saved_model.load(model_dir)
    sig = model.signatures["serving_default"]
    _, kwargs = sig.structured_input_signature
    _, h, w, c = kwargs["images"].shape
    batch = []
    for p in files:
        img = Image.open(p).convert("L" if c == 1 else "RGB")
        if img.size != (w, h):
            raise SystemExit(f"{p}: {img.size}, the model takes {w}x{h}")
        x = np.asarray(img, dtype=np.float32)
        batch.append(x[..., None] if c == 1 else x)
    out = sig(images=tf.constant(np.stack(batch)))
    res = {
        "signatures": sorted(model.signatures.keys()),
        "probabilities": out["probabilities"].numpy().astype(float).tolist(),
        "classes": [s.decode() for s in out["classes"].numpy()],
        "bytes_probabilities": [],
        "bytes_classes": [],
    }
    enc = model.signatures["serving_bytes"]
    encoded = []
    for p in files + extra:
        with open(p, "rb") as f:
            encoded.append(f.read())
    o = enc(image_bytes=tf.constant(encoded))  # one batch, sizes mixed
    res["bytes_probabilities"] = o["probabilities"].numpy().astype(float).tolist()
    res["bytes_classes"] = [s.decode() for s in o["classes"].numpy()]
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    show = subprocess.run([cli, "show", "--all", "--dir", model_dir], capture_output=True, text=True, check=True).stdout
    res["cli_signatures"] = sorted(re.findall(r"signature_def\['([^']+)'\]", show))
    with open(out_path, "w") as f:
        json.dump(res, f)
    print(f"export_check: {len(files)} images through {model_dir} by TensorFlow {tf.__version__}")


if __name__ == "__main__":
    main()

"""TensorFlow's and Keras's own image ops as the oracle of internal/data/augment.

Usage: augment_oracle.py DIR. DIR/cases.json lists cases, each with a name,
the input's shape [h, w, c] (DIR/NAME.in.f32, little-endian float32, HWC,
0..255), an op and its fixed parameters; the script writes what TensorFlow
makes of it to DIR/NAME.out.f32. The random Keras layers are given ranges
of one value, so their draw is that value and their own matrix is used.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402


def run(case, x):
    op, p = case["op"], case.get("params", {})
    kw = dict(fill_mode="reflect", interpolation="bilinear")
    if op == "rotation":
        layer = keras.layers.RandomRotation(factor=(p["f"], p["f"]), **kw)
    elif op == "zoom":
        wf = None if p.get("keep") else (p["w"], p["w"])
        layer = keras.layers.RandomZoom(height_factor=(p["h"], p["h"]), width_factor=wf, **kw)
    elif op == "translation":
        layer = keras.layers.RandomTranslation((p["h"], p["h"]), (p["w"], p["w"]), **kw)
    elif op == "flip":
        return tf.image.flip_left_right(x)
    elif op == "brightness":
        return tf.clip_by_value(tf.image.adjust_brightness(x, p["delta"]), 0.0, 255.0)
    elif op == "contrast":
        return tf.clip_by_value(tf.image.adjust_contrast(x, p["factor"]), 0.0, 255.0)
    elif op == "matrix":
        m = np.array([p["m"] + [0.0, 0.0]], dtype=np.float32)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=m, output_shape=tf.shape(x)[1:3], fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT")
    else:
        raise SystemExit(f"unknown op {op}")
    return layer(x, training=True)


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "cases.json")) as f:
        cases = json.load(f)
    for case in cases:
        h, w, c = case["shape"]
        x = np.fromfile(os.path.join(d, case["name"] + ".in.f32"), dtype="<f4").reshape(1, h, w, c)
        y = np.asarray(run(case, tf.constant(x)), dtype="<f4").reshape(h, w, c)
        y.tofile(os.path.join(d, case["name"] + ".out.f32"))


if __name__ == "__main__":
    main()

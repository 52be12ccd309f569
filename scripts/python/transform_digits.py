"""Rotate and shift a folder of digit images with TensorFlow: the test set
on which augmentation must matter (internal/fit/train's augmentation test).

Usage: transform_digits.py SRC DST SEED ROTATION TRANSLATION. SRC holds one
folder of PNGs per class; DST gets the same layout, each image turned by
keras.layers.RandomRotation(ROTATION) and shifted by
keras.layers.RandomTranslation(TRANSLATION, TRANSLATION), both seeded with
SEED, the background (black) filled in: fill_mode constant.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402


def main():
    src, dst, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rot, shift = float(sys.argv[4]), float(sys.argv[5])
    layers = keras.Sequential([
        keras.layers.RandomRotation(rot, fill_mode="constant", seed=seed),
        keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 1),
    ])
    for cls in sorted(os.listdir(src)):
        names = sorted(n for n in os.listdir(os.path.join(src, cls)) if n.endswith(".png"))
        if not names:
            continue
        x = np.stack([tf.io.decode_png(tf.io.read_file(os.path.join(src, cls, n)), channels=1).numpy() for n in names])
        y = layers(tf.constant(x, tf.float32), training=True)
        y = tf.cast(tf.clip_by_value(tf.round(y), 0, 255), tf.uint8)
        os.makedirs(os.path.join(dst, cls), exist_ok=True)
        for n, img in zip(names, y):
            tf.io.write_file(os.path.join(dst, cls, n), tf.io.encode_png(img))


if __name__ == "__main__":
    main()

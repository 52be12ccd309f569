"""Shared set-up of the peer scripts: TensorFlow on a fixed number of
threads, image folders read the way graft reads them for the digits task,
and one JSON result per script on stdout's last line."""

import json
import os
import time

# Wall times start when the script starts, before TensorFlow is imported:
# importing it is part of what a Keras user waits for.
T0 = time.monotonic()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tensorflow(threads):
    """TensorFlow with intra- and inter-op threads both set to threads (0:
    its default, one per core), as graft's --threads sets them for its
    TensorFlow engine."""
    import tensorflow as tf

    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    return tf


def repeat(fn, min_time):
    """graft's bench loop: one warm-up call, then at least three timed
    calls and at least min_time seconds. Returns (calls, seconds)."""
    fn()
    start, n = time.perf_counter(), 0
    while n < 3 or time.perf_counter() - start < min_time:
        fn()
        n += 1
    return n, time.perf_counter() - start


def load_images(paths, size=0, mode="unit"):
    """PNG or JPEG files as float32 NHWC, scaled as graft's --preprocess
    mode scales them (unit: x/255; tf: x/127.5-1). With size, each is
    resized to size x size RGB as graft resizes for a backbone's input:
    bilinear, antialiased when shrinking, gray replicated. Without, gray
    images keep one channel, as graft feeds a 1-channel input."""
    import numpy as np
    from PIL import Image

    out = []
    for p in paths:
        with Image.open(p) as im:
            a = np.asarray(im.convert("L") if im.mode in ("L", "1", "P", "LA") else im.convert("RGB"), dtype=np.float32)
        out.append(a[..., None] if a.ndim == 2 else a)
    x = np.stack(out)
    if size:
        import tensorflow as tf

        if x.shape[-1] == 1:
            x = np.repeat(x, 3, axis=-1)
        x = np.concatenate([tf.image.resize(x[i : i + 256], (size, size), method="bilinear", antialias=True).numpy() for i in range(0, len(x), 256)])
    if mode == "tf":
        return x / np.float32(127.5) - np.float32(1)
    return x / np.float32(255)


def folder(root, classes):
    """(paths, labels) of an image folder with one sub-folder per class,
    labels numbered in the order of classes."""
    paths, labels = [], []
    for i, c in enumerate(classes):
        d = os.path.join(root, c)
        for f in sorted(os.listdir(d)):
            paths.append(os.path.join(d, f))
            labels.append(i)
    return paths, labels


def emit(result):
    print(json.dumps(result), flush=True)

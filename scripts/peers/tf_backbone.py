"""TensorFlow's own Python runtime on a SavedModel's signature: images per
second at a batch, on random images in [0, 1), timed the way `graft bench
backbone` times its engines (one warm-up batch, then at least three and at
least --min-time seconds)."""

import argparse

import peerlib


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--signature", default="serving_default")
    p.add_argument("--min-time", type=float, default=3.0)
    a = p.parse_args()
    tf = peerlib.tensorflow(a.threads)
    import numpy as np

    f = tf.saved_model.load(a.model).signatures[a.signature]
    ((key, spec),) = f.structured_input_signature[1].items()
    shape = [a.batch] + [int(d) for d in spec.shape[1:]]
    x = tf.constant(np.random.default_rng(1).uniform(0, 1, shape).astype(np.float32))
    # .numpy() waits for the result, as graft's engines return theirs.
    runs, secs = peerlib.repeat(lambda: [v.numpy() for v in f(**{key: x}).values()], a.min_time)
    peerlib.emit({"engine": "tensorflow-python", "batch": a.batch, "threads": a.threads, "runs": runs, "images_per_s": a.batch * runs / secs, "tensorflow": tf.__version__})


if __name__ == "__main__":
    main()

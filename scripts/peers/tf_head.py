"""A training step of graft's default head in TensorFlow: Conv2D 3x3 with
256 filters (same padding) + ReLU -> global average pool -> Dense ->
softmax, categorical cross-entropy, Adam, as one tf.function with a
GradientTape, on random features. Timed like `graft bench head` (one
warm-up step, then at least three and at least --min-time seconds).

--policy mixed_bfloat16 is Keras's mixed precision, the peer of graft's
--precision bf16: the conv computes in bfloat16 from float32 variables
(Adam's too); the output Dense stays float32, as Keras's mixed-precision
guide advises for the softmax layer and as graft's bf16 keeps it."""

import argparse

import peerlib


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--height", type=int, default=7)
    p.add_argument("--width", type=int, default=7)
    p.add_argument("--channels", type=int, default=2048)
    p.add_argument("--filters", type=int, default=256)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--min-time", type=float, default=3.0)
    p.add_argument("--policy", default="float32", choices=["float32", "mixed_bfloat16"], help="Keras dtype policy")
    a = p.parse_args()
    tf = peerlib.tensorflow(a.threads)
    import keras
    import numpy as np

    keras.mixed_precision.set_global_policy(a.policy)
    L = keras.layers
    inp = keras.Input((a.height, a.width, a.channels))
    x = L.Conv2D(a.filters, 3, padding="same", activation="relu")(inp)
    out = L.Dense(a.classes, activation="softmax", dtype="float32")(L.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, out)
    loss_fn = keras.losses.CategoricalCrossentropy()
    opt = keras.optimizers.Adam()
    rng = np.random.default_rng(1)
    feats = tf.constant(rng.standard_normal((a.batch, a.height, a.width, a.channels)).astype(np.float32))
    labels = tf.one_hot(np.arange(a.batch) % a.classes, a.classes)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(feats, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    runs, secs = peerlib.repeat(lambda: step().numpy(), a.min_time)
    peerlib.emit({"engine": "tensorflow-python", "batch": a.batch, "threads": a.threads, "steps": runs, "ms_per_step": 1e3 * secs / runs,
                 "policy": a.policy, "conv_compute_dtype": model.layers[1].compute_dtype, "tensorflow": tf.__version__})


if __name__ == "__main__":
    main()

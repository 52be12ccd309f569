"""Writes small Keras CNNs whose graphs normalise their own input, as
TensorFlow saves them, for graft's input-normalisation tests.

usage: normalizing_models.py OUTDIR

OUTDIR/<name>/ gets one SavedModel per case (28x28x1 input):
  tfkeras_rescaling   tf-keras (Keras 2) Rescaling(1/255), model.save
  tfkeras_lambda      tf-keras Lambda(x / 127.5 - 1), tf.saved_model.save
  keras3_rescaling    Keras 3 Rescaling(scale=2, offset=-1), model.export
  tfkeras_plain       tf-keras without normalisation
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
import keras  # noqa: E402


def cnn(lib, first):
    layers = [lib.layers.Input((28, 28, 1))]
    layers += first
    layers += [
        lib.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="conv2d"),
        lib.layers.GlobalAveragePooling2D(),
        lib.layers.Dense(3, activation="softmax"),
    ]
    return lib.Sequential(layers)


def main(out):
    tf.random.set_seed(1)
    m = cnn(tf_keras, [tf_keras.layers.Rescaling(1.0 / 255)])
    m.save(os.path.join(out, "tfkeras_rescaling"), save_format="tf")
    m = cnn(tf_keras, [tf_keras.layers.Lambda(lambda x: x / 127.5 - 1.0)])
    tf.saved_model.save(m, os.path.join(out, "tfkeras_lambda"))
    m = cnn(keras, [keras.layers.Rescaling(2.0, offset=-1.0)])
    m.export(os.path.join(out, "keras3_rescaling"))
    m = cnn(tf_keras, [])
    m.save(os.path.join(out, "tfkeras_plain"), save_format="tf")


if __name__ == "__main__":
    main(sys.argv[1])

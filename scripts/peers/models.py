"""Writes the backbones of `make bench-peers` into --out (skipping those
already there):

  MobileNetV2, ResNet50, EfficientNetB0   Keras Applications at 224x224 (alpha
      1.0 for MobileNetV2), built by scripts/zoo/gen.py (imported) with its
      seeded random weights and realistic batch-norm statistics, Keras 3
      model.export() only, into <out>/<model>/keras3/model: the real
      backbones' shapes and FLOPs, as TensorFlow writes them (no download
      is possible here), with TensorFlow's outputs beside them.
  fashion_cnn_cut   testdata/models/fashion_cnn cut at conv2d_2 (the demo's
      tap) as a SavedModel of its own, whose signature returns the feature
      map: what the seed's recipe expects (`signatures["serving_default"]`
      giving the features). Rebuilt in Keras from the fixture's variables
      and checked against the fixture's own signature before it is written.
  MobileNetV2_cut   the zoo's MobileNetV2 cut at out_relu (7x7x1280) the
      same way, for the recipes of the second end-to-end task: rebuilt by
      gen.py's own builder and checked against the tap values gen.py
      stored beside the full model.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "zoo"))

import peerlib  # noqa: E402  (sets TensorFlow's log level first)

ZOO = ["MobileNetV2", "ResNet50", "EfficientNetB0"]
SIZE = 224
SEED = 1234


def zoo_dir(out, name):
    """Where gen.py's build_one puts a model's Keras 3 export."""
    return os.path.join(out, name, "keras3", "model")


def zoo_model(name, out):
    # The zoo's own builder at 224x224, Keras 3 export only: the same
    # seeded weights and batch-norm statistics, and TensorFlow's outputs
    # beside the model, so `GRAFT_ZOO=build/peers/models make test-zoo`
    # checks the native engine's parity on the very models it is timed on.
    import gen  # scripts/zoo/gen.py

    gen.build_one(name, out, SIZE, ["keras3"])


CUTS = {"MobileNetV2_cut": ("MobileNetV2", "out_relu")}


def zoo_cut(out, name, tap, d):
    """The zoo model name as gen.py builds it, cut at the layer tap."""
    import gen
    import keras
    import numpy as np

    _, x, calib, _, _ = gen.zoo_inputs(name, SIZE)
    m3 = gen.keras3_model(name, (SIZE, SIZE, 3), gen.MODELS[name][2], calib)
    cut = keras.Model(m3.inputs, m3.get_layer(tap).output)
    full = os.path.dirname(zoo_dir(out, name))
    with open(os.path.join(full, "manifest.json")) as f:
        (ref,) = [o for o in json.load(f)["outputs"] if o["tap"] == tap]
    want = np.fromfile(os.path.join(full, ref["file"]), dtype="<f4").reshape(ref["shape"])
    err = float(np.max(np.abs(np.asarray(cut(x, training=False)) - want)) / np.max(np.abs(want)))
    if err > 1e-5:
        sys.exit(f"models: {name} rebuilt and cut at {tap} differs from gen.py's stored tap by {err} of its largest value (> 1e-5)")
    cut.export(d, format="tf_saved_model", verbose=False)
    return err


def fashion_cut(fixture, d):
    import keras
    import numpy as np
    import tensorflow as tf

    L = keras.layers
    inp = keras.Input((28, 28, 1))
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="conv2d")(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="conv2d_1")(x)
    x = L.MaxPooling2D(2)(x)
    feat = L.Conv2D(64, 3, padding="same", activation="relu", name="conv2d_2")(x)
    out = L.Dense(10, activation="softmax", name="dense")(L.GlobalAveragePooling2D()(feat))
    full = keras.Model(inp, out)
    ck = tf.train.load_checkpoint(os.path.join(fixture, "variables", "variables"))
    for i, name in enumerate(["conv2d", "conv2d_1", "conv2d_2", "dense"]):
        w = [ck.get_tensor(f"layer_with_weights-{i}/{v}/.ATTRIBUTES/VARIABLE_VALUE") for v in ("kernel", "bias")]
        full.get_layer(name).set_weights(w)
    # The clone must compute what the fixture computes: its signature's
    # softmax on random images, to float32 rounding.
    x = np.random.default_rng(SEED).uniform(0, 1, (16, 28, 28, 1)).astype(np.float32)
    sig = tf.saved_model.load(fixture).signatures["serving_default"]
    (key,) = sig.structured_input_signature[1].keys()
    want = next(iter(sig(**{key: tf.constant(x)}).values())).numpy()
    got = np.asarray(full(x))
    err = float(np.max(np.abs(got - want)))
    if err > 1e-5:
        sys.exit(f"models: the Keras clone of {fixture} differs from it by {err} (> 1e-5): its architecture changed; update fashion_cut()")
    keras.Model(inp, feat).export(d, format="tf_saved_model", verbose=False)
    return err


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="build/peers/models")
    p.add_argument("--fixture", default="testdata/models/fashion_cnn")
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    peerlib.tensorflow(a.threads)
    os.makedirs(a.out, exist_ok=True)
    for name in ZOO + ["fashion_cnn_cut"] + list(CUTS):
        d = zoo_dir(a.out, name) if name in ZOO else os.path.join(a.out, name)
        if os.path.exists(os.path.join(d, "saved_model.pb")):
            continue
        print(f"models: writing {d}", file=sys.stderr, flush=True)
        info = {}
        if name == "fashion_cnn_cut":
            info["clone_max_abs_err"] = fashion_cut(a.fixture, d)
        elif name in CUTS:
            info["cut_rel_err"] = zoo_cut(a.out, *CUTS[name], d)
        else:
            zoo_model(name, a.out)
        with open(os.path.join(a.out, name + ".json"), "w") as f:
            json.dump(dict(model=name, **info), f)
    peerlib.emit({"models": ZOO + ["fashion_cnn_cut"] + list(CUTS), "out": a.out})


if __name__ == "__main__":
    main()

"""graft sweep against Keras Tuner's RandomSearch: the same space, the same
number of trials, early stopping with the same patience, on the same
features.

graft sweep extracts the features once (--cache-dir none: the extraction
is in its wall time), trains its trials concurrently, and writes the
features it trained on as .npy (--save-features); Keras Tuner then
searches the same space on those very arrays, one trial after another, as
its RandomSearch does. Both heads are the same network (an optional
Conv2D(F, K, same, relu), global average pooling, Dropout(p), Dense on
logits, cross-entropy with label smoothing, Adam), batch size and epochs.

Prints one JSON line: graft's wall time (the whole process, extraction
included) and Keras Tuner's search time (TensorFlow's import and the
loading of the arrays excluded: a yardstick that favours Keras), the
ratio, and each side's best trial: its validation accuracy at the epoch
its validation loss was lowest."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import peerlib

# 12 points and 12 trials by default: both random searches then cover the
# whole grid, so their best accuracies differ by training noise, not by
# which points each happened to draw.
DEFAULT_SPACE = {"lr": [1e-3, 3e-3, 1e-2], "head": ["conv:32", "linear"], "dropout": [0.0, 0.3]}


def graft_sweep(a, space_file, features):
    cmd = [a.graft, "sweep", "--backbone", a.backbone, "--tap", a.tap, "--preprocess", a.preprocess, "--data", a.data,
           "--val-split", "0.2", "--epochs", str(a.epochs), "--batch-size", str(a.batch_size), "--early-stopping", str(a.patience),
           "--seed", str(a.seed), "--cache-dir", "none", "--space", space_file, "--trials", str(a.trials),
           "--save-features", features, "--out", os.path.join(a.out, "graft-sweep"), "--log-format", "json"]
    t = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    secs = time.monotonic() - t
    if p.returncode != 0:
        sys.exit(f"sweep_peer: graft sweep exited {p.returncode}:\n{p.stderr[-3000:]}")
    with open(os.path.join(a.out, "graft-sweep", "leaderboard.json")) as f:
        board = json.load(f)
    return secs, board


def parse_head(h):
    if h == "linear":
        return 0, 0
    parts = h.split(":")
    return int(parts[1]) if len(parts) > 1 else 256, int(parts[2]) if len(parts) > 2 else 3


def keras_tuner_search(a, space, features):
    tf = peerlib.tensorflow(a.threads)
    import keras
    import keras_tuner as kt
    import numpy as np

    x, y = np.load(os.path.join(features, "train_x.npy")), np.load(os.path.join(features, "train_y.npy"))
    vx, vy = np.load(os.path.join(features, "val_x.npy")), np.load(os.path.join(features, "val_y.npy"))
    classes = int(max(y.max(), vy.max())) + 1
    oh, voh = keras.utils.to_categorical(y, classes), keras.utils.to_categorical(vy, classes)
    keras.utils.set_random_seed(a.seed)

    def build(hp):
        def choice(name, default):
            vals = space.get(name, [default])
            if all(isinstance(v, (int, float)) for v in vals):
                vals = [float(v) for v in vals]  # one type per Choice
            return hp.Choice(name, vals)

        lr, head = choice("lr", 1e-3), choice("head", "conv:256")
        drop, ls = choice("dropout", 0.0), choice("label_smoothing", 0.0)
        inputs = keras.Input(shape=x.shape[1:])
        h = inputs
        filters, kernel = parse_head(head)
        if filters:
            h = keras.layers.Conv2D(filters, kernel, padding="same", activation="relu")(h)
        h = keras.layers.GlobalAveragePooling2D()(h)
        if drop:
            h = keras.layers.Dropout(drop)(h)
        out = keras.layers.Dense(classes)(h)
        m = keras.Model(inputs, out)
        m.compile(optimizer=keras.optimizers.Adam(lr), loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=ls), metrics=["accuracy"])
        return m

    with tempfile.TemporaryDirectory() as tmp:
        tuner = kt.RandomSearch(build, objective="val_loss", max_trials=a.trials, seed=a.seed, directory=tmp, project_name="sweep", overwrite=True)
        t = time.monotonic()
        tuner.search(x, oh, validation_data=(vx, voh), epochs=a.epochs, batch_size=a.batch_size, verbose=0,
                     callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=a.patience)])
        secs = time.monotonic() - t
        best = tuner.oracle.get_best_trials(1)[0]
        model = tuner.get_best_models(1)[0]  # saved at its lowest val_loss
        _, acc = model.evaluate(vx, voh, verbose=0)
        trials = len(tuner.oracle.trials)
    return secs, {"val_loss": best.score, "val_accuracy": float(acc), "settings": best.hyperparameters.values, "trials": trials}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graft", default="bin/graft")
    p.add_argument("--backbone", default="testdata/models/fashion_cnn")
    p.add_argument("--tap", default="conv2d_2")
    p.add_argument("--preprocess", default="unit")
    p.add_argument("--data", required=True, help="an image folder, one sub-folder per class")
    p.add_argument("--out", default="build/peers/sweep")
    p.add_argument("--space", help="the space as JSON (graft sweep --space); default: lr x head x dropout, 12 points")
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    space = DEFAULT_SPACE
    if a.space:
        with open(a.space) as f:
            space = json.load(f)
    space_file = os.path.join(a.out, "space.json")
    with open(space_file, "w") as f:
        json.dump(space, f)
    features = os.path.join(a.out, "features")
    import shutil

    shutil.rmtree(os.path.join(a.out, "graft-sweep"), ignore_errors=True)
    g_s, board = graft_sweep(a, space_file, features)
    gbest = board["trials"][0]
    k_s, kbest = keras_tuner_search(a, space, features)
    res = {"trials": a.trials, "epochs": a.epochs, "patience": a.patience, "space": space,
           "graft_wall_s": g_s, "graft_feature_s": board["feature_seconds"], "graft_parallel": board["parallel"],
           "graft_best": {"val_loss": gbest["val_loss"], "val_accuracy": gbest["val_accuracy"], "settings": gbest["settings"]},
           "keras_tuner_search_s": k_s, "keras_tuner_best": kbest,
           "keras_over_graft": k_s / g_s, "accuracy_gap_points": 100 * (kbest["val_accuracy"] - gbest["val_accuracy"])}
    print(json.dumps(res))


if __name__ == "__main__":
    main()

"""The seed's Keras recipe for fine-tuning a head on a frozen SavedModel,
timed end to end against `graft train` on the same images.

--recipe seed follows the seed document literally: the backbone is the
SavedModel's serving signature (which returns the feature map), the head is
Conv2D(256, 3, same, relu) -> GlobalAveragePooling2D -> Dense(softmax), and
training is its eager loop: for every epoch and every batch, the batch's
images go through the backbone inside the GradientTape, then the head, the
categorical cross-entropy, and Adam on the head's variables; it prints each
batch's loss. The only addition is the data loading the seed leaves to the
reader: the training images are shuffled once (seeded) when loaded, since
the seed's loop never shuffles and the files come sorted by class.

--recipe careful is what a careful Keras user writes instead: the features
are predicted once, then the same head is compiled and fitted on them
(model.fit, shuffled each epoch), same optimizer, batch size and epochs.

Both train on exactly the samples graft trained on (the run's split.json,
labels from their folder names), score the test folder through the same
backbone, and print one JSON line: train_s is the wall time from the
script's start (TensorFlow's import included) to the end of training."""

import argparse
import json
import os
import time

import peerlib


def load_pretrained_model(tf, model_path):
    """The seed's loader: the serving signature as a function from images
    to features."""
    loaded_model = tf.saved_model.load(model_path)
    infer = loaded_model.signatures["serving_default"]
    (in_key,) = infer.structured_input_signature[1].keys()
    (out_key,) = infer.structured_outputs.keys()

    def get_intermediate_output(image_tensor):
        return infer(**{in_key: image_tensor})[out_key]

    get_intermediate_output.keep = loaded_model  # the variables stay alive
    return get_intermediate_output


def create_fine_tuning_network(tf, input_shape, num_classes, out_dtype=None):
    """The seed's head, layer for layer (out_dtype: the last layer's, float32
    under a mixed policy, as Keras' mixed-precision guide asks)."""
    inputs = tf.keras.Input(shape=input_shape)
    x = tf.keras.layers.Conv2D(256, 3, padding="same", activation="relu")(inputs)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(num_classes, activation="softmax", dtype=out_dtype)(x)
    return tf.keras.Model(inputs=inputs, outputs=outputs)


def train_fine_tuning_model(tf, pretrained_fn, fine_tuning_model, images, labels, epochs, batch_size):
    """The seed's training loop, as written there."""
    loss_fn = tf.keras.losses.CategoricalCrossentropy()
    optimizer = tf.keras.optimizers.Adam()
    num_samples = images.shape[0]
    for epoch in range(epochs):
        for start in range(0, num_samples, batch_size):
            end = min(start + batch_size, num_samples)
            batch_images = images[start:end]
            batch_labels = labels[start:end]
            with tf.GradientTape() as tape:
                features = pretrained_fn(batch_images)
                predictions = fine_tuning_model(features)
                loss = loss_fn(batch_labels, predictions)
            gradients = tape.gradient(loss, fine_tuning_model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, fine_tuning_model.trainable_variables))
            print(f"Epoch: {epoch+1}, Batch Loss: {loss.numpy():.4f}")


def predict_features(tf, pretrained_fn, images, batch=256):
    import numpy as np

    return np.concatenate([pretrained_fn(tf.constant(images[i : i + batch])).numpy() for i in range(0, len(images), batch)])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=["seed", "careful"], required=True)
    p.add_argument("--backbone", required=True, help="SavedModel whose serving signature returns the features")
    p.add_argument("--run", required=True, help="graft's run folder: split.json and classes.json name the training samples")
    p.add_argument("--test", required=True, help="test image folder, one sub-folder per class")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--size", type=int, default=0, help="resize images to size x size RGB, as graft does for the backbone's input (0: as they are)")
    p.add_argument("--preprocess", choices=["unit", "tf"], default="unit", help="pixel scaling, as graft's --preprocess")
    p.add_argument("--policy", choices=["float32", "mixed_bfloat16"], default="float32",
                   help="the head's Keras dtype policy (mixed_bfloat16: the peer of graft's --precision bf16; the backbone's SavedModel runs as written)")
    a = p.parse_args()
    tf = peerlib.tensorflow(a.threads)
    import keras
    import numpy as np

    keras.utils.set_random_seed(a.seed)
    with open(os.path.join(a.run, "classes.json")) as f:
        classes = json.load(f)
    with open(os.path.join(a.run, "split.json")) as f:
        train = [s["id"] for s in json.load(f)["train"]]
    order = np.random.default_rng(a.seed).permutation(len(train))
    paths = [train[i] for i in order]
    labels = [classes.index(os.path.basename(os.path.dirname(p))) for p in paths]
    images = peerlib.load_images(paths, a.size, a.preprocess)
    onehot = tf.one_hot(labels, len(classes))
    pretrained_fn = load_pretrained_model(tf, a.backbone)
    feature_shape = tuple(pretrained_fn(tf.constant(images[:1])).shape[1:])
    keras.mixed_precision.set_global_policy(a.policy)
    head = create_fine_tuning_network(tf, feature_shape, len(classes), "float32" if a.policy != "float32" else None)

    if a.recipe == "seed":
        train_fine_tuning_model(tf, pretrained_fn, head, tf.constant(images), onehot, a.epochs, a.batch_size)
    else:
        feats = predict_features(tf, pretrained_fn, images)
        head.compile(optimizer=tf.keras.optimizers.Adam(), loss=tf.keras.losses.CategoricalCrossentropy())
        head.fit(feats, onehot, batch_size=a.batch_size, epochs=a.epochs, shuffle=True, verbose=0)
    train_s = time.monotonic() - peerlib.T0

    tpaths, tlabels = peerlib.folder(a.test, classes)
    probs = head.predict(predict_features(tf, pretrained_fn, peerlib.load_images(tpaths, a.size, a.preprocess)), batch_size=256, verbose=0)
    acc = float(np.mean(np.argmax(probs, axis=1) == np.asarray(tlabels)))
    peerlib.emit({"recipe": a.recipe, "policy": a.policy, "train_s": train_s, "test_accuracy": acc, "test_samples": len(tlabels), "train_samples": len(paths), "epochs": a.epochs, "batch_size": a.batch_size, "threads": a.threads})


if __name__ == "__main__":
    main()

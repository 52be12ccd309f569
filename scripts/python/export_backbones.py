"""Write two small backbones as TensorFlow itself writes them, for graft's
export tests: a TF2/Keras model (tf_keras, model.save) and a TF1 graph
(tf.compat.v1 variables, SavedModelBuilder). Both take 28x28x3 images;
weights are seeded, so the same files come out each time.

Usage: export_backbones.py KERAS_DIR TF1_DIR
"""

import sys

import numpy as np
import tensorflow as tf
import tf_keras as keras


def write_keras(path):
    keras.utils.set_random_seed(7)
    model = keras.Sequential([
        keras.layers.Conv2D(8, 3, activation="relu", padding="same", input_shape=(28, 28, 3), name="conv_a"),
        keras.layers.MaxPooling2D(2, name="pool_a"),
        keras.layers.Conv2D(12, 3, activation="relu", padding="valid", name="conv_b"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(5, activation="softmax", name="logits"),
    ])
    model.save(path, save_format="tf")


def write_tf1(path):
    rng = np.random.default_rng(11)
    g = tf.Graph()
    with g.as_default():
        v1 = tf.compat.v1
        x = v1.placeholder(tf.float32, [None, 28, 28, 3], name="images")
        w1 = v1.get_variable("conv1/weights", initializer=rng.normal(0, 0.1, (3, 3, 3, 8)).astype(np.float32))
        b1 = v1.get_variable("conv1/biases", initializer=rng.normal(0, 0.1, (8,)).astype(np.float32))
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w1, [1, 2, 2, 1], "SAME"), b1), name="conv1/relu")
        w2 = v1.get_variable("conv2/weights", initializer=rng.normal(0, 0.1, (3, 3, 8, 16)).astype(np.float32))
        h = tf.nn.relu(tf.nn.conv2d(h, w2, [1, 1, 1, 1], "SAME"), name="conv2/relu")
        y = tf.reduce_mean(h, axis=[1, 2], name="pool")
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            b = v1.saved_model.Builder(path)
            sig = v1.saved_model.predict_signature_def({"images": x}, {"pool": y})
            b.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig})
            b.save()


if __name__ == "__main__":
    write_keras(sys.argv[1])
    write_tf1(sys.argv[2])
    print("export_backbones: wrote", sys.argv[1], sys.argv[2])

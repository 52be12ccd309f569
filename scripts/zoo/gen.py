"""Builds graft's zoo: Keras Applications models written by TensorFlow itself.

Each model is built with seeded random weights (no download) at a small input
size, its batch-norm moving statistics are set to the batch statistics of a
calibration batch of photo-like images preprocessed the architecture's
documented way (so activations stay in a realistic range through every
layer, and the statistics say which preprocessing the model expects, as a
real model's do), and it is written up to four ways:

  keras3      Keras 3 model.export()                       (TF2 functions)
  tfkeras     tf-keras model.save(save_format="tf")        (TF2 functions)
  tf1         tf.compat.v1 graph with variables            (no functions)
  tf1_frozen  the same graph with variables frozen to Const

Beside each SavedModel (<out>/<model>/<format>/model) it writes the input
batch (and as PNG its pixels and other, probe photos) and TensorFlow's outputs (raw little-endian float32) at the signature
output and at named intermediate taps, described by manifest.json, which
internal/testkit/zoo reads. Each model runs in its own subprocess so that one
failure or one model's memory does not touch the others.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

# name: (input size, preprocessing, keyword arguments). The preprocessing is
# the architecture's documented Keras one, as graft's --preprocess names it:
# the model is calibrated on photos preprocessed that way, so its batch-norm
# statistics say what it expects. "raw": the model has its own
# preprocessing layers and takes pixels 0..255.
MODELS = {
    "MobileNetV2": (64, "tf", {}),
    "ResNet50": (64, "caffe", {}),
    "EfficientNetB0": (64, "raw", {}),
    "VGG16": (32, "caffe", {}),
    "MobileNetV3Small": (64, "raw", {}),
    "EfficientNetV2B0": (64, "raw", {}),
    "ResNet50V2": (64, "tf", {}),
    "DenseNet121": (64, "torch", {}),
    "InceptionV3": (75, "tf", {}),
    "Xception": (71, "tf", {}),
    "NASNetMobile": (64, "tf", {}),
    "ConvNeXtTiny": (64, "raw", {}),
}
# Relative cost of building each model (seconds on 2 busy cores), used only
# to start the longest first.
COST = {"DenseNet121": 430, "NASNetMobile": 400, "ResNet50V2": 245, "EfficientNetB0": 225,
        "ResNet50": 215, "Xception": 215, "MobileNetV3Small": 185, "InceptionV3": 182,
        "ConvNeXtTiny": 182, "MobileNetV2": 162, "EfficientNetV2B0": 155, "VGG16": 55}
FORMATS = ["keras3", "tfkeras", "tf1", "tf1_frozen"]
BATCH = 2
SEED = 1234
# Calibration photos (the batch-norm statistics) and probe photos (what
# graft's --preprocess auto reads the statistics with): different seeds,
# and both apart from the test batch's.
CALIB, PROBES = 24, 12


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="build/zoo")
    p.add_argument("--models", default="", help="comma-separated subset (default: all)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="models built at once (default: 2, or 1 on one core)")
    p.add_argument("--size", type=int, default=0, help="input size for every model (default: each model's small size); 224 for benchmarks")
    p.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset of " + ", ".join(FORMATS) + " (tf1 and tf1_frozen need tfkeras)")
    p.add_argument("--one", help=argparse.SUPPRESS)
    a = p.parse_args()
    formats = [f for f in a.formats.split(",") if f]
    for f in formats:
        if f not in FORMATS:
            sys.exit(f"zoo: unknown format {f!r}; known: {', '.join(FORMATS)}")
    if ("tf1" in formats or "tf1_frozen" in formats) and "tfkeras" not in formats:
        sys.exit("zoo: tf1 and tf1_frozen copy the tfkeras model's weights: add tfkeras to --formats")
    if a.one:
        build_one(a.one, a.out, a.size, formats)
        return
    names = [m for m in a.models.split(",") if m] or list(MODELS)
    for m in names:
        if m not in MODELS:
            sys.exit(f"zoo: unknown model {m!r}; known: {', '.join(MODELS)}")
    os.makedirs(a.out, exist_ok=True)
    timing, failed = {}, []
    t0 = time.time()

    def run(m):
        # Each model's output goes to its own log, printed whole when it
        # ends, so that parallel models do not interleave their lines.
        log = os.path.join(a.out, f"{m}.log")
        t = time.time()
        with open(log, "w") as f:
            rc = subprocess.call([sys.executable, __file__, "--out", a.out, "--one", m,
                                  "--size", str(a.size), "--formats", ",".join(formats)],
                                 stdout=f, stderr=subprocess.STDOUT)
        return m, rc, round(time.time() - t, 1), log

    # Longest first, so that the last model to start is a short one. Graph
    # building and saving are mostly single-threaded Python, so two models
    # at once use two cores about twice as well as one.
    order = sorted(names, key=lambda m: -COST.get(m, 0))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for m, rc, secs, log in pool.map(run, order):
            timing[m] = secs
            if rc != 0:
                failed.append(m)
                with open(log) as f:
                    sys.stdout.write(f.read())
            print(f"zoo: {m}: {secs} s" + ("" if rc == 0 else f" FAILED (exit {rc}; log above, also in {log})"), flush=True)
    timing["total"] = round(time.time() - t0, 1)
    with open(os.path.join(a.out, "timing.json"), "w") as f:
        json.dump({"seconds": timing, "cpus": os.cpu_count(), "jobs": a.jobs}, f, indent=1)
    print(f"zoo: {len(names)} models in {timing['total']} s with {a.jobs} at once", flush=True)
    if failed:
        sys.exit(f"zoo: failed: {', '.join(failed)}")


def build_one(name, out, size_override=0, formats=FORMATS):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    size, _, kw = MODELS[name]
    size = size_override or size
    pixels, x, calib, probes, mode = zoo_inputs(name, size)
    shape = (size, size, 3)

    if "keras3" in formats:
        build_keras3(name, out, shape, kw, calib, x, tf, pixels, probes, mode)
    if "tfkeras" in formats:
        build_tfkeras(name, out, shape, kw, calib, x, tf, pixels, probes, mode, formats)


def zoo_inputs(name, size):
    """The zoo's input batch (as pixels and preprocessed), its calibration
    batch (preprocessed), its probe photos and the preprocessing mode. All
    are photo-like 8-bit RGB images (photos()), each set from its own seed;
    the input batch and the probes are also written as PNG, so that `graft
    predict` and `graft train --preprocess auto` read the very same pixels."""
    import numpy as np

    mode = MODELS[name][1]
    pixels = photos(np.random.default_rng(SEED), BATCH, size)
    calib = photos(np.random.default_rng(SEED + 2), CALIB, size)
    probes = photos(np.random.default_rng(SEED + 3), PROBES, size)
    return pixels, preprocess(pixels, mode), preprocess(calib, mode), probes, mode


# ImageNet's per-channel pixel mean and standard deviation (RGB, 0..255),
# the statistics the photos aim for.
PHOTO_MEAN = (124.0, 116.0, 104.0)
PHOTO_STD = (58.0, 57.0, 57.0)


def photos(rng, n, size):
    """n seeded procedural images that look like photos more than noise: a
    smooth gradient, soft blobs, a few hard-edged shapes and a fine texture,
    rescaled per channel near natural images' statistics (PHOTO_MEAN,
    PHOTO_STD, with per-image jitter). uint8 [n, size, size, 3]."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = np.zeros((size, size, 3))
        a = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(a) * xx + np.sin(a) * yy
        img += ramp[..., None] * rng.normal(0, 1, 3)
        for _ in range(rng.integers(3, 7)):
            cy, cx = rng.uniform(0, 1, 2)
            r = rng.uniform(0.08, 0.4)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
            img += blob[..., None] * rng.normal(0, 1, 3)
        for _ in range(rng.integers(1, 4)):
            y0, x0 = rng.uniform(0, 0.8, 2)
            h, w = rng.uniform(0.1, 0.5, 2)
            box = (yy >= y0) & (yy < y0 + h) & (xx >= x0) & (xx < x0 + w)
            img[box] += rng.normal(0, 0.8, 3)
        f = rng.uniform(8, 24)
        tex = np.sin(f * (xx + 0.3 * yy) * 2 * np.pi + rng.uniform(0, 6)) + rng.normal(0, 0.5, (size, size))
        img += 0.15 * tex[..., None]
        m, s = img.mean(axis=(0, 1)), img.std(axis=(0, 1)) + 1e-6
        mean = np.array(PHOTO_MEAN) + rng.normal(0, 12, 3)
        std = np.array(PHOTO_STD) * rng.uniform(0.75, 1.2)
        out[i] = np.clip((img - m) / s * std + mean, 0, 255).round().astype(np.uint8)
    return out


def preprocess(pixels, mode):
    """graft's --preprocess mode (internal/data/images) in float32, in the same
    order of operations, so that the stored input is what graft feeds."""
    import numpy as np

    x = pixels.astype(np.float32)
    f = np.float32
    if mode == "raw":
        return x
    if mode == "unit":
        return x / f(255)
    if mode == "tf":
        return x / f(127.5) - f(1)
    if mode == "torch":
        mean = np.array([0.485, 0.456, 0.406], np.float32)
        std = np.array([0.229, 0.224, 0.225], np.float32)
        return (x / f(255) - mean) / std
    if mode == "caffe":
        mean = np.array([123.68, 116.779, 103.939], np.float32)
        return np.ascontiguousarray((x - mean)[..., ::-1])
    raise ValueError(f"zoo: unknown preprocessing {mode!r}")


def keras3_model(name, shape, kw, calib):
    """The Keras 3 model of the zoo: seeded weights, realistic statistics."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(SEED)
    m3 = getattr(keras.applications, name)(weights=None, input_shape=shape, **kw)
    realistic(m3, calib, np.random.default_rng(SEED + 1))
    return m3


def build_keras3(name, out, shape, kw, calib, x, tf, pixels, probes, mode):
    import keras
    import numpy as np

    m3 = keras3_model(name, shape, kw, calib)
    d = fmt_dir(out, name, "keras3")
    m3.export(os.path.join(d, "model"), format="tf_saved_model", verbose=False)
    taps = pick_taps(m3)
    sub = keras.Model(m3.inputs, [m3.get_layer(t).output for t in taps])
    vals = [np.asarray(v) for v in sub(x, training=False)]
    sig_out = np.asarray(m3(x, training=False))
    opt = rel_err(reload_output(tf, os.path.join(d, "model"), x), sig_out)
    write(d, name, "keras3", x, sig_out, list(zip(taps, vals)), tf, pixels, probes, mode, opt)
    del m3, sub


def build_tfkeras(name, out, shape, kw, calib, x, tf, pixels, probes, mode, formats):
    # tf-keras (Keras 2): the legacy SavedModel writer, eager.
    import numpy as np
    import tf_keras

    tf_keras.utils.set_random_seed(SEED)
    m2 = getattr(tf_keras.applications, name)(weights=None, input_shape=shape, **kw)
    realistic(m2, calib, np.random.default_rng(SEED + 1))
    d = fmt_dir(out, name, "tfkeras")
    m2.save(os.path.join(d, "model"), save_format="tf")
    taps = pick_taps(m2)
    sub = tf_keras.Model(m2.inputs, [m2.get_layer(t).output for t in taps])
    vals = [np.asarray(v) for v in sub(x, training=False)]
    sig_out = np.asarray(m2(x, training=False))
    opt = rel_err(reload_output(tf, os.path.join(d, "model"), x), sig_out)
    write(d, name, "tfkeras", x, sig_out, list(zip(taps, vals)), tf, pixels, probes, mode, opt)
    weights = m2.get_weights()
    del m2, sub
    if "tf1" not in formats and "tf1_frozen" not in formats:
        return

    # TF1: the same tf-keras model built in a tf.compat.v1 graph, saved by
    # SavedModelBuilder (variables, save/restore ops, no functions), then
    # frozen. Taps are exact tensor names, as one names them in such graphs.
    g = tf.Graph()
    sess = tf.compat.v1.Session(graph=g, config=as_written(tf))
    with g.as_default(), sess.as_default():
        m1 = getattr(tf_keras.applications, name)(weights=None, input_shape=shape, **kw)
        m1.set_weights(weights)
        taps = pick_taps(m1)
        multi = tf_keras.Model(m1.inputs, [m1.output] + [m1.get_layer(t).output for t in taps])
        ph = tf.compat.v1.placeholder(tf.float32, (None,) + shape, name="images")
        outs = multi(ph, training=False)
        y = tf.identity(outs[0], name="probabilities")
        tap_names = [t.name for t in outs[1:]]
        vals = sess.run([y] + list(outs[1:]), {ph: x})
        d = fmt_dir(out, name, "tf1")
        sig = tf.compat.v1.saved_model.predict_signature_def({"images": ph}, {"probabilities": y})
        b = tf.compat.v1.saved_model.Builder(os.path.join(d, "model"))
        b.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig})
        b.save()
        opt = rel_err(tf1_optimized(tf, os.path.join(d, "model"), x), vals[0])
        write(d, name, "tf1", x, vals[0], list(zip(tap_names, vals[1:])), tf, pixels, probes, mode, opt)
        frozen = tf.compat.v1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), ["probabilities"])
        sess.close()
    g2 = tf.Graph()
    with g2.as_default():
        tf.compat.v1.import_graph_def(frozen, name="")
        sess = tf.compat.v1.Session(graph=g2, config=as_written(tf))
        ph, y = g2.get_tensor_by_name("images:0"), g2.get_tensor_by_name("probabilities:0")
        keep = [n for n in tap_names if g2.get_operation_by_name(n.split(":")[0]) is not None]
        vals = sess.run([y] + [g2.get_tensor_by_name(n) for n in keep], {ph: x})
        d = fmt_dir(out, name, "tf1_frozen")
        sig = tf.compat.v1.saved_model.predict_signature_def({"images": ph}, {"probabilities": y})
        b = tf.compat.v1.saved_model.Builder(os.path.join(d, "model"))
        b.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig})
        b.save()
        opt = rel_err(tf1_optimized(tf, os.path.join(d, "model"), x), vals[0])
        write(d, name, "tf1_frozen", x, vals[0], list(zip(keep, vals[1:])), tf, pixels, probes, mode, opt)
        sess.close()


def all_layers(model):
    out = []
    for l in model.layers:
        out.append(l)
        if hasattr(l, "layers"):
            out.extend(all_layers(l))
    return out


def realistic(model, calib, rng):
    """Non-trivial weights and statistics: random gamma/beta and biases,
    LayerScale gammas large enough that residual branches matter, and
    batch-norm moving statistics equal to a calibration batch's statistics
    (training-mode call with momentum 0), so no layer's activations blow up
    or vanish."""
    bns = []
    for l in all_layers(model):
        cls = type(l).__name__
        for v in l.weights:
            short = v.name.split("/")[-1].split(":")[0]
            shp = tuple(v.shape)
            if cls == "BatchNormalization" and short == "gamma":
                v.assign(rng.uniform(0.5, 1.5, shp).astype("float32"))
            elif cls == "BatchNormalization" and short == "beta":
                v.assign(rng.normal(0, 0.2, shp).astype("float32"))
            elif cls == "LayerNormalization" and short == "gamma":
                v.assign(rng.uniform(0.5, 1.5, shp).astype("float32"))
            elif cls == "LayerNormalization" and short == "beta":
                v.assign(rng.normal(0, 0.2, shp).astype("float32"))
            elif "LayerScale" in cls:
                v.assign(rng.uniform(0.1, 0.5, shp).astype("float32"))
            elif short == "bias":
                v.assign(rng.normal(0, 0.05, shp).astype("float32"))
        if cls == "BatchNormalization":
            bns.append((l, l.momentum))
            l.momentum = 0.0
    model(calib, training=True)
    for l, mom in bns:
        l.momentum = mom


def pick_taps(model):
    """Two or three intermediate layers with NHWC outputs, spread over the
    network (a third, two thirds, and the last one)."""
    cands = []
    for l in model.layers:
        # Skipped: the input and preprocessing, and layers that are no op
        # at inference (Keras 3 writes no node for them, so there is
        # nothing to tap).
        if type(l).__name__ in ("InputLayer", "Rescaling", "Normalization", "Identity", "Dropout"):
            continue
        if type(l).__name__ == "Activation" and getattr(l.activation, "__name__", "") == "linear":
            continue
        try:
            shp = l.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shp) == 4:
            cands.append(l.name)
    picks = [cands[len(cands) // 3], cands[2 * len(cands) // 3], cands[-1]]
    return list(dict.fromkeys(picks))


def reload_output(tf, path, x):
    f = tf.saved_model.load(path).signatures["serving_default"]
    (key,) = f.structured_input_signature[1].keys()
    out = f(**{key: tf.constant(x)})
    assert len(out) == 1, out.keys()
    return next(iter(out.values())).numpy()


def as_written(tf):
    """A session config that runs the graph as written: Grappler off. Its
    remapper fuses ops in ways that cost precision (on frozen ConvNeXtTiny
    the signature output moves by 2.5e-3 relative), so the oracle is the
    unoptimised graph; the optimised deviation goes into the manifest."""
    cfg = tf.compat.v1.ConfigProto()
    cfg.graph_options.rewrite_options.disable_meta_optimizer = True
    return cfg


def tf1_optimized(tf, path, x):
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as s:
        tf.compat.v1.saved_model.load(s, ["serve"], path)
        return s.run("probabilities:0", {"images:0": x})


def rel_err(a, ref):
    """max |a - ref| / max |ref|: TensorFlow's optimised run (Grappler, as
    a default session or a reloaded tf.function runs it) against the
    stored reference, the yardstick for graft's own errors."""
    import numpy as np

    return float(np.max(np.abs(a - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


def fmt_dir(out, name, fmt):
    d = os.path.join(out, name, fmt)
    if os.path.exists(d):
        import shutil

        shutil.rmtree(d)
    os.makedirs(d)
    return d


def write(d, name, fmt, x, sig_out, taps, tf, pixels, probes, mode, opt):
    import numpy as np
    from PIL import Image

    images = []
    for i, p in enumerate(pixels):
        f = f"image{i}.png"
        Image.fromarray(p, "RGB").save(os.path.join(d, f))
        images.append(f)
    probe_files = []
    for i, p in enumerate(probes):
        f = f"probe{i}.png"
        Image.fromarray(p, "RGB").save(os.path.join(d, f))
        probe_files.append(f)

    def save(fname, arr):
        arr = np.ascontiguousarray(arr, dtype="<f4")
        arr.tofile(os.path.join(d, fname))
        return {"file": fname, "shape": list(arr.shape)}

    m = {
        "model": name,
        "format": fmt,
        "saved_model": "model",
        "tensorflow": tf.__version__,
        "input": save("input.f32", x),
        "images": images,
        "preprocess": mode,
        "probe_images": probe_files,
        "tf_optimized_rel_err": opt,
        "outputs": [dict(tap="", **save("output.f32", sig_out))],
    }
    for i, (tap, v) in enumerate(taps):
        m["outputs"].append(dict(tap=tap, **save(f"tap{i}.f32", v)))
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(m, f, indent=1)


if __name__ == "__main__":
    main()

"""`make bench-peers`: graft against TensorFlow and Keras on this machine, in
one run, every ratio computed from numbers of this run.

  1. backbone throughput: `graft bench backbone --engine native,tensorflow`
     and TensorFlow's Python runtime (tf_backbone.py) on MobileNetV2,
     ResNet50 and EfficientNetB0 at 224x224 (models.py), batch 1 and 32;
  2. end to end: `graft train` + `graft eval` against the seed's Keras recipe
     (keras_train.py --recipe seed) and a careful Keras user's version
     (--recipe careful) on the demo's digits and backbone, same samples;
     wall time, test accuracy and peak RSS of each process;
  3. the head's training step: `graft bench head` against tf_head.py;
  4. a search over heads: `graft sweep` against Keras Tuner's RandomSearch
     on the same features, space and trial count (sweep_peer.py), once.

Each comparison runs --rounds times, its contestants alternated within a
round, so that a burst of load from other jobs on a shared machine lands on
one round rather than on one contestant; the table gives the median of each
number and of each round's ratio, with the ratios' range.

Writes <out>/table.md and <out>/table.json, and with --update the table
into docs/performance.md between its bench-peers markers (the README
links it and keeps a two-line summary)."""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- bench-peers:begin -->", "<!-- bench-peers:end -->"
ZOO = ["MobileNetV2", "ResNet50", "EfficientNetB0"]


def run(cmd, log, env=None):
    """Runs cmd, its stderr appended to log; returns (stdout, seconds, peak
    RSS in MiB). Peak RSS is the largest ru_maxrss of the process and the
    children it waited for (os.wait4), as /usr/bin/time reports it."""
    with open(log, "a") as lf:
        lf.write("$ " + " ".join(cmd) + "\n")
        lf.flush()
        t = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=lf, env=env, text=True)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        secs = time.monotonic() - t
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"bench-peers: {' '.join(cmd)} exited {p.returncode}; its stderr is in {log}")
    return out, secs, ru.ru_maxrss / 1024


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def machine():
    model, flags = "?", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k.strip() == "model name":
                model = v.strip()
            elif k.strip() == "flags":
                flags = set(v.split())
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 2**20
    simd = [x for x in ("avx2", "fma", "avx512f") if x in flags]
    return {"cpu": model, "cores": os.cpu_count(), "simd": simd, "memory_gib": round(mem, 1), "os": platform.platform()}


def loadavg():
    """The 1-minute load average: other work on the machine shows here."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graft", default="bin/graft", help="graft built with -tags tensorflow (make build-tf)")
    p.add_argument("--out", default="build/peers")
    p.add_argument("--digits", default="build/peers/digits", help="the demo's digits: train/ and test/ folders")
    p.add_argument("--fixture", default="testdata/models/fashion_cnn")
    p.add_argument("--tap", default="conv2d_2")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--min-time", type=float, default=2.0, help="seconds each throughput measurement runs at least")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3, help="rounds of each comparison, contestants alternated")
    p.add_argument("--zoo-train", type=int, default=100, help="training digits a class for the zoo backbone's task (half as many test digits)")
    p.add_argument("--update", action="store_true", help="write the table into docs/performance.md")
    a = p.parse_args()
    py = sys.executable
    os.makedirs(a.out, exist_ok=True)
    log = os.path.join(a.out, "log.txt")
    open(log, "w").close()
    t_all = time.monotonic()
    T = str(a.threads)
    mt = str(a.min_time)
    res = {"machine": machine(), "load_start": loadavg(), "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    ver, _, _ = run([a.graft, "version"], log)
    res["graft_version"] = ver.strip().splitlines()
    if not any(l.startswith("tensorflow:") and "not" not in l for l in res["graft_version"]):
        sys.exit(f"bench-peers: {a.graft} has no TensorFlow engine: build it with make build-tf")
    import importlib.metadata as md

    res["python_packages"] = {n: md.version(n) for n in ("tensorflow-cpu", "keras")}
    res["settings"] = {"threads": a.threads, "min_time_s": a.min_time, "epochs": a.epochs, "batch_size": a.batch_size, "rounds": a.rounds}
    R = range(a.rounds)

    print("bench-peers: models", flush=True)
    models = os.path.join(a.out, "models")
    run([py, os.path.join(HERE, "models.py"), "--out", models, "--fixture", a.fixture, "--threads", T], log)

    print("bench-peers: backbones", flush=True)
    res["backbone"] = []
    for m in ZOO:
        d = os.path.join(models, m, "keras3", "model")  # models.py's zoo_dir
        for b in (1, 32):
            nat, tfe, tpy, prof = [], [], [], {}
            for r in R:
                out, _, _ = run([a.graft, "bench", "backbone", d, "--engine", "native,tensorflow", "--threads", T, "--batch", str(b), "--min-time", mt + "s", "--json", "--log-format", "json",
                              # The per-op profile runs the batches again: at batch 1, first round only.
                              "--profile=" + str(b == 1 and r == 0).lower()], log)
                g = {e["engine"]: e for e in json.loads(out)}
                out, _, _ = run([py, os.path.join(HERE, "tf_backbone.py"), d, "--batch", str(b), "--threads", T, "--min-time", mt], log)
                nat.append(g["native"]["images_per_s"])
                tfe.append(g["tensorflow"]["images_per_s"])
                tpy.append(last_json(out)["images_per_s"])
                prof = prof or g["native"].get("native_profile") or {}
            re_, rp = [x / y for x, y in zip(nat, tfe)], [x / y for x, y in zip(nat, tpy)]
            row = {"model": m, "batch": b, "native": median(nat), "tensorflow_engine": median(tfe), "tensorflow_python": median(tpy),
                   "native_vs_tf_engine": median(re_), "native_vs_tf_engine_range": [min(re_), max(re_)],
                   "native_vs_tf_python": median(rp), "native_vs_tf_python_range": [min(rp), max(rp)],
                   "rounds": {"native": nat, "tensorflow_engine": tfe, "tensorflow_python": tpy},
                   "native_gflop_per_s": prof.get("gflop_per_s"), "native_conv_time_share": prof.get("conv_time_share"),
                   "native_conv_vs_sgemm": prof.get("ratio")}
            res["backbone"].append(row)
            print(f"  {m} batch {b}: native {row['native']:.1f}, tf engine {row['tensorflow_engine']:.1f}, tf python {row['tensorflow_python']:.1f} images/s (medians)", flush=True)

    # Whether this CPU and build run --precision bf16 (AMX or AVX512_BF16):
    # the bf16 rows of the MobileNetV2 task and of the head step need it.
    bf16 = subprocess.run([a.graft, "bench", "head", "--precision", "bf16", "--batch", "1", "--channels", "8", "--filters", "4", "--min-time", "1ms"],
                          capture_output=True, text=True)
    if bf16.returncode != 0:
        print("  no bf16 rows: " + (bf16.stderr.strip().splitlines() or ["graft refused --precision bf16"])[-1], flush=True)

    print("bench-peers: train (digits)", flush=True)
    digits = Task("digits", a.fixture, a.tap, "unit", os.path.join(a.digits, "train"), os.path.join(a.digits, "test"),
                  os.path.join(models, "fashion_cnn_cut"), 0, ["native"])
    res["train"] = [train_task(a, py, log, digits)]
    print(f"bench-peers: train (MobileNetV2 on {a.zoo_train} digits a class, resized)", flush=True)
    small = subset(a.digits, os.path.join(a.out, "digits-small"), a.zoo_train, a.zoo_train // 2)
    d = os.path.join(models, "MobileNetV2", "keras3", "model")
    zoo = Task("digits resized to 224x224 RGB", d, "out_relu", "tf", os.path.join(small, "train"), os.path.join(small, "test"),
               os.path.join(models, "MobileNetV2_cut"), 224, ["native", "tensorflow"] + (["native-bf16"] if bf16.returncode == 0 else []))
    res["train"].append(train_task(a, py, log, zoo))

    print("bench-peers: head step", flush=True)
    res["head"], res["head_bf16"] = [], []
    for b in (32, 256):
        gms, tms, gfl, sgf, bms, tbms = [], [], [], [], [], []
        for r in R:
            out, _, _ = run([a.graft, "bench", "head", "--batch", str(b), "--threads", T, "--min-time", mt + "s", "--json", "--log-format", "json"], log)
            gh = json.loads(out)
            out, _, _ = run([py, os.path.join(HERE, "tf_head.py"), "--batch", str(b), "--threads", T, "--min-time", mt], log)
            gms.append(gh["ms_per_step"])
            tms.append(last_json(out)["ms_per_step"])
            gfl.append(gh["step_gflop_per_s"])
            sgf.append(gh["sgemm_gflop_per_s"])
            line = f"  batch {b}, round {r + 1}: graft {gms[-1]:.0f} ms, tensorflow {tms[-1]:.0f} ms"
            if bf16.returncode == 0:  # graft --precision bf16 against Keras's mixed_bfloat16, same round
                out, _, _ = run([a.graft, "bench", "head", "--precision", "bf16", "--batch", str(b), "--threads", T, "--min-time", mt + "s", "--json", "--log-format", "json"], log)
                bms.append(json.loads(out)["ms_per_step"])
                out, _, _ = run([py, os.path.join(HERE, "tf_head.py"), "--policy", "mixed_bfloat16", "--batch", str(b), "--threads", T, "--min-time", mt], log)
                tbms.append(last_json(out)["ms_per_step"])
                line += f"; bf16: graft {bms[-1]:.0f} ms, tensorflow mixed_bfloat16 {tbms[-1]:.0f} ms"
            print(line, flush=True)
        sp = [t / g for t, g in zip(tms, gms)]
        res["head"].append({"batch": b, "graft_ms": median(gms), "tensorflow_ms": median(tms),
                            "graft_speedup": median(sp), "graft_speedup_range": [min(sp), max(sp)],
                            "graft_gflop_per_s": median(gfl), "sgemm_gflop_per_s": median(sgf), "gemm": gh["gemm_backend"],
                            "rounds": {"graft_ms": gms, "tensorflow_ms": tms}})
        if bms:
            sp = [t / g for t, g in zip(tbms, bms)]
            res["head_bf16"].append({"batch": b, "graft_ms": median(bms), "tensorflow_ms": median(tbms), "graft_fp32_ms": median(gms),
                                     "graft_speedup": median(sp), "graft_speedup_range": [min(sp), max(sp)],
                                     "rounds": {"graft_ms": bms, "tensorflow_ms": tbms, "graft_fp32_ms": gms}})

    print("bench-peers: sweep (graft sweep vs Keras Tuner)", flush=True)
    small = subset(a.digits, os.path.join(a.out, "digits-sweep"), 200, 0)
    out, _, _ = run([py, os.path.join(HERE, "sweep_peer.py"), "--graft", a.graft, "--backbone", a.fixture, "--tap", a.tap,
                     "--data", os.path.join(small, "train"), "--out", os.path.join(a.out, "sweep"), "--threads", T], log)
    res["sweep"] = last_json(out)

    res["total_s"] = time.monotonic() - t_all
    res["load_end"] = loadavg()
    with open(os.path.join(a.out, "table.json"), "w") as f:
        json.dump(res, f, indent=1)
    md_text = table(res)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(md_text)
    print(md_text)
    if a.update:
        for doc in (os.path.join("docs", "performance.md"),):
            replace_between(doc, md_text)
            print(f"bench-peers: updated {doc}")


class Task:
    """An end-to-end comparison: graft's backbone, tap and pixel scaling,
    the data, the SavedModel the Keras recipes load (whose signature
    returns the features), the size the recipes resize to (0: none), and
    graft's engines to run."""

    def __init__(self, name, backbone, tap, preprocess, train, test, keras_backbone, size, engines):
        self.name, self.backbone, self.tap, self.preprocess = name, backbone, tap, preprocess
        self.train, self.test, self.keras_backbone, self.size, self.engines = train, test, keras_backbone, size, engines


def train_task(a, py, log, t):
    """graft train + eval against the two Keras recipes on the same
    training samples, in rounds; medians and each speed-up's range."""
    runs = os.path.join(a.out, "runs")
    rounds = []
    for r in range(a.rounds):
        shutil.rmtree(runs, ignore_errors=True)
        os.makedirs(runs)
        rd = {}
        for contestant in t.engines:
            # "native-bf16": the native engine with the head's GEMMs in bf16.
            eng, _, prec = contestant.partition("-")
            grun = os.path.join(runs, "graft-" + contestant)
            cmd = [a.graft, "train", "--backbone", t.backbone, "--preprocess", t.preprocess, "--engine", eng,
                   "--data", t.train, "--val-split", "0.1", "--epochs", str(a.epochs), "--batch-size", str(a.batch_size),
                   "--seed", "1", "--cache-dir", "none", "--out", grun, "--log-format", "json"]
            if t.tap:
                cmd += ["--tap", t.tap]
            if prec:
                cmd += ["--precision", prec]
            _, g_s, g_rss = run(cmd, log)
            out, _, _ = run([a.graft, "eval", "--run", grun, "--data", t.test, "--format", "json", "--log-format", "json"], log)
            ev = json.loads(out)
            who = {"native": "graft", "native-bf16": "graft_bf16"}.get(contestant, "graft_" + contestant)
            rd[who] = {"wall_s": g_s, "test_accuracy": ev["accuracy"], "peak_rss_mib": g_rss}
            print(f"  round {r + 1}: graft ({contestant}): {g_s:.1f} s, accuracy {ev['accuracy']:.4f}", flush=True)
        grun = os.path.join(runs, "graft-" + t.engines[0])
        with open(os.path.join(grun, "split.json")) as f:
            n_train = len(json.load(f)["train"])
        for recipe in recipes(t):
            # careful_bf16: the careful user's head under Keras's mixed_bfloat16 policy.
            base, _, prec = recipe.partition("_")
            out, s_, rss = run([py, os.path.join(HERE, "keras_train.py"), "--recipe", base, "--backbone", t.keras_backbone, "--run", grun,
                                "--test", t.test, "--epochs", str(a.epochs), "--batch-size", str(a.batch_size), "--threads", str(a.threads),
                                "--size", str(t.size), "--preprocess", t.preprocess] + (["--policy", "mixed_bfloat16"] if prec else []), log)
            k = last_json(out)
            rd[recipe] = {"wall_s": k["train_s"], "process_s": s_, "test_accuracy": k["test_accuracy"], "peak_rss_mib": rss}
            print(f"  round {r + 1}: keras {recipe}: {k['train_s']:.1f} s, accuracy {k['test_accuracy']:.4f}", flush=True)
        rounds.append(rd)
    res = {"task": t.name, "backbone": t.backbone + (" @ " + t.tap if t.tap else ""), "train_samples": n_train,
           "test_samples": ev["samples"], "preprocess": t.preprocess, "rounds": rounds}
    for who in rounds[0]:
        res[who] = {key: median([rd[who][key] for rd in rounds]) for key in rounds[0][who]}
    for who in [w for w in rounds[0] if w.startswith("graft")]:
        for recipe in recipes(t):
            sp = [rd[recipe]["wall_s"] / rd[who]["wall_s"] for rd in rounds]
            res[who + "_speedup_vs_" + recipe] = median(sp)
            res[who + "_speedup_vs_" + recipe + "_range"] = [min(sp), max(sp)]
    return res


def recipes(t):
    """The Keras recipes a task runs: the seed's and the careful user's, and
    the careful user's in mixed_bfloat16 when graft runs a bf16 head."""
    return ("seed", "careful") + (("careful_bf16",) if "native-bf16" in t.engines else ())


def subset(src, dst, train_per_class, test_per_class):
    """The first files of each class of src's train and test folders,
    copied into dst (made once)."""
    if os.path.isdir(os.path.join(dst, "test")):
        return dst
    tmp = dst + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        for c in sorted(os.listdir(os.path.join(src, split))):
            os.makedirs(os.path.join(tmp, split, c))
            for f in sorted(os.listdir(os.path.join(src, split, c)))[:n]:
                shutil.copyfile(os.path.join(src, split, c, f), os.path.join(tmp, split, c, f))
    os.replace(tmp, dst)
    return dst


def median(xs):
    ys = sorted(xs)
    n = len(ys)
    return ys[n // 2] if n % 2 else (ys[n // 2 - 1] + ys[n // 2]) / 2


def ratio(x, key):
    """A median ratio and, over several rounds, its range."""
    lo, hi = x[key + "_range"]
    return f"{x[key]:.2f}" if lo == hi else f"{x[key]:.2f} ({lo:.2f}–{hi:.2f})"


def table(r):
    m, s = r["machine"], r["settings"]
    tfv = r["python_packages"]["tensorflow-cpu"]
    gv = next((l for l in r["graft_version"] if l.startswith("graft")), r["graft_version"][0])
    gemm = next((l.split(":", 1)[1].split()[0] for l in r["graft_version"] if l.startswith("gemm")), "?")
    L = [f"Measured by `make bench-peers` on {r['started']}: {m['cpu']}, {m['cores']} cores "
         f"({', '.join(m['simd'])}), {m['memory_gib']} GiB; {gv}, GEMM {gemm}; TensorFlow {tfv}, "
         f"Keras {r['python_packages']['keras']}. Every engine on {s['threads']} threads (graft: GOMAXPROCS; "
         f"TensorFlow: intra- and inter-op threads), each throughput measured for at least {s['min_time_s']:g} s "
         f"after a warm-up, in {s['rounds']} rounds with the contestants alternated; each number is the median of its rounds, "
         f"each ratio the median of the rounds' ratios (their range in brackets). The whole run took {r['total_s'] / 60:.1f} min; the 1-minute load "
         f"average was {r['load_start']:.1f} at its start and {r['load_end']:.1f} at its end (above {m['cores']}: other jobs shared the cores).",
         "",
         "**Backbone throughput** (images/s; Keras 3 exports at 224x224, seeded random weights with realistic batch-norm statistics; "
         "graft's engines run the flattened signature, TensorFlow's Python runtime the loaded signature):",
         "",
         "| model | batch | graft native | graft `--engine tensorflow` | TensorFlow (Python) | native / TF engine | native / TF Python | native GFLOP/s, conv share of its time (batch 1 profile) |",
         "|---|---|---|---|---|---|---|---|"]
    for b in r["backbone"]:
        share = b["native_conv_time_share"]
        prof = f"{b['native_gflop_per_s']:.1f}, {100 * share:.0f}%" if share is not None else "-"
        L.append(f"| {b['model']} | {b['batch']} | {b['native']:.1f} | {b['tensorflow_engine']:.1f} | {b['tensorflow_python']:.1f} | "
                 f"{ratio(b, 'native_vs_tf_engine')} | {ratio(b, 'native_vs_tf_python')} | {prof} |")
    for t in r["train"]:
        L += ["",
              f"**graft train vs the seed's Keras recipe** ({t['task']}: {t['train_samples']} training digits, {t['test_samples']} test digits, "
              f"backbone {t['backbone']}, pixels scaled as `--preprocess {t['preprocess']}`; conv:256 head, Adam 1e-3, batch {s['batch_size']}, "
              f"{s['epochs']} epochs; graft: `train` with `--cache-dir none`, 10% held out for validation and the best epoch kept, Keras on the "
              f"same training samples, last epoch; wall time to a trained head, TensorFlow's import included; peak RSS of the process):",
              "",
              "| | wall s | test accuracy | peak RSS MiB | graft speed-up |",
              "|---|---|---|---|---|"]
        grafts = [w for w in ("graft", "graft_tensorflow", "graft_bf16") if w in t]
        names = {"graft": " (native engine)", "graft_tensorflow": " `--engine tensorflow`", "graft_bf16": " `--precision bf16` (native engine)"}
        labels = {"graft": "native ", "graft_tensorflow": "tensorflow engine ", "graft_bf16": "bf16 "}
        for w in grafts:
            g = t[w]
            name = "graft train" + (names[w] if len(grafts) > 1 else "")
            L.append(f"| {name} | {g['wall_s']:.1f} | {g['test_accuracy']:.4f} | {g['peak_rss_mib']:.0f} | - |")
        for k, name in (("seed", "(a) seed's recipe: backbone in the loop every epoch, eager"), ("careful", "(b) careful Keras: features once, then `fit`"),
                        ("careful_bf16", "(c) careful Keras, the head under `mixed_bfloat16`")):
            if k not in t:
                continue
            x = t[k]
            sp = "; ".join((labels[w] if len(grafts) > 1 else "") + ratio(t, w + "_speedup_vs_" + k) for w in grafts)
            L.append(f"| {name} | {x['wall_s']:.1f} | {x['test_accuracy']:.4f} | {x['peak_rss_mib']:.0f} | {sp} |")
    L += ["",
          "**Head training step** (7x7x2048 features -> conv 3x3 256 -> GAP -> dense 10, Adam; TensorFlow: one `tf.function` with a GradientTape; "
          "graft's GFLOP/s count the zero-padded border taps, which it skips, as im2col would compute them):",
          "",
          "| batch | graft ms/step | TensorFlow ms/step | graft speed-up | graft GFLOP/s (same-run SGEMM) |",
          "|---|---|---|---|---|"]
    for h in r["head"]:
        L.append(f"| {h['batch']} | {h['graft_ms']:.0f} | {h['tensorflow_ms']:.0f} | {ratio(h, 'graft_speedup')} | {h['graft_gflop_per_s']:.1f} ({h['sgemm_gflop_per_s']:.1f}) |")
    if r.get("head_bf16"):
        L += ["", "The same step in bfloat16: graft `--precision bf16` against Keras's `mixed_bfloat16` policy, same rounds:", "",
              "| batch | graft bf16 ms/step | TensorFlow mixed_bfloat16 ms/step | graft speed-up | graft fp32 ms/step |", "|---|---|---|---|---|"]
        for h in r["head_bf16"]:
            L.append(f"| {h['batch']} | {h['graft_ms']:.0f} | {h['tensorflow_ms']:.0f} | {ratio(h, 'graft_speedup')} | {h['graft_fp32_ms']:.0f} |")
    if "sweep" in r:
        L += ["", sweep_table(r["sweep"])]
    return "\n".join(L) + "\n"


def sweep_table(w):
    """The sweep comparison's paragraph and table (sweep_peer.py's result)."""
    space = " x ".join(f"{k} {v}" for k, v in w["space"].items())
    g, k = w["graft_best"], w["keras_tuner_best"]
    settings = lambda s: ", ".join(f"{n}={s[n]}" for n in sorted(s))
    return "\n".join([
        f"**Search over heads** ({w['trials']} trials of {space}, up to {w['epochs']} epochs, early stopping after {w['patience']}; "
        "graft: `graft sweep`, features extracted once and included in its time, trials concurrent; Keras Tuner: `RandomSearch` "
        "on the features graft extracted (.npy), its `search` timed alone):",
        "",
        "| | wall s | best val accuracy | best trial |",
        "|---|---|---|---|",
        f"| graft sweep | {w['graft_wall_s']:.1f} | {g['val_accuracy']:.4f} | {settings(g['settings'])} |",
        f"| Keras Tuner RandomSearch | {w['keras_tuner_search_s']:.1f} | {k['val_accuracy']:.4f} | {settings(k['settings'])} |",
        "",
        f"Keras Tuner / graft wall time: {w['keras_over_graft']:.2f}."])


def replace_between(path, text):
    with open(path) as f:
        doc = f.read()
    i, j = doc.find(BEGIN), doc.find(END)
    if i < 0 or j < i:
        sys.exit(f"bench-peers: {path} has no {BEGIN} ... {END} markers")
    doc = doc[: i + len(BEGIN)] + "\n" + text + doc[j:]
    with open(path + ".tmp", "w") as f:
        f.write(doc)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()

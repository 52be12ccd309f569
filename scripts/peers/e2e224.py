"""`make bench-e2e224`: bench-peers' MobileNetV2 end-to-end row alone
(issue 29, item 3): `graft train` (native engine) against the careful
Keras user (keras_train.py --recipe careful) on 100 digits a class
resized to 224x224 RGB, the same command lines as run.py's, several graft
binaries side by side (a baseline and a change), contestants alternated in
each round. Wall time to a trained head (TensorFlow's import included),
peak RSS, graft's own timing fields, test accuracy of graft's head (graft
eval) and Keras'. Prints one JSON document; medians over rounds and each
round's speed-up against Keras, with their range."""

import argparse
import json
import os
import shutil
import sys

import run as peers

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graft", action="append", required=True, help="a graft binary (repeat to compare several; the first is the baseline)")
    p.add_argument("--models", default="build/peers/models", help="models.py's output: MobileNetV2 and MobileNetV2_cut")
    p.add_argument("--data", default="build/peers/digits-small", help="train/ and test/ folders (run.py's subset of the digits)")
    p.add_argument("--out", default="build/peers/e2e224")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    a = p.parse_args()
    py = sys.executable
    os.makedirs(a.out, exist_ok=True)
    log = os.path.join(a.out, "log.txt")
    open(log, "w").close()
    backbone = os.path.join(a.models, "MobileNetV2", "keras3", "model")
    train, test = os.path.join(a.data, "train"), os.path.join(a.data, "test")
    res = {"machine": peers.machine(), "load_start": peers.loadavg(), "grafts": a.graft, "rounds": []}
    env = dict(os.environ, GOMAXPROCS=str(a.threads))
    for r in range(a.rounds):
        rd = {}
        for i, g in enumerate(a.graft):
            grun = os.path.join(a.out, f"run{i}")
            shutil.rmtree(grun, ignore_errors=True)
            cmd = [g, "train", "--backbone", backbone, "--tap", "out_relu", "--preprocess", "tf", "--engine", "native",
                   "--data", train, "--val-split", "0.1", "--epochs", str(a.epochs), "--batch-size", str(a.batch_size),
                   "--seed", "1", "--cache-dir", "none", "--out", grun, "--log-format", "json", "--threads", str(a.threads)]
            out, secs, rss = peers.run(cmd, log, env)
            summary = json.loads(out.strip().splitlines()[-1])["summary"]
            ev, _, _ = peers.run([g, "eval", "--run", grun, "--data", test, "--format", "json", "--log-format", "json"], log, env)
            rd[f"graft{i}"] = {"wall_s": secs, "peak_rss_mib": rss, "test_accuracy": json.loads(ev)["accuracy"], "timing": summary["timing"]}
            print(f"round {r + 1}: {g}: {secs:.1f} s, {rss:.0f} MiB, timing {summary['timing']}", file=sys.stderr, flush=True)
        out, _, rss = peers.run([py, os.path.join(HERE, "keras_train.py"), "--recipe", "careful", "--backbone", os.path.join(a.models, "MobileNetV2_cut"),
                                 "--run", os.path.join(a.out, "run0"), "--test", test, "--epochs", str(a.epochs), "--batch-size", str(a.batch_size),
                                 "--threads", str(a.threads), "--size", "224", "--preprocess", "tf"], log)
        k = peers.last_json(out)
        rd["careful"] = {"wall_s": k["train_s"], "peak_rss_mib": rss, "test_accuracy": k["test_accuracy"]}
        print(f"round {r + 1}: keras careful: {k['train_s']:.1f} s", file=sys.stderr, flush=True)
        res["rounds"].append(rd)
    res["load_end"] = peers.loadavg()
    for who in res["rounds"][0]:
        res[who] = {key: peers.median([rd[who][key] for rd in res["rounds"]]) for key in ("wall_s", "peak_rss_mib", "test_accuracy")}
        if who.startswith("graft"):
            sp = [rd["careful"]["wall_s"] / rd[who]["wall_s"] for rd in res["rounds"]]
            res[who]["speedup_vs_careful"], res[who]["speedup_range"] = peers.median(sp), [min(sp), max(sp)]
            for key in res["rounds"][0][who]["timing"]:
                res[who]["timing_" + key] = peers.median([rd[who]["timing"][key] for rd in res["rounds"]])
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

"""The head step in bf16 against TensorFlow's mixed_bfloat16, alone (make
bench-peers runs it too, as its head table's bf16 rows): graft bench head
--precision fp32 and bf16, tf_head.py --policy float32 and mixed_bfloat16,
alternated in rounds at each batch; prints each round, then the medians
and the ratios' ranges, and the load average before and after."""

import argparse
import json
import os
import sys
import tempfile

from run import HERE, last_json, median, run


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graft", default="bin/graft")
    p.add_argument("--batches", default="32,256")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-time", type=float, default=3.0)
    a = p.parse_args()
    log = os.path.join(tempfile.mkdtemp(), "head_bf16.log")
    T, mt, py = str(a.threads), str(a.min_time), sys.executable
    load = lambda: open("/proc/loadavg").read().split()[:3]
    print(f"load average before: {' '.join(load())}", flush=True)
    for b in (int(x) for x in a.batches.split(",")):
        ms = {k: [] for k in ("graft-fp32", "graft-bf16", "tf-float32", "tf-mixed_bfloat16")}
        for r in range(a.rounds):
            for prec in ("fp32", "bf16"):
                out, _, _ = run([a.graft, "bench", "head", "--precision", prec, "--batch", str(b), "--threads", T, "--min-time", mt + "s", "--json", "--log-format", "json"], log)
                ms["graft-" + prec].append(json.loads(out)["ms_per_step"])
            for pol in ("float32", "mixed_bfloat16"):
                out, _, _ = run([py, os.path.join(HERE, "tf_head.py"), "--policy", pol, "--batch", str(b), "--threads", T, "--min-time", mt], log)
                ms["tf-" + pol].append(last_json(out)["ms_per_step"])
            print(f"batch {b} round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f} ms" for k, v in ms.items()), flush=True)
        for name, num, den in (("TF mixed_bfloat16 / graft bf16", "tf-mixed_bfloat16", "graft-bf16"),
                               ("graft fp32 / graft bf16", "graft-fp32", "graft-bf16"),
                               ("TF float32 / graft fp32", "tf-float32", "graft-fp32")):
            rs = [x / y for x, y in zip(ms[num], ms[den])]
            print(f"batch {b}: {name}: {median(rs):.2f}x ({min(rs):.2f}-{max(rs):.2f}); medians {median(ms[num]):.0f} / {median(ms[den]):.0f} ms", flush=True)
    print(f"load average after: {' '.join(load())}; stderr in {log}", flush=True)


if __name__ == "__main__":
    main()

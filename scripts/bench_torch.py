#!/usr/bin/env python3
"""The graft head in PyTorch, for `make gpu-check`: same shapes, same init
(Glorot-uniform kernels, zero biases), same loss and optimizer (Adam, lr
1e-3, betas 0.9/0.999, eps 1e-7) as `graft-cuda bench head`, timed on the
GPU with cuDNN in three precisions, each against graft-cuda's same mode
(--precision): fp32 (TF32 off), tf32 (TF32 on, PyTorch's default for
convolutions) and bf16 (autocast to bfloat16). Prints ms/step and TFLOP/s
(graft's FLOP count: forward conv, conv weight gradient, dense forward and
both dense gradients; no input gradient) and, with --graft, the ratio to
graft-cuda on the same GPU, and whether issue 15's goal is met (tf32,
batch 256: at most 1.0 ms and 0.8x PyTorch's time).

Each step ends with loss.item(), a device sync, as graft's step ends with
the download of the batch's loss and accuracy.
"""
import argparse
import json
import subprocess
import sys
import time

import torch
import torch.nn.functional as F


def step_flops(batch, h, w, c, filters, classes, k=3):
    conv = 2 * batch * h * w * k * k * c * filters
    dense = 2 * batch * filters * classes
    return 2 * conv + 3 * dense


def bench(batch, h, w, c, filters, classes, mode, min_time, channels_last):
    tf32 = mode == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    gen = torch.Generator().manual_seed(1)
    conv = torch.nn.Conv2d(c, filters, 3, padding="same").to(dev)
    dense = torch.nn.Linear(filters, classes).to(dev)
    with torch.no_grad():
        # Keras's Glorot uniform: fans are receptive field x channels.
        torch.nn.init.xavier_uniform_(conv.weight)
        torch.nn.init.xavier_uniform_(dense.weight)
        conv.bias.zero_()
        dense.bias.zero_()
    params = list(conv.parameters()) + list(dense.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    x = torch.randn(batch, h, w, c, generator=gen).to(dev).permute(0, 3, 1, 2)  # NHWC features, NCHW view
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
    y = (torch.arange(batch) % classes).to(dev)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=mode == "bf16"):
            z = F.relu(conv(x)).float().mean(dim=(2, 3))
            loss = F.cross_entropy(dense(z).float(), y, reduction="mean")
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(10):
        step()
    torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < min_time:
        step()
        n += 1
    torch.cuda.synchronize()
    secs = (time.perf_counter() - start) / n
    return secs * 1e3, step_flops(batch, h, w, c, filters, classes) / secs / 1e12, n


def graft_ms(binary, batch, args, mode):
    out = subprocess.run([binary, "bench", "head", "--json", "--precision", mode, "--batch", str(batch), "--height", str(args.height),
                          "--width", str(args.width), "--channels", str(args.channels), "--filters", str(args.filters),
                          "--classes", str(args.classes), "--min-time", f"{args.min_time}s"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["ms_per_step"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--height", type=int, default=7)
    ap.add_argument("--width", type=int, default=7)
    ap.add_argument("--channels", type=int, default=2048)
    ap.add_argument("--filters", type=int, default=256)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--min-time", type=float, default=3.0)
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format for cuDNN")
    ap.add_argument("--graft", help="graft-cuda binary: also time it and print graft/torch")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("PyTorch sees no GPU", file=sys.stderr)
        return 1
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name()}")
    goal = None
    for b in args.batch:
        for mode in ("fp32", "tf32", "bf16"):
            g = graft_ms(args.graft, b, args, mode) if args.graft else None
            ms, tflops, n = bench(b, args.height, args.width, args.channels, args.filters, args.classes, mode,
                                  args.min_time, args.channels_last)
            line = f"batch {b:4d}  {mode}  torch {ms:8.3f} ms/step  {tflops:6.2f} TFLOP/s  ({n} steps)"
            if g is not None:
                line += f"  graft {g:8.3f} ms/step  graft/torch {g / ms:5.2f}"
                if mode == "tf32" and b == 256:
                    goal = g <= 1.0 and g <= 0.8 * ms
            print(line, flush=True)
    if goal is not None:
        print(f"issue 15 goal (tf32, batch 256: <= 1.0 ms/step and <= 0.8x torch tf32): {'MET' if goal else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

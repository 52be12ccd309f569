#!/usr/bin/env python3
"""Check docker/Dockerfile.* as far as a machine without a Docker engine can.

For every Dockerfile: each COPY source (not --from) exists in the
repository, each make target a RUN names is a rule of the Makefile (or an
included *.mk), each apt-get install package is known to apt (apt-cache
show: this machine's Debian archive), and each pip requirement resolves on
PyPI for this Python (pip install --dry-run --no-deps: metadata only, no
wheel is installed), and a `go mod download` run before the whole source
is copied has the go.mod of every module go.mod replaces with a folder
(./api) copied already. Base images (FROM) cannot be pulled here and the build
itself cannot run: they are listed as not checked.

  scripts/check_dockerfiles.py [DOCKERFILE...]   (default: docker/Dockerfile.*)
  scripts/check_dockerfiles.py --self-test       (a broken Dockerfile must fail 5 ways)
"""
import glob
import os
import re
import shlex
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def instructions(path):
    """(keyword, argument) per instruction, continuation lines joined."""
    out, cur = [], ""
    with open(path) as f:
        for line in f:
            s = line.rstrip("\n")
            if not cur and (not s.strip() or s.lstrip().startswith("#")):
                continue
            if cur and s.lstrip().startswith("#"):
                continue
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            kw, _, arg = cur.strip().partition(" ")
            out.append((kw.upper(), arg.strip()))
            cur = ""
    return out


def make_targets(root):
    targets = set()
    for mk in [os.path.join(root, "Makefile")] + glob.glob(os.path.join(root, "*.mk")):
        with open(mk) as f:
            for line in f:
                m = re.match(r"^([A-Za-z0-9_.\-/ ]+?)\s*:(?!=)", line)
                if m and not line.startswith("\t"):
                    targets.update(m.group(1).split())
    return targets


def commands(run):
    """The simple commands of a RUN line, split on && ; and |."""
    try:
        words = shlex.split(run, posix=True)
    except ValueError:
        words = run.split()
    cmd = []
    for w in words:
        if w in ("&&", ";", "||", "|"):
            if cmd:
                yield cmd
            cmd = []
        else:
            cmd.append(w)
    if cmd:
        yield cmd


def apt_missing(pkgs):
    """The packages apt-cache does not know: one call for all, then one
    per package only when that fails."""
    if not pkgs:
        return []
    r = subprocess.run(["apt-cache", "show"] + pkgs, capture_output=True, text=True)
    # With several names apt-cache exits 0 when any is found: count the
    # records (one or more per known package, by its Package: line).
    found = set(re.findall(r"^Package: (\S+)$", r.stdout, re.M))
    if r.returncode == 0 and found >= set(pkgs):
        return []
    return [p for p in pkgs
            if subprocess.run(["apt-cache", "show", p], capture_output=True, text=True).returncode != 0]


def pip_missing(pip_cmd, specs):
    """(spec, why) for the requirements that do not resolve on PyPI: one
    dry run for all, then one per requirement only when that fails."""
    def dry(ss):
        return subprocess.run(pip_cmd + ["install", "--dry-run", "--no-deps", "--ignore-installed",
                                         "--quiet", "--disable-pip-version-check"] + ss,
                              capture_output=True, text=True)
    if not specs or dry(specs).returncode == 0:
        return []
    out = []
    for spec in specs:
        r = dry([spec])
        if r.returncode != 0:
            out.append((spec, (r.stderr.strip().splitlines() or ["?"])[-1]))
    return out


def local_modules(root):
    """The folders go.mod replaces modules with (replace X => ./dir)."""
    out = []
    with open(os.path.join(root, "go.mod")) as f:
        for line in f:
            m = re.match(r"\s*(?:replace\s+)?\S+(?:\s+\S+)?\s+=>\s+(\./\S+)\s*$", line)
            if m:
                out.append(os.path.normpath(m.group(1)))
    return out


def check(path, root, pip_cmd):
    fails, notes = [], []
    targets = make_targets(root)
    rel = os.path.relpath(path, root)
    apt, pip = [], []
    copied = set()  # the sources COPY has brought in so far
    for kw, arg in instructions(path):
        if kw == "FROM":
            notes.append(f"{rel}: FROM {arg.split()[0]}: base image not pulled (no Docker engine or registry here)")
        elif kw == "COPY":
            words = shlex.split(arg)
            if any(w.startswith("--from") for w in words):
                continue
            srcs = [w for w in words if not w.startswith("--")][:-1]
            copied.update(os.path.normpath(s) for s in srcs)
            for s in srcs:
                if not glob.glob(os.path.join(root, s)):
                    fails.append(f"{rel}: COPY {s}: no such file in the repository")
        elif kw == "RUN":
            for c in commands(arg):
                prog = os.path.basename(c[0])
                if prog == "go" and c[1:3] == ["mod", "download"] and "." not in copied:
                    for d in local_modules(root):
                        if os.path.join(d, "go.mod") not in copied and d not in copied:
                            fails.append(f"{rel}: go mod download before {d}/go.mod is copied (go.mod replaces a module with ./{d}): COPY {d}/go.mod ./{d}/ first")
                elif prog == "make":
                    for w in c[1:]:
                        if "=" in w or w.startswith("-"):
                            continue
                        if w not in targets:
                            fails.append(f"{rel}: make {w}: no such target in the Makefile")
                elif prog in ("apt-get", "apt") and "install" in c:
                    apt += [p for p in c[c.index("install") + 1:] if not p.startswith("-")]
                elif prog == "pip" or (prog.startswith("python") and c[1:3] == ["-m", "pip"]):
                    args = c[c.index("install") + 1:] if "install" in c else []
                    pip += [a for a in args if not a.startswith(("-", ".", "/"))]
    for p in apt_missing(apt):
        fails.append(f"{rel}: apt package {p}: unknown to apt-cache")
    for spec, why in pip_missing(pip_cmd, pip):
        fails.append(f"{rel}: pip {spec}: does not resolve on PyPI ({why})")
    notes.append(f"{rel}: the build itself was not run (no Docker engine)")
    return fails, notes


def self_test(pip_cmd):
    with tempfile.TemporaryDirectory() as d:
        df = os.path.join(d, "Dockerfile.bad")
        with open(df, "w") as f:
            f.write("FROM debian:bookworm-slim\n"
                    "RUN apt-get install -y graft-no-such-package ca-certificates\n"
                    "RUN python3 -m pip install tensorflow-cpu==0.0.1\n"
                    "COPY no/such/file /x\n"
                    "RUN make build no-such-target TF_DIR=/x\n"
                    "COPY go.mod go.sum ./\n"
                    "RUN go mod download\n")
        fails, _ = check(df, ROOT, pip_cmd)
    want = ["graft-no-such-package", "tensorflow-cpu==0.0.1", "no/such/file", "no-such-target", "api/go.mod"]
    missing = [w for w in want if not any(w in f for f in fails)]
    if missing or len(fails) != len(want):
        print("self-test FAILED: want one failure for each of", want, "got:", *fails, sep="\n  ")
        return 1
    print("self-test passed: a broken Dockerfile fails on", ", ".join(want))
    return 0


def main(argv):
    pip_cmd = [os.environ.get("PYTHON", sys.executable), "-m", "pip"]
    if argv[1:] == ["--self-test"]:
        return self_test(pip_cmd)
    files = argv[1:] or sorted(glob.glob(os.path.join(ROOT, "docker", "Dockerfile.*")))
    allfails = []
    for path in files:
        fails, notes = check(os.path.abspath(path), ROOT, pip_cmd)
        allfails += fails
        for n in notes:
            print("NOT CHECKED", n)
        print(("FAIL " if fails else "ok   ") + os.path.relpath(path, ROOT))
    for f in allfails:
        print("FAIL", f, file=sys.stderr)
    return 1 if allfails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

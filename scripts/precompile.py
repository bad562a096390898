"""Compile the kernels now, or build a shipped cache for a wheel.

    fusednet precompile [--dtype float64,float32] [--no-progress]
    fusednet precompile --ship DIR [--cpu host|x86-64-v3,x86-64-v4] [--dtype ...]

Without ``--ship``: compiles (or loads) the kernels of the common first calls
into this machine's Numba cache, with a progress bar, so that later
processes load them. A fresh notebook runtime can run ``!fusednet precompile``
while the data loads.

With ``--ship DIR``: builds a read-only cache in DIR (``kernels/cache.py``
says what an entry must match to be used) for each CPU target: ``host`` (this
machine's model and features; used on the same model with the same
features or more) or an x86-64 level (used on any machine with its
features: ``x86-64-v3`` is AVX2 and FMA, ``x86-64-v4`` adds AVX-512). A
release puts it into the package before building the wheel:

    fusednet precompile --ship kernels/shipped --cpu x86-64-v3,x86-64-v4 && pip wheel .

Each target compiles in its own process (a few minutes on 2 cores).
"""
import os
import subprocess
import sys
import time

from .cli import OneLineParser, writable_dir

#: LLVM's x86-64 levels (the psABI's micro-architecture levels), each with
#: the features it adds to the one before.
LEVELS = {
    "x86-64": "64bit,cmov,cx8,fxsr,mmx,sse,sse2",
    "x86-64-v2": "cx16,sahf,popcnt,sse3,sse4.1,sse4.2,ssse3",
    "x86-64-v3": "avx,avx2,bmi,bmi2,f16c,fma,lzcnt,movbe,xsave",
    "x86-64-v4": "avx512f,avx512bw,avx512cd,avx512dq,avx512vl",
}
DTYPES = ("float64", "float32")


def level_features(level):
    """``+feature,...``: every feature of the x86-64 ``level``."""
    names = []
    for name, added in LEVELS.items():
        names += added.split(",")
        if name == level:
            return ",".join("+" + f for f in names)
    raise KeyError(level)


def target_env(cpu):
    """Environment for a process that compiles for ``cpu`` (``host`` or a level)."""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")}
    if cpu != "host":
        env.update(NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=level_features(cpu))
    return env


def _cpus(text):
    cpus = [c.strip() for c in text.split(",")]
    bad = [c for c in cpus if c != "host" and c not in LEVELS]
    if bad or not cpus:
        import argparse
        raise argparse.ArgumentTypeError(
            f"expected host or x86-64 levels ({', '.join(LEVELS)}), comma-separated, got {text!r}")
    return cpus


def _dtypes(text):
    dtypes = [d.strip() for d in text.split(",")]
    if not dtypes or any(d not in DTYPES for d in dtypes):
        import argparse
        raise argparse.ArgumentTypeError(f"expected float64, float32 or both, got {text!r}")
    return dtypes


def main(argv=None, prog="fusednet precompile"):
    ap = OneLineParser(prog=prog, description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", type=_dtypes, default=list(DTYPES),
                    help="float64, float32 or both, comma-separated (default both)")
    ap.add_argument("--ship", metavar="DIR", help="build a shipped cache in DIR instead")
    ap.add_argument("--cpu", type=_cpus, default=["host"],
                    help="with --ship: CPU targets, comma-separated: host or x86-64 levels")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.ship is None:
        if args.cpu != ["host"]:
            ap.error("--cpu needs --ship (this machine's own cache is always built for it)")
        from ..net.precompile import everything
        t = time.perf_counter()
        everything(tuple(args.dtype), progress=not args.no_progress)
        print(f"precompiled in {time.perf_counter() - t:.1f} s")
        return 0
    out = writable_dir(ap, args.ship, "--ship")
    code = ("import sys; from fusednet.net.precompile import everything; "
            "everything(tuple(sys.argv[1].split(',')), progress=sys.argv[2] == '1')")
    for cpu in args.cpu:
        env = target_env(cpu)
        env.update(FUSEDNET_SHIP="1", FUSEDNET_SHIPPED_CACHE=str(out.resolve()))
        t = time.perf_counter()
        print(f"{cpu}: compiling into {out}", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, "-c", code, ",".join(args.dtype),
                               "0" if args.no_progress else "1"], env=env)
        if done.returncode:
            ap.fail(f"compiling for {cpu} failed (exit status {done.returncode})", status=1)
        print(f"{cpu}: {time.perf_counter() - t:.1f} s")
    return 0

"""Numerical against analytic gradients of a net, per parameter, as the course
notebooks print them.

    fusednet gradcheck [--layers 4,10,3] [--activation relu] [--residual] [--reg 0.05]
                       [--l2 full|half] [--samples 5] [--seed 0] [--tol 1e-7]

Exits 1 when a relative error exceeds ``--tol``: the course's ``rel_error``
with a floor that suits the loss (``difference_floor``): entries smaller than
what a centred difference resolves are judged against the floor, so correct
gradients pass at every size offered (up to MAX_ENTRIES perturbed entries).
"""
import argparse
import sys

import numpy as np

from ..kernels.activations import CODES
from .cli import OneLineParser, number, seed

#: Entries perturbed (parameters plus inputs) at most: each costs two loss
#: evaluations of the whole net (64-100-10 with 5 samples: 7,830 entries,
#: 2 s; 100-1000-10 with 20 samples: 113,010 entries, 4 minutes).
MAX_ENTRIES = 50_000


def parse_layers(text):
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--layers takes comma-separated integers, got {text!r}")
    if len(sizes) < 2 or min(sizes) < 1 or sizes[-1] < 2:
        raise argparse.ArgumentTypeError(
            f"--layers needs at least two positive widths, the last >= 2 (classes), got {text!r}")
    return sizes


def main(argv=None, prog="fusednet gradcheck"):
    ap = OneLineParser(prog=prog, description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=parse_layers, default=[4, 10, 3],
                    help="widths D,H1,...,C (default 4,10,3: the course's toy net)")
    ap.add_argument("--activation", choices=sorted(k for k in CODES if k != "identity") + ["identity"],
                    default="relu")
    ap.add_argument("--residual", action="store_true", help="identity skips where widths match")
    ap.add_argument("--reg", type=number(float, 0), default=0.05)
    ap.add_argument("--l2", choices=["full", "half"], default="full")
    ap.add_argument("--samples", type=number(int, 1), default=5, help="rows of random input")
    ap.add_argument("--seed", type=seed, default=0)
    ap.add_argument("--tol", type=number(float, 0), default=1e-7)
    args = ap.parse_args(argv)
    from ..net.architecture import parameter_count
    entries = parameter_count(args.layers) + args.samples * args.layers[0]
    if entries > MAX_ENTRIES:
        ap.error(f"--layers {','.join(map(str, args.layers))} with --samples {args.samples} has "
                 f"{entries:,} entries to perturb (two loss evaluations each); gradcheck offers "
                 f"up to {MAX_ENTRIES:,}")

    from ..net import MLP
    from ..net.gradcheck import difference_floor, eval_numerical_gradient, rel_error

    rng = np.random.default_rng(args.seed)
    model = MLP(args.layers, args.activation, args.residual, weight_scale=0.5, seed=args.seed)
    X = rng.standard_normal((args.samples, args.layers[0]))
    y = rng.integers(0, args.layers[-1], args.samples)
    loss, grads, dX = model.loss(X, y, reg=args.reg, l2=args.l2, need_dX=True)
    print(f"net {' -> '.join(map(str, args.layers))}, {args.activation}"
          f"{', residual' if args.residual else ''}, reg {args.reg:g} ({args.l2} L2), "
          f"{args.samples} samples: loss {loss:.6f}")
    f = lambda _: model.loss(X, y, reg=args.reg, l2=args.l2)[0]  # noqa: E731
    floor = difference_floor(loss)
    worst = 0.0
    for name, analytic in list(grads.items()) + [("X", dX)]:
        target = X if name == "X" else model.params[name]
        err = rel_error(eval_numerical_gradient(f, target, verbose=False), analytic, floor)
        worst = max(worst, err)
        print(f"{name} max relative error: {err:e}")
    print(f"{'ok' if worst <= args.tol else 'FAILED'}: largest relative error {worst:.2e} "
          f"(tolerance {args.tol:g}; entries below {floor:.1e}, what centred differences "
          f"resolve at this loss, are compared at that size)")
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())

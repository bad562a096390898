"""Grid or random search over hidden size, learning rate, regularization and
decay, in one parallel call (train_many), worker processes or on a Dask cluster; prints a
ranked table, saves the best model and a picture of validation accuracy.

    fusednet search [--dataset digits] [--hidden 50,100] [--lr 0.1,0.5] [--reg 1e-4,1e-3]
                    [--decay 0.95,0.99] [--random 10] [--iters 500] [--jobs -1]
                    [--dask-scheduler ADDRESS] [--out runs/search]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from .cli import OneLineParser, check_memory, number, number_list, seed, writable_dir
from .data import DataError, load, needs


def main(argv=None, prog="fusednet search"):
    ap = OneLineParser(prog=prog, description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--hidden", type=number_list(int, 1), default=[50, 100])
    ap.add_argument("--lr", type=number_list(float, 0, low_open=True), default=[0.1, 0.5])
    ap.add_argument("--reg", type=number_list(float, 0), default=[1e-4, 1e-3])
    ap.add_argument("--decay", type=number_list(float, 0), default=[0.95, 0.99])
    ap.add_argument("--random", type=number(int, 0), default=0,
                    help="try this many random settings from the lists instead of all")
    ap.add_argument("--iters", type=number(int, 1), default=500)
    ap.add_argument("--batch", type=number(int, 1), default=200)
    ap.add_argument("--std", type=number(float, 0, low_open=True), default=0.1)
    ap.add_argument("--seed", type=seed, default=0)
    ap.add_argument("--jobs", type=jobs, default=-1,
                    help="threads, or worker processes with --processes (-1: one per core)")
    ap.add_argument("--processes", action="store_true",
                    help="one worker process per setting (joblib) instead of one parallel call")
    ap.add_argument("--dask-scheduler", default=None, help="run on this Dask scheduler")
    ap.add_argument("--out", default="runs/search")
    args = ap.parse_args(argv)
    ap.require(*needs(args.dataset), "matplotlib",
               *(("dask", "distributed") if args.dask_scheduler
                 else ("joblib",) if args.processes else ()))
    out = writable_dir(ap, args.out)
    try:
        data = load(args.dataset, seed=args.seed)
    except DataError as exc:
        ap.fail(exc)
    check_search_memory(ap, args, data)

    from ..net.files import write_text
    from ..net.search import best_net, search
    from ..net.training import TrainingInterrupted
    grid = dict(hidden_sizes=args.hidden, learning_rates=args.lr, regs=args.reg,
                decays=args.decay)
    settings = None
    if args.random:
        rng = np.random.default_rng(args.seed)
        settings = [(int(rng.choice(args.hidden)), float(rng.choice(args.lr)),
                     float(rng.choice(args.reg)), float(rng.choice(args.decay)))
                    for _ in range(args.random)]
    kw = dict(num_iters=args.iters, batch_size=args.batch, std=args.std, seed=args.seed,
              n_jobs=args.jobs)
    start = time.perf_counter()
    client = None
    try:
        if args.dask_scheduler:
            from dask.distributed import Client
            try:
                client = Client(args.dask_scheduler, timeout=10)
            except Exception as exc:
                ap.fail(f"cannot reach the Dask scheduler {args.dask_scheduler}: {exc}")
            kw["backend"] = "dask"
        elif args.processes:
            kw["backend"] = "loky"
        results = search(data, **grid, settings=settings, **kw)
    except TrainingInterrupted as exc:  # Ctrl-C, SIGTERM, SIGHUP: keep what finished
        stopped(ap, exc, out)
    except MemoryError as exc:  # the library's own check, should memory have shrunk since
        ap.fail(exc)
    finally:
        if client is not None:
            client.close()
    seconds = time.perf_counter() - start

    print(f"{len(results)} settings on {args.dataset}, {args.iters} iterations each, "
          f"in {seconds:.1f} s ({where(args)})")
    print(f"{'rank':>4s} {'hidden':>6s} {'lr':>8s} {'reg':>8s} {'decay':>6s} {'val acc':>8s}")
    for rank, r in enumerate(results, 1):
        print(f"{rank:4d} {r['hidden_size']:6d} {r['learning_rate']:8.2g} {r['reg']:8.2g} "
              f"{r['learning_rate_decay']:6.3g} {accuracy_cell(r)}")
    try:  # each file atomically: one that cannot be written keeps its old contents
        write_text(out / "results.json", json.dumps(
            [{k: none_if_nan(v) for k, v in r.items() if k != "params"} for r in results],
            indent=1))
        picture(results, out / "search.png")
        if results[0]["diverged"]:
            ap.fail(f"every setting diverged; wrote {out / 'results.json'} and "
                    f"{out / 'search.png'} (try smaller --lr)", status=1)
        best = best_net(results[0])
        test_acc = float(np.mean(best.predict(data["X_test"]) == data["y_test"]))
        best.save(out / "best_model.npz")
    except OSError as exc:
        ap.fail(f"cannot save the results in {out}: {exc} (that file is left as it was)",
                status=1)
    print(f"best: hidden {results[0]['hidden_size']}, lr {results[0]['learning_rate']:g}, "
          f"reg {results[0]['reg']:g}, decay {results[0]['learning_rate_decay']:g}: "
          f"validation {results[0]['val_acc']:.4f}, test {test_acc:.4f}")
    print(f"wrote {out / 'best_model.npz'}, {out / 'results.json'}, {out / 'search.png'}")
    return 0


def stopped(ap, exc, out):
    """A search stopped by ``exc``: write the results it kept (``exc.results``)
    to results.json, and search.png when there are any, then end as the
    signal asks (``OneLineParser.stopped``)."""
    from ..net.files import write_text
    results = exc.results
    try:
        write_text(out / "results.json", json.dumps(
            [{k: none_if_nan(v) for k, v in r.items() if k != "params"} for r in results],
            indent=1))
        names = [out / "results.json"]
        if results:
            picture(results, out / "search.png")
            names.append(out / "search.png")
    except OSError as err:
        ap.fail(f"{exc}; cannot save the results in {out}: {err}", status=1)
    ap.stopped(f"{exc}; wrote {len(results)} result(s) to " + " and ".join(map(str, names)), exc)


def where(args):
    """How the settings ran, for the summary line."""
    if args.dask_scheduler:
        return f"dask {args.dask_scheduler}"
    return f"{args.jobs} {'worker processes' if args.processes else 'threads, one call'}"


def jobs(text):
    """``--jobs``: a non-zero integer (negative: all cores but ``-jobs - 1``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of workers or -1 (one per core), got {text!r}")
    return value


def check_search_memory(ap, args, data):
    """One line and exit when the largest setting, times the settings that run
    at once, cannot fit in memory (the library's estimate, ``net.many.memory_needed``)."""
    from ..net.many import memory_needed
    classes = int(max(data[f"y_{p}"].max() for p in ("train", "val", "test"))) + 1
    rows = max(len(data[f"X_{p}"]) for p in ("train", "val", "test"))
    settings = args.random or (len(args.hidden) * len(args.lr) * len(args.reg) * len(args.decay))
    if args.dask_scheduler:
        at_once = 1
    elif args.processes:
        at_once = min(settings, args.jobs if args.jobs > 0
                      else max(1, (os.cpu_count() or 1) + 1 + args.jobs))
    else:
        at_once = settings  # one call holds every model's buffers
    need, nets = memory_needed(data["X_train"].shape[1], max(args.hidden), classes, args.batch,
                               rows, np.float64, at_once)
    check_memory(ap, need, f"{nets} with --batch {args.batch}",
                 "use smaller --hidden, --batch, fewer settings or --processes with fewer --jobs")


def accuracy_cell(result):
    """The table's last column: the validation accuracy, or where it diverged."""
    if result["diverged"]:
        return f"diverged at iteration {result['diverged_at']}"
    return f"{result['val_acc']:8.4f}"


def none_if_nan(value):
    return None if isinstance(value, float) and value != value else value


def picture(results, path):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    lr = np.array([r["learning_rate"] for r in results])
    reg = np.array([r["reg"] for r in results])
    acc = np.array([r["val_acc"] for r in results])
    size = np.array([r["hidden_size"] for r in results], float)
    ok = ~np.array([r["diverged"] for r in results])
    dots = ax.scatter(lr[ok], reg[ok] + 1e-12, c=acc[ok], s=30 + 120 * size[ok] / size.max(),
                      cmap="viridis")
    if not ok.all():
        ax.scatter(lr[~ok], reg[~ok] + 1e-12, marker="x", c="red", label="diverged")
        ax.legend(loc="best")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("regularization")
    ax.set_title("validation accuracy (dot size: hidden units)")
    fig.colorbar(dots, ax=ax, label="validation accuracy")
    fig.tight_layout()
    from ..net.files import save_figure
    save_figure(fig, path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())

"""Train a fully-connected net on a dataset and write the model, its history
and the pictures (loss and accuracy curves, first-layer weights; for a
regression, loss and R^2 curves and predictions against the targets).

    fusednet train [--dataset digits|iris|diabetes|DIR|FILE.npz] [--task auto]
                   [--hidden 100] [--activation relu] [--update sgd] [--lr 0.5]
                   [--lr-decay 0.99] [--reg 1e-4] [--iters 1500] [--batch 200]
                   [--out runs/digits] [--compare]

A dataset whose y holds real numbers (diabetes, or an .npz with a float y,
or ``--task regression``) trains a regressor: the squared-error head, one
output per column of y.
"""
import argparse
import json
import sys
import time

import numpy as np

from .cli import OneLineParser, check_memory, number, seed, writable_dir
from .data import DataError, load, needs

UPDATES = ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam")


def widths(text):
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths, got {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive, got {text!r}")
    return sizes


def parser(prog="fusednet train"):
    ap = OneLineParser(prog=prog, description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits",
                    help="digits (default), iris, diabetes (regression), a CIFAR-10 directory, "
                         "or an .npz with X, y")
    ap.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                    help="how to read an .npz's y: auto (default) takes a float y as "
                         "regression targets, integers as labels")
    ap.add_argument("--hidden", type=widths, default=[100], help="hidden widths, e.g. 100 or 256,128")
    ap.add_argument("--activation", choices=["relu", "tanh", "sigmoid"], default="relu")
    ap.add_argument("--residual", action="store_true")
    ap.add_argument("--update", choices=UPDATES, default="sgd")
    ap.add_argument("--lr", type=number(float, 0, low_open=True), default=0.5)
    ap.add_argument("--lr-decay", type=number(float, 0), default=0.99)
    ap.add_argument("--reg", type=number(float, 0), default=1e-4)
    ap.add_argument("--iters", type=number(int, 1), default=1500)
    ap.add_argument("--batch", type=number(int, 1), default=200)
    ap.add_argument("--std", type=number(float, 0, low_open=True), default=None,
                    help="initial weight std (default: sqrt(2 / fan_in) for relu (He), sqrt(1 / fan_in) otherwise (LeCun))")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--seed", type=seed, default=0)
    ap.add_argument("--out", default="runs/train", help="directory for model, history, pictures")
    ap.add_argument("--compare", action="store_true",
                    help="run the same training with the NumPy reference and report the speed ratio")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def progress_callback(total, enabled):
    if not enabled:
        return None, None
    from tqdm.auto import tqdm  # a widget in Jupyter, text in a terminal
    bar = tqdm(total=total, unit="it", file=sys.stderr, leave=False)
    state = {"done": 0}

    def callback(it, loss):
        bar.update(it + 1 - state["done"])
        state["done"] = it + 1
        bar.set_postfix(loss=f"{loss:.4f}")
    return callback, bar


def pictures(stats, model, data, out, dtype):
    """The pictures a run writes (each atomically); their file names."""
    from ..net.files import save_figure
    from ..net.plots import plot_history, plot_predictions, plot_weights
    regression = data["task"] == "regression"
    save_figure(plot_history(stats, "R^2" if regression else "accuracy"), out / "curves.png",
                dpi=100)
    save_figure(plot_weights(model, data["image_shape"]), out / "weights.png", dpi=100)
    names = ["curves.png", "weights.png"]
    if regression:
        save_figure(plot_predictions(data["y_test"], model.predict(data["X_test"].astype(dtype)),
                                     "test set: predicted against true"),
                    out / "predictions.png", dpi=100)
        names.append("predictions.png")
    return names


def scores(model, data, dtype):
    """Accuracy (classification) or R^2 (regression) on each split, as the
    histories record them (``MLP.score``)."""
    return {part: model.score(data[f"X_{part}"].astype(dtype), data[f"y_{part}"])
            for part in ("train", "val", "test")}


def save_run(out, model, stats, args, data, seconds, stopped=None):
    """Write model.npz, history.json and the pictures into ``out``; returns
    the score on each split and the pictures' names. Each file is written
    atomically (``net.files``): one that cannot be written (a full disk)
    raises OSError naming it and leaves the file it would replace as it was."""
    from ..net.files import write_text
    acc = scores(model, data, args.dtype)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.npz")
    key = "r2" if data["task"] == "regression" else "accuracy"
    record = dict(stats, args=vars(args) | {"hidden": args.hidden}, seconds=seconds,
                  task=data["task"], **{key: acc})
    if stopped:
        record["stopped"] = stopped
    write_text(out / "history.json", json.dumps(record, indent=1))
    return acc, pictures(stats, model, data, out, args.dtype)


def save_or_fail(ap, out, *args, **kwargs):
    """:func:`save_run`, or one line and exit 1 when a file cannot be written."""
    try:
        return save_run(out, *args, **kwargs)
    except OSError as exc:
        ap.fail(f"cannot save the run in {out}: {exc} (that file is left as it was)", status=1)


def main(argv=None, prog="fusednet train"):
    ap = parser(prog)
    args = ap.parse_args(argv)
    if args.compare and (len(args.hidden) != 1 or args.activation != "relu"
                         or args.update != "sgd" or args.residual):
        ap.error("--compare runs the NumPy reference, which is a two-layer relu net trained by "
                 "sgd: use one --hidden width, --activation relu, --update sgd")
    ap.require(*needs(args.dataset), "matplotlib", *(() if args.no_progress else ("tqdm",)))
    out = writable_dir(ap, args.out)
    try:
        data = load(args.dataset, seed=args.seed, task=args.task)
    except DataError as exc:
        ap.fail(exc)
    regression = data["task"] == "regression"
    if args.compare and regression:
        ap.error("--compare runs the NumPy reference, a softmax classifier: it does not "
                 "train a regression")
    from ..net import MLP, TrainingDiverged, TrainingInterrupted, precompile
    from ..net.architecture import training_bytes
    y = data["y_train"]
    if regression:
        outputs = 1 if y.ndim == 1 else y.shape[1]
    else:
        outputs = max(int(max(y.max(), data["y_val"].max(), data["y_test"].max())) + 1, 2)
    sizes = [data["X_train"].shape[1], *args.hidden, outputs]
    rows = max(len(data[f"X_{part}"]) for part in ("train", "val", "test"))
    check_memory(ap, training_bytes(sizes, args.batch, rows, args.dtype)
                 * (2 if args.compare else 1) + data["X_train"].size * np.dtype(args.dtype).itemsize,
                 f"a {' -> '.join(map(str, sizes))} net with --batch {args.batch}",
                 "use smaller --hidden or --batch")
    X = data["X_train"].astype(args.dtype)
    X_val = data["X_val"].astype(args.dtype)
    train_kw = dict(learning_rate=args.lr, learning_rate_decay=args.lr_decay, reg=args.reg,
                    num_iters=args.iters, batch_size=args.batch)
    precompile((args.dtype,))  # compile or load from the cache before timing
    if args.compare:
        # The classic NumPy class is the reference: same seed, same work, same numbers.
        from ..net import TwoLayerNet
        from ..net.classic import ClassicTwoLayerNet
        std = args.std or float(np.sqrt(2.0 / X.shape[1]))
        np.random.seed(args.seed)
        model = TwoLayerNet(X.shape[1], sizes[1], sizes[-1], std=std, dtype=args.dtype)
    else:
        model = MLP(sizes, args.activation, args.residual, weight_scale=args.std,
                    dtype=args.dtype, seed=args.seed,
                    head="squared_error" if regression else "softmax")
    callback, bar = progress_callback(args.iters, not args.no_progress)
    start = time.perf_counter()
    try:
        stats = model.train(X, y, X_val, data["y_val"], **train_kw,
                            **({} if args.compare else dict(update=args.update)),
                            callback=callback, callback_every=max(1, args.iters // 100))
    except (TrainingDiverged, TrainingInterrupted) as exc:
        # Keep the finished work: the model holds the last good parameters.
        if bar is not None:
            bar.close()
        interrupted = isinstance(exc, TrainingInterrupted)
        save_or_fail(ap, out, model, exc.history, args, data, time.perf_counter() - start,
                     stopped="interrupted" if interrupted else "diverged")
        if interrupted:
            ap.stopped(f"{exc}; saved it and the history so far in {out}", exc)
        ap.fail(f"{exc}; saved it and the history so far in {out}", status=1)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    acc, names = save_or_fail(ap, out, model, stats, args, data, seconds)
    print(f"{args.dataset}: {' -> '.join(map(str, sizes))} {args.activation}, {args.update}, "
          f"{args.iters} iterations of {args.batch} in {seconds:.2f} s "
          f"({1e6 * seconds / args.iters:.1f} us/iteration)"
          + (", regression (squared error)" if regression else ""))
    print(f"{'R^2' if regression else 'accuracy'}: train {acc['train']:.4f}, "
          f"validation {acc['val']:.4f}, test {acc['test']:.4f}")
    if args.compare:
        np.random.seed(args.seed)
        classic = ClassicTwoLayerNet(X.shape[1], sizes[1], sizes[-1], std=std)
        classic.params = {k: v.astype(args.dtype) for k, v in classic.params.items()}
        t = time.perf_counter()
        ref_stats = classic.train(X, y, X_val, data["y_val"], **train_kw)
        ref = time.perf_counter() - t
        diff = float(np.max(np.abs(np.subtract(stats["loss_history"], ref_stats["loss_history"]))))
        print(f"NumPy reference (the classic class, same seed): {ref:.2f} s "
              f"({1e6 * ref / args.iters:.1f} us/iteration); speed ratio {ref / seconds:.1f}x; "
              f"loss histories differ by at most {diff:.1e}")
    print(f"wrote {out / 'model.npz'}, {out / 'history.json'}, "
          + ", ".join(str(out / name) for name in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())

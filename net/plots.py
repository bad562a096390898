"""The debugging pictures of the course notebooks, as functions that return a
matplotlib ``Figure`` (shown inline by Jupyter, saved with ``fig.savefig``).

matplotlib is optional: it is imported when a picture is asked for. The
figures are made without ``pyplot``, so they neither pop up a window nor show
twice in a notebook, and work on a machine with no display.
"""
import numpy as np


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("the pictures need matplotlib: pip install matplotlib "
                          "(or pip install 'fusednet[cli]')", name="matplotlib") from exc
    return Figure(figsize=(width, height))


def plot_history(history, score="accuracy"):
    """Loss per iteration and train / validation score per epoch.

    ``history`` is what ``train`` returns: a dict with ``loss_history`` and,
    when evaluation ran, ``train_acc_history`` and ``val_acc_history``
    (accuracies, or R^2 for a regression: ``score='R^2'`` labels them so).
    """
    fig = _figure(11, 4)
    a, b = fig.subplots(1, 2)
    a.plot(history["loss_history"], lw=0.8)
    a.set_xlabel("iteration")
    a.set_ylabel("training loss")
    a.set_title("loss")
    b.plot(history.get("train_acc_history", []), label="train (minibatch)")
    b.plot(history.get("val_acc_history", []), label="validation")
    b.set_xlabel("epoch")
    b.set_ylabel(score)
    b.set_title(score)
    b.legend()
    fig.tight_layout()
    return fig


def plot_predictions(y_true, y_pred, title="predicted against true"):
    """A regression's predictions against the targets, one panel per output
    (at most 4), with the diagonal where they would agree.

    y_true, y_pred : (N,) or (N, k) arrays of the same shape.
    """
    t = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    if t.shape != p.shape:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} must have one shape")
    k = min(t.shape[1], 4)
    fig = _figure(4 * k + 1, 4)
    for j, ax in enumerate(np.atleast_1d(fig.subplots(1, k))):
        ax.scatter(t[:, j], p[:, j], s=6, alpha=0.6)
        lo, hi = min(t[:, j].min(), p[:, j].min()), max(t[:, j].max(), p[:, j].max())
        ax.plot([lo, hi], [lo, hi], color="gray", lw=0.8)
        ax.set_xlabel("true" if k == 1 else f"true (output {j})")
        ax.set_ylabel("predicted")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_weights(weights, image_shape=None):
    """First-layer weights, one hidden unit per tile, each scaled to [0, 1].

    ``weights`` is a model (anything with ``params['W1']``) or the matrix
    W1 itself, (D, H). With ``image_shape`` (e.g. ``(32, 32, 3)`` for CIFAR-10,
    ``(8, 8)`` for digits) whose size is D, each column is drawn as that
    image; otherwise as a strip of D values.
    """
    W1 = weights.params["W1"] if hasattr(weights, "params") else weights
    W1 = np.asarray(W1, dtype=np.float64)
    if W1.ndim != 2 or W1.size == 0:
        raise ValueError(f"weights must be a model or a 2-D (D, H) matrix, got shape {W1.shape}")
    n = W1.shape[1]
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig = _figure(cols * 0.9 + 1, rows * 0.9 + 1)
    axes = fig.subplots(rows, cols, squeeze=False)
    as_image = image_shape is not None and int(np.prod(image_shape)) == W1.shape[0]
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        img = W1[:, k].reshape(image_shape if as_image else (1, -1))
        lo, hi = img.min(), img.max()
        ax.imshow((img - lo) / (hi - lo + 1e-12), cmap=None if img.ndim == 3 else "gray",
                  aspect="auto" if img.shape[0] == 1 else "equal")
    fig.suptitle("first-layer weights, one unit per tile")
    return fig

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


def plot_history(history):
    """Loss per iteration and train / validation accuracy per epoch.

    ``history`` is what ``train`` returns: a dict with ``loss_history`` and,
    when evaluation ran, ``train_acc_history`` and ``val_acc_history``.
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
    b.set_ylabel("accuracy")
    b.set_title("accuracy")
    b.legend()
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

"""Whether a run fits in memory, asked before anything is allocated.

The estimate of what a run needs is ``architecture.training_bytes`` (per
model); :func:`check_fits` compares it with what the machine has free, for
the commands (``fusednet train``, ``fusednet search``) and for
:func:`fusednet.search`, which would otherwise allocate model after model
until a MemoryError, gigabytes in.
"""
import os


def available_memory():
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``,
    else physical memory), or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(need, what, hint):
    """MemoryError saying how much ``what`` needs and how much is available,
    with ``hint`` (what to change), when ``need`` bytes exceed the memory
    available; nothing when it fits or the memory available is unknown."""
    have = available_memory()
    if have is not None and need > have:
        raise MemoryError(f"{what} needs about {need / 2**30:.1f} GiB of memory and "
                          f"{have / 2**30:.1f} GiB are available; {hint}")

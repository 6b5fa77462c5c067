"""How many CPU threads a fit or a scoring pass should take on a machine others are using.

Torch's intra-op threads wait for each other at every operation. With as many threads as
cores and one other CPU-bound process beside them, one thread keeps losing its core and the
others spin at the barrier: the demo's first fit ran ~10x slower than idle on 2 cores. Taking
only the cores nobody else is running on keeps the slowdown near the share of the machine lost.
"""

from __future__ import annotations

import ctypes
import os
import statistics
import time
from pathlib import Path

LOADAVG = Path("/proc/loadavg")
# glibc's malloc returns a freed block above its mmap threshold, or free heap above its trim
# threshold, to the kernel, so each trunk pass page-faulted fresh pages for its activations
# (a 64-galaxy chunk's are ~17 MB): on 2 cores the image encoder ran ~1.8x slower than with
# the memory kept, a whole scoring pass of the 20k mock 1.12x (docs/benchmarks.md). Fixing
# both thresholds keeps up to TRIM_THRESHOLD of freed heap for reuse; 32 MiB is the largest
# mmap threshold 64-bit glibc accepts.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
MMAP_THRESHOLD, TRIM_THRESHOLD = 32 << 20, 256 << 20


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed buffers for reuse (module comment); False where the C
    library is not glibc or refuses, and nothing changes."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # macOS, musl
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def busy_cores(*, samples: int = 7, interval: float = 0.03) -> int:
    """Other tasks running now: the median over ``samples`` reads of the kernel's count of
    runnable tasks (/proc/loadavg, this process's reading thread excluded); the one-minute load
    average where there is no /proc. Instantaneous, so a job started right after a compile
    sees it; a median, so a burst of short tasks does not count."""
    if not LOADAVG.exists():
        return round(os.getloadavg()[0])
    counts = []
    for i in range(samples):
        if i:
            time.sleep(interval)
        running = LOADAVG.read_text().split()[3].split("/")[0]
        counts.append(max(0, int(running) - 1))
    return int(statistics.median(counts))


def threads_for_load(*, total: int | None = None, busy: int | None = None) -> int:
    """Threads for a CPU-bound job now: the cores nobody else is running on, at least one."""
    total = cores() if total is None else total
    busy = busy_cores() if busy is None else busy
    return max(1, total - busy)


def use_threads_for_load(*, samples: int = 7) -> tuple[int, int]:
    """Set torch's intra-op threads by :func:`threads_for_load`; (threads, busy cores seen).
    Between a fit's epochs its own threads are idle, so what runs then is other work."""
    import torch

    busy = busy_cores(samples=samples)
    threads = threads_for_load(busy=busy)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads, busy

"""Threads for the machine's load (the cores nobody else is running on) and malloc kept from
returning the trunk's buffers to the kernel."""

from pathlib import Path

import pytest

from app.services import compute


def test_threads_leave_the_busy_cores_alone() -> None:
    assert compute.threads_for_load(total=2, busy=0) == 2
    assert compute.threads_for_load(total=2, busy=1) == 1  # a compile beside the demo
    assert compute.threads_for_load(total=2, busy=5) == 1  # never none
    assert compute.threads_for_load(total=16, busy=3) == 13


def test_busy_cores_is_the_median_of_runnable_tasks_less_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = iter(["3/200", "9/200", "3/201", "2/200", "3/200"])  # a burst in the second read
    loadavg = tmp_path / "loadavg"

    class Fake(type(loadavg)):
        def read_text(self, *args: object, **kwargs: object) -> str:
            return f"0.50 0.40 0.30 {next(reads)} 4242\n"

    monkeypatch.setattr(compute, "LOADAVG", Fake(loadavg))
    loadavg.write_text("")
    assert compute.busy_cores(samples=5, interval=0) == 2  # median 3 runnable, one is us


def test_malloc_keeps_freed_memory_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    assert compute.keep_freed_memory() is True  # these machines run glibc

    def no_glibc(name: str) -> None:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(compute.ctypes, "CDLL", no_glibc)
    assert compute.keep_freed_memory() is False  # elsewhere: nothing changes, no error

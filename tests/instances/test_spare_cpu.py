"""Busy polling's guard: a CPU is spare while fewer tasks than CPUs run besides the server, read from the kernel's
runnable count at most every REFRESH_S (a file in /proc/loadavg's format stands in for the kernel's here)."""

from __future__ import annotations

from pathlib import Path

from nimbus.instances.spare_cpu import LOADAVG, REFRESH_S, SpareCpu, usable_cpus


def _loadavg(path: Path, running: int) -> None:
    path.write_text(f"0.52 0.58 0.59 {running}/812 4242\n")


def test_spare_up_to_one_other_runnable_task_per_cpu_besides_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "loadavg"
    now = [0.0]
    for running, spare in ((1, True), (2, True), (3, False), (40, False)):  # the reader counts itself: 2 CPUs
        _loadavg(path, running)
        now[0] += 2 * REFRESH_S
        assert SpareCpu(str(path), cpus=2, clock=lambda: now[0]).spare() is spare, running


def test_read_at_most_every_refresh_interval(tmp_path: Path) -> None:
    path = tmp_path / "loadavg"
    now = [100.0]
    guard = SpareCpu(str(path), cpus=2, clock=lambda: now[0])
    _loadavg(path, 1)
    assert guard.spare()
    _loadavg(path, 9)  # the machine got busy: not seen until the cached answer is REFRESH_S old
    now[0] += REFRESH_S / 2
    assert guard.spare()
    now[0] += REFRESH_S  # 1.5 intervals after the first read
    assert not guard.spare()
    _loadavg(path, 2)
    now[0] += 2 * REFRESH_S
    assert guard.spare()


def test_unreadable_or_malformed_counts_as_spare(tmp_path: Path) -> None:
    """Without /proc (or with a format it does not know) polling behaves as it did before the guard."""
    assert SpareCpu(str(tmp_path / "missing"), cpus=2).spare()
    bad = tmp_path / "loadavg"
    bad.write_text("garbage\n")
    assert SpareCpu(str(bad), cpus=2).spare()


def test_the_real_file_parses() -> None:
    """On this host the kernel's file is read, not the fallback: with no CPUs at all nothing is spare (the reader
    itself runs), with a million everything is."""
    assert Path(LOADAVG).exists()
    assert SpareCpu(cpus=0).spare() is False
    assert SpareCpu(cpus=1_000_000).spare() is True
    assert usable_cpus() >= 1

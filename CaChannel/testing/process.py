"""Stopping a child process for good."""

from __future__ import annotations

import subprocess
from typing import Any


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0) -> int:
    """Stop *proc* and return its exit status.

    SIGTERM first, so that it can clean up (a repeater closes its socket, a
    server its clients); SIGKILL if it still runs *timeout* seconds later.
    A process that has already exited is only reaped.
    """
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()

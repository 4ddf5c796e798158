"""Ending one process of a multi-process run (``torchrun``, ``tools/dist_train.sh``, ``tools/dist_test.sh``).

Why a process of a gloo group must not leave through the interpreter's teardown: ProcessGroupGloo runs each
collective on a worker thread (``pt_gloo_runloop``) that drops its reference to the finished work only after it
has woken the caller, and dropping tensors that Python created (``broadcast_object_list`` ends every evaluation)
needs the GIL. When the main thread gets the GIL back first and reaches ``Py_FinalizeEx`` before the worker thread
has run (a loaded machine), Python 3.11 ends the worker thread with ``pthread_exit`` as soon as it asks for the GIL;
the unwinding crosses the work's ``noexcept`` destructor, the C++ runtime calls ``std::terminate`` ("terminate
called without an active exception", SIGABRT) and ``torchrun`` kills the other ranks. Destroying the group first is
no way out: ``destroy_process_group`` does not join the worker threads while the DDP wrapper still holds the group,
and when the last reference goes with the GIL held, the group's destructor can wait for a worker thread that waits
for the GIL (the deadlock once seen in CI). So, after a final barrier, the process takes the exit steps Python takes
before its teardown (joining threads, ``atexit`` handlers: log files flushed and closed, data-loader workers
stopped) and ends with ``os._exit``: no teardown, nothing left for a worker thread to trip over.
"""
from __future__ import annotations

import atexit
import os
import os.path as osp
import sys
import threading
from typing import Callable, NoReturn


def in_process_group() -> bool:
    """Whether this process belongs to an initialised ``torch.distributed`` process group."""
    import torch.distributed as dist
    return dist.is_available() and dist.is_initialized()


def exit_process(status: int) -> NoReturn:
    """``sys.exit(status)``; in a process of a group, leave after a final barrier without interpreter teardown.

    The barrier (only after success: a failed rank must not wait for peers that may never come) makes sure no
    rank leaves while another still needs it for a collective; if it fails, a peer failed and the status is 1.
    """
    if not in_process_group():
        sys.exit(status)
    if status == 0:
        status = _final_barrier()
    _run_exit_steps()
    os._exit(status)


def run_main(main: Callable[[], int]) -> NoReturn:
    """``sys.exit(main())`` for a tool that may run as one process of a group (see :func:`exit_process`).

    In such a process an exception escaping ``main`` prints its traceback as Python would and exits with 1
    (130 for Ctrl-C), without interpreter teardown; outside one, everything is as with ``sys.exit(main())``.
    """
    try:
        status = main()
    except BaseException as e:
        if not in_process_group():
            raise
        status = _report(e)
    exit_process(status)


def _final_barrier() -> int:
    import torch.distributed as dist
    try:
        dist.barrier()
    except Exception as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f'{osp.basename(sys.argv[0])}: error: final barrier of the process group failed (a peer failed or '
              f'left): {message}', file=sys.stderr)
        return 1
    return 0


def _report(e: BaseException) -> int:
    if isinstance(e, SystemExit):
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    sys.excepthook(type(e), e, e.__traceback__)
    return 130 if isinstance(e, KeyboardInterrupt) else 1


def _run_exit_steps() -> None:
    # the steps Py_FinalizeEx takes while the interpreter is still whole: threading's shutdown (its atexit
    # callbacks, e.g. concurrent.futures', then joining non-daemon threads), then the atexit handlers
    shutdown_threads = getattr(threading, '_shutdown', None)
    if shutdown_threads is not None:
        shutdown_threads()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass

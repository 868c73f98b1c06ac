"""CA client contexts and the execution calls (the twin of src/context.c).

Any thread that makes a CA call without a context joins the process's one
preemptive context, created on first use (or set by the first explicit
``create_context()`` with preemptive callbacks), so plain Python threads
just work. Every function that needs a context calls :func:`ensure_context`
first; it costs one libca call when the thread is already attached.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from CaChannel._constants import ECA

import warnings

from . import _common, iowait
from ._common import Identifier, check, eca, timeout_arg
from ._ffi import ffi, lib, libc
from .iowait import gated

__all__ = ['create_context', 'destroy_context', 'attach_context', 'detach_context',
           'current_context', 'show_context', 'pend_io', 'pend_event', 'poll',
           'pend', 'test_io', 'flush_io', 'ensure_context', 'Context', 'shutdown']


class Context(Identifier):
    """A CA client context; ``_ptr`` is its address (``_cdef.py``), None
    once destroyed."""

    __slots__ = ('_ptr', '__weakref__')

    def __repr__(self) -> str:
        state = 'destroyed' if self._ptr is None else hex(self._ptr)
        return '<ca context %s>' % state


# address -> Context, so the same context always gives the same object
_contexts: Dict[int, Context] = {}
_lock = threading.RLock()
# The process's one preemptive context that threads without one join.
_process_context: Optional[int] = None
# The contexts made here are destroyed at exit (ContextRecord.owned), since
# one left alive keeps libca's threads (and their calls into cffi callbacks)
# running through finalization.

# Destroying a context: each marker marks what belonged to it stale (the
# channels and subscriptions, the sync groups) and hands back what releases
# their handles once libca has let go of them.  Every channel is stale
# before any handle is released, so no __del__ run by a release reaches
# libca with a dead pointer.  None (after a fork, in the child) means every
# context.  Markers, where C calls channels_mark_stale and channels_release:
# this module cannot import channel.py and getput.py (they import it), and
# their registries forget a channel once it is marked stale.
stale_markers: List[Callable[[Optional[int]], Callable[[], None]]] = []


def _context_object(ctx_address: int) -> Context:
    with _lock:
        ctx = _contexts.get(ctx_address)
        if ctx is None:
            ctx = Context._make()
            ctx._ptr = ctx_address
            _contexts[ctx_address] = ctx
        return ctx


def ensure_context(channel_context: int = 0) -> int:
    """Attach the calling thread to a context if it has none: the one of the
    channel it is about to use (*channel_context*, its address), else the
    process context.  -> the address of the thread's context now, the key
    of its records (0 when there is none: the interpreter is exiting), as
    context_current in context.c returns its record.

    A channel works only from a thread attached to its own context: that
    context's flush sends its requests and its pend_io waits for them. A
    thread joining the process context instead would wait on an empty
    account (a read returning before its reply) whenever the channel was
    made in another context, e.g. one the C backend or another library
    (pyepics) made first. Twin of the same rule in live_channel (channel.c).

    ``RuntimeError`` if libca can neither create nor attach it.
    """
    if _common.shutting_down:       # every context call passes here
        iowait.park_if_exiting()
    current: int = lib.ca_current_context()
    if current or _common.shutting_down:
        return current
    # libca refuses another thread's non-preemptive context (ECA_NOTTHREADED):
    # then the process context, as before.
    if channel_context and iowait.context_record(channel_context).valid:
        if lib.ca_attach_context(channel_context) == _common.ECA_NORMAL:
            return channel_context
    global _process_context
    with _lock:
        if _process_context is None:
            status = lib.ca_context_create(1)
            if status != _common.ECA_NORMAL:
                raise RuntimeError('cannot create a CA context: %s'
                                   % _common.c_text(lib.ca_message(status)))
            _process_context = lib.ca_current_context()
            iowait.new_epoch(_process_context, True)
            return _process_context
        status = lib.ca_attach_context(_process_context)
    if status != _common.ECA_NORMAL:
        raise RuntimeError('cannot attach to the CA context: %s'
                           % _common.c_text(lib.ca_message(status)))
    return _process_context


def create_context(preemptive_callback: bool = True) -> ECA:
    """Create a context for the calling thread (``ca_context_create``)."""
    global _process_context
    with _lock:
        had_one = lib.ca_current_context() != 0
        status = lib.ca_context_create(1 if preemptive_callback else 0)
        if status == _common.ECA_NORMAL and not had_one:
            iowait.new_epoch(lib.ca_current_context(), bool(preemptive_callback))
        # Only a context this call created becomes the shared one: one the
        # thread already had may belong to someone else (the C backend
        # shares libca), and two owners would both destroy it at exit.
        if (status == _common.ECA_NORMAL and preemptive_callback and not had_one
                and _process_context is None):
            _process_context = lib.ca_current_context()
    return eca(status)


def destroy_context() -> None:
    """Destroy the calling thread's context (``ca_context_destroy``).

    libca clears its channels and subscriptions; their identifiers become
    stale here first, and the handles libca held for them are released
    after. If other threads stay inside libca on it past a grace period,
    the context is left alive (refusing every call) rather than destroyed
    under them, with a ``RuntimeWarning``.
    """
    global _process_context
    key = lib.ca_current_context()
    if not key:
        return
    rec = iowait.context_record(key)
    if not rec.valid:
        lib.ca_detach_context()     # destroyed under this thread by another one
        return
    with _lock:
        if _process_context == key:
            _process_context = None
        ctx = _contexts.pop(key, None)
        if ctx is not None:
            ctx._ptr = None
    releases = [mark_stale(key) for mark_stale in stale_markers]
    if not rec.drain():
        lib.ca_detach_context()
        warnings.warn('CA context left alive: other threads are still inside libca',
                      RuntimeWarning, stacklevel=2)
        return
    lib.ca_context_destroy()
    for release_handles in releases:
        release_handles()


def attach_context(context: Context) -> ECA:
    """Make the calling thread a member of *context* (``ca_attach_context``)."""
    check(context, Context, 'context')
    if context._ptr is None or _common.shutting_down:
        return ECA.BADCHID
    return eca(lib.ca_attach_context(context._ptr))


def detach_context() -> None:
    """Detach the calling thread from its context (``ca_detach_context``)."""
    lib.ca_detach_context()


def current_context() -> Optional[Context]:
    """The calling thread's context, or None (never creates one)."""
    ctx_address = lib.ca_current_context()
    if not ctx_address:
        return None
    return _context_object(ctx_address)


def show_context(context: Optional[Context] = None, level: int = 0) -> None:
    """Print a context's state (``ca_client_status`` / ``ca_context_status``)."""
    level = _common.as_int(level, 'level')
    if context is not None:
        check(context, Context, 'context')
        if context._ptr is None:
            raise ValueError('the CA context has been destroyed')
    else:
        ctx_address = ensure_context()
    # libca prints with C stdio: Python's buffered output goes first so the
    # report lands in order.
    sys.stdout.flush()
    if context is None:
        gated(ctx_address, None, lib.ca_client_status, level)
    else:
        gated(context._ptr, None, lib.ca_context_status, context._ptr, level)
    libc.fflush(ffi.NULL)


# ---------------------------------------------------------------------------
# execution (cffi releases the GIL around each of these calls, so libca's
# callback threads can take it while the caller waits)

def pend_io(timeout: float) -> ECA:
    """Wait for the gets and connections this thread has outstanding (``ca_pend_io``)."""
    timeout = timeout_arg(timeout)
    ctx_address = ensure_context()
    # As ca_pend_io: a timeout of 0 waits for ever.
    deadline = None if timeout == 0 else time.monotonic() + timeout
    counter = iowait.io_account(ctx_address)
    # libca counts nothing of ours (every channel has a connection handler,
    # every get a callback): this only flushes, and refuses a wait from
    # inside a callback (ECA.EVDISALLOW).
    status = gated(ctx_address, _common.ECA_NOCACTX, lib.ca_pend_io, timeout)
    # Every wait that ends moves the account to a new generation, as libca's
    # does for the whole context: after a timeout (or Ctrl-C) what was
    # outstanding is forgotten, so the next pend_io waits only for what comes
    # after, and a channel made before no longer counts when it disconnects
    # later.
    try:
        if status == _common.ECA_NORMAL:
            status = counter.wait(deadline, ctx_address)
    except BaseException:
        counter.reset()
        raise
    if status == _common.ECA_TIMEOUT or status == _common.ECA_NORMAL:
        counter.reset()
    return eca(status)


def pend_event(timeout: float) -> ECA:
    """Process callbacks for *timeout* seconds (``ca_pend_event``)."""
    timeout = timeout_arg(timeout)
    return eca(iowait.sliced_pend_event(ensure_context(), timeout))


def poll() -> ECA:
    """Process what is pending and return at once (``ca_poll``)."""
    return pend_event(1e-12)


def pend(timeout: float, early: bool) -> ECA:
    """``ca_pend``: ``pend_io`` when *early*, else ``pend_event``."""
    return pend_io(timeout) if early else pend_event(timeout)


def test_io() -> ECA:
    """``ECA.IODONE`` when this thread has no get or connection outstanding (``ca_test_io``)."""
    ctx_address = ensure_context()
    if not iowait.context_record(ctx_address).valid or _common.shutting_down:
        return ECA.NOCACTX
    return ECA.IOINPROGRESS if iowait.io_account(ctx_address).outstanding else ECA.IODONE


def flush_io() -> ECA:
    """Send buffered requests (``ca_flush_io``)."""
    return eca(gated(ensure_context(), _common.ECA_NOCACTX, lib.ca_flush_io))


def _skip_libcom_exit_handlers() -> None:
    """In a forked child of a process that ran libca: make C ``exit()`` end
    the process before libCom's exit handlers run.

    Those handlers (run after Python has finalized) wait for libCom's
    threads to acknowledge shutdown (``twdShutdown`` waits for the task
    watchdog thread), threads that do not exist in the child, so ``exit()``
    would hang forever. ``on_exit`` handlers run last-registered first: this
    one, registered after libCom's, calls ``_exit`` with exit()'s status
    (``_exit(int)`` ignores the extra ``void *`` argument). glibc only, like
    the C backend's twin; Python's own streams are flushed by then.
    """
    if not sys.platform.startswith('linux'):
        return
    try:
        on_exit = libc.on_exit
        quick_exit = ffi.cast('void(*)(int, void *)', libc._exit)
    except AttributeError:        # not glibc
        return
    libc.fflush(ffi.NULL)
    on_exit(quick_exit, ffi.NULL)


def after_fork_in_child() -> None:
    """``os.register_at_fork(after_in_child=...)``: forget the parent's contexts.

    A forked child inherits the parent's context pointer in the forking
    thread's libca slot but none of its threads, so any call on it would wait
    forever, and so would destroying it at exit. The child leaks it on
    purpose, every identifier of it becomes stale, and the next CA call
    creates a fresh context (the same as the C backend's _after_fork_child).
    """
    global _process_context, _lock
    # The lock may have been held by another thread at the fork.
    _lock = threading.RLock()
    if lib.ca_current_context() or _process_context is not None or _contexts:
        _skip_libcom_exit_handlers()
    lib.ca_detach_context()
    _process_context = None
    for ctx in _contexts.values():
        ctx._ptr = None
    _contexts.clear()
    iowait.forget_all()
    # Not every context has a Context object (ensure_context makes none):
    # None asks the hooks to forget what belonged to any context.
    for release_handles in [mark_stale(None) for mark_stale in stale_markers]:
        release_handles()


def shutdown() -> None:
    """At interpreter exit: stop delivering callbacks, refuse every call, and
    destroy every context made here (once no thread is inside libca on it),
    so libca's threads are gone before Python finalizes."""
    iowait.mark_exit_thread()
    _common.shutting_down = True
    mine = lib.ca_current_context()
    # The thread's own first: once detached, a non-preemptive context can
    # not be attached again.
    if mine:
        own = iowait.context_record(mine)
        if own.valid and own.owned:
            destroy_context()
    for ptr in [rec.ptr for rec in iowait.owned_records()]:
        # ca_context_destroy works on the calling thread's context; a
        # non-preemptive one can only be attached by its own thread.
        if ptr != lib.ca_current_context():
            lib.ca_detach_context()
            if lib.ca_attach_context(ptr) != _common.ECA_NORMAL:
                continue
        destroy_context()
    lib.ca_detach_context()
    if mine and iowait.context_record(mine).valid:
        lib.ca_attach_context(mine)

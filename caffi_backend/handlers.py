"""The context-wide exception and printf handlers (the twin of src/handlers.c).

libca installs a handler of each kind per context; the Python callback
behind them is one per process, kept here (as in the C backend), so
installing one from any context replaces what every context's trampoline
calls. No ``usr`` handle is handed to libca for them (they do not count in
``_live_callbacks()``): the trampolines below look the callback up when
libca calls them.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, Optional

from CaChannel._constants import ECA

from . import _common, context
from ._common import c_text, check_optional_callback, eca
from .channel import lookup_channel
from .iowait import gated
from ._ffi import ffi, lib, libc

__all__ = ['add_exception_event', 'replace_printf_handler']

_ECA = _common.ECA_MEMBERS
_DBR = _common.DBR_MEMBERS
_CA_OP = _common.CA_OP_MEMBERS

# libca formats a diagnostic into this many bytes at most; longer ones are
# cut: the va_list can be consumed only once and ABI mode has no va_copy,
# so there is no second try with a bigger buffer.
_PRINTF_BUFFER = 16384

_exception_callback: Optional[Callable[[Dict[str, Any]], Any]] = None
_printf_callback: Optional[Callable[[str], Any]] = None


def _exception_handler(args: Any) -> None:
    callback = _exception_callback
    if callback is None or _common.shutting_down:
        return
    stat = args.stat
    op = args.op
    dbrtype = args.type
    callback({
        'chid': lookup_channel(args.chid),
        'type': _DBR.get(dbrtype, dbrtype),
        'count': args.count,
        'addr': _common.address(args.addr),
        'stat': _ECA.get(stat, stat),
        'op': _CA_OP.get(op, op),
        'ctx': c_text(args.ctx),
        'file': c_text(args.pFile),
        'lineNo': args.lineNo,
    })


def _printf_handler(pformat: Any, va_args: Any) -> int:
    callback = _printf_callback
    buffer = ffi.new('char[]', _PRINTF_BUFFER)
    written = libc.vsnprintf(buffer, _PRINTF_BUFFER, pformat, va_args)
    text = ffi.string(buffer).decode('utf-8', 'replace')
    if callback is not None and not _common.shutting_down:
        callback(text)
    else:
        sys.stderr.write(text)
    return written


_exception_cb = ffi.callback('void(*)(struct exception_handler_args)', _exception_handler,
                             onerror=_common.report_callback_error)
_printf_cb = ffi.callback('int(*)(const char *, void *)', _printf_handler,
                          onerror=_common.report_callback_error)


def add_exception_event(callback: Optional[Callable[[Dict[str, Any]], Any]] = None) -> ECA:
    """Install the exception handler of the calling thread's context.

    The callback gets ``{'chid', 'type', 'count', 'addr', 'stat', 'op',
    'ctx', 'file', 'lineNo'}``; None (or a non-callable) restores libca's
    default handler, which prints the exception.
    A callback that is neither callable nor None is a ``TypeError``.
    """
    global _exception_callback
    check_optional_callback(callback)
    ctx_address = context.ensure_context()
    if callback is not None:
        _exception_callback = callback
        return eca(gated(ctx_address, _common.ECA_NOCACTX,
                         lib.ca_add_exception_event, _exception_cb, ffi.NULL))
    status = gated(ctx_address, _common.ECA_NOCACTX,
                   lib.ca_add_exception_event, ffi.NULL, ffi.NULL)
    _exception_callback = None
    return eca(status)


def replace_printf_handler(callback: Optional[Callable[[str], Any]] = None) -> ECA:
    """Send libca's diagnostic messages, each formatted as one str, to
    *callback*; None restores printing to stderr."""
    global _printf_callback
    check_optional_callback(callback)
    ctx_address = context.ensure_context()
    if callback is not None:
        _printf_callback = callback
        return eca(gated(ctx_address, _common.ECA_NOCACTX,
                         lib.ca_replace_printf_handler, _printf_cb))
    status = gated(ctx_address, _common.ECA_NOCACTX,
                   lib.ca_replace_printf_handler, ffi.NULL)
    _printf_callback = None
    return eca(status)

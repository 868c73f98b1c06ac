"""Writes the server refused, told to the ``putw`` that made them.

A server answers a refused plain write (a record with DISP=1, a state an
enum does not have, a field nobody may change) with an error message that
libca hands to the context's exception handler; by default libca only
prints its ``CA.Client.Exception`` banner.  A server answers the requests of
one circuit in order, so a read sent right after the write is answered after
the refusal, if there is one: :meth:`CaChannel.putw` sends that read, waits
for it, and asks the :class:`ExceptionRouter` what came for its channel in
the meantime.

The router is the exception handler of every context in which ``putw`` (or
:meth:`CaChannel.add_exception_event`) ran.  A refusal a ``putw`` waits for
goes to that ``putw`` (which raises it); anything else goes to the callback
installed with :meth:`CaChannel.add_exception_event`, or is printed as
libca's default handler prints it.
"""

from __future__ import annotations

import sys
import threading
import types
from contextlib import contextmanager
from ._constants import CA_K, CA_OP, dbr_type_to_text

_TYPE_CHECKING = False
if _TYPE_CHECKING:  # typing costs milliseconds of every start-up; annotations are strings
    from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

    Callback = Callable[[Dict[str, Any]], Any]

__all__ = ['router']

# libca's banner names a status's severity with these words.
_SEVERITY_WORD = {CA_K.WARNING: 'Warning', CA_K.SUCCESS: 'Success', CA_K.ERROR: 'Error',
                  CA_K.INFO: 'Info'}


class ExceptionRouter:
    """The exception handler CaChannel installs, one per backend."""

    def __init__(self, cam: types.ModuleType) -> None:
        self._cam = cam
        # chid -> (the refusals received while a putw on it waits for its
        # read, a lock held until that watch ends)
        self._watched: Dict[Any, Tuple[List[Any], Any]] = {}
        self._watched_lock = threading.Lock()
        #: what CaChannel.add_exception_event installed (None: print the banner)
        self.user_callback: Optional[Callback] = None
        #: what CaChannel.replace_printf_handler installed (None: stderr)
        self.printer: Optional[Callable[[str], Any]] = None

    def install(self) -> None:
        """Be the exception handler of the calling thread's context.

        Done again before every ``putw``, not once per context: the other
        backend, loaded beside this one (the test suite runs both in one
        process), shares libca's contexts and may have put its own handler
        there since.  It costs one libca call that only sets a pointer.
        """
        # add_exception_event joins (or makes) the thread's context first
        self._cam.add_exception_event(self)

    @contextmanager
    def watching(self, chid: Any) -> Iterator[List[Any]]:
        """Collect the write refusals for *chid* while the block runs.

        One watch per channel at a time: two threads' ``putw`` on one
        channel take turns, so each refusal has one owner.
        """
        # No threading.Condition: its wait takes the lock back in Python
        # code, where a KeyboardInterrupt leaves it released (see
        # caffi_backend/iowait.py); a watch's own lock, held until it ends,
        # is what a later putw on the channel waits on.
        refusals: List[Any] = []
        ended = threading.Lock()
        ended.acquire()
        registered = False
        try:
            while not registered:
                with self._watched_lock:
                    before = self._watched.get(chid)
                    if before is None:
                        self._watched[chid] = (refusals, ended)
                        registered = True
                if before is not None:
                    with before[1]:     # until that watch ends
                        pass
            yield refusals
        finally:
            if registered:
                with self._watched_lock:
                    del self._watched[chid]
                    ended.release()

    def __call__(self, args: Dict[str, Any]) -> None:
        if args['op'] == CA_OP.PUT:
            watch = self._watched.get(args['chid'])
            if watch is not None:
                # putw raises it; printing it too would report it twice
                watch[0].append(args['stat'])
                return
        callback = self.user_callback
        if callback is not None:
            callback(args)
        else:
            self._print_banner(args)

    def _print_banner(self, args: Dict[str, Any]) -> None:
        """What libca's default handler prints, for the exceptions no one claimed."""
        stat = args['stat']
        try:
            word = _SEVERITY_WORD.get(stat.severity(), 'Fatal')
            text = stat.message()
        except AttributeError:  # a status no ECA member has
            word, text = 'Error', self._cam.message(stat)
        context = args['ctx']
        try:
            channel = self._cam.name(args['chid']) if args['chid'] is not None else None
        except TypeError:   # a channel of the other backend, loaded beside this one
            channel = None
        if channel is not None:
            context = 'op=%d, channel=%s, type=%s, count=%d, ctx="%s"' % (
                int(args['op']), channel, dbr_type_to_text(args['type']), args['count'],
                context)
        import datetime   # here, not at import: 1.3 ms of every start-up
        stamp = datetime.datetime.now().strftime('%a %b %d %Y %H:%M:%S.%f')
        lines = ['CA.Client.Exception' + '.' * 47,
                 '    %s: "%s"' % (word, text),
                 '    Context: "%s"' % context]
        if args['file']:
            lines.append('    Source File: %s line %d' % (args['file'], args['lineNo']))
        lines.append('    Current Time: %s' % stamp)
        lines.append('.' * 66)
        text = '\n'.join(lines) + '\n'
        printer = self.printer
        if printer is not None:
            printer(text)
        else:
            sys.stderr.write(text)
            sys.stderr.flush()


_routers: Dict[str, ExceptionRouter] = {}
_routers_lock = threading.Lock()


def router(cam: types.ModuleType) -> ExceptionRouter:
    """The router of the backend *cam* (a ``ca`` module)."""
    found = _routers.get(cam.backend)
    if found is None:
        with _routers_lock:
            found = _routers.setdefault(cam.backend, ExceptionRouter(cam))
    return found

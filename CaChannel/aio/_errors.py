"""``CANothing``: the result, or the exception, that names a PV and a CA status."""

from __future__ import annotations

from typing import Any

from .. import _constants as C
from ._values import ExceptionBase


def status_text(status: int) -> str:
    """libca's text of *status*, from the backend in use."""
    from ..CaChannel import _chosen_ca
    return str(_chosen_ca().message(status))


class CANothing(ExceptionBase):  # type: ignore[misc,valid-type]
    """A value-less result: success of ``caput``/``connect``, or the failure
    of any call on one PV, with its name and ECA status.

    Returned where ``throw=False``, raised otherwise; true when the status
    is ``ECA_NORMAL``.  With the epicscorelibs wheel it is also an
    ``epicscorelibs.ca.cadef.CAException`` (``.status`` is the code).
    """

    # Slots: connect() on a list makes one per PV.
    __slots__ = ('name', 'errorcode', 'ok')

    def __init__(self, name: str, errorcode: int = C.ECA_NORMAL) -> None:
        Exception.__init__(self)
        #: The PV's name.
        self.name: str = name
        #: The ECA status code.
        self.errorcode: int = int(errorcode)
        #: True when ``errorcode`` is ``ECA_NORMAL``.
        self.ok: bool = self.errorcode == C.ECA_NORMAL

    # What handlers of epicscorelibs' cadef.CAException read.
    @property
    def status(self) -> int:
        return self.errorcode

    function: Any = None

    def __repr__(self) -> str:
        return 'CANothing(%r, %d)' % (self.name, self.errorcode)

    def __str__(self) -> str:
        return '%s: %s' % (self.name, status_text(self.errorcode))

    def __bool__(self) -> bool:
        return self.ok

    # An exception is iterable through its args in no Python, but a result
    # list of values is; say clearly that this one is not.
    __iter__ = None  # type: ignore[assignment]

"""The fields of the ``ca`` layer's DBR dicts and the ranges of integer puts:
the one definition both backends, the object layer and the console tools
read.

Why not ``_constants``: everything there is a public ``CaChannel.ca`` name
(``ca`` re-exports its ``__all__``); these tables describe how the layers
lay out and check values, and are no user constants.

The C extension keeps its own C copy for speed (the interned keys of
``caext.h``, ``GR_LIMITS`` in ``dbr.c``, the ranges of ``put_integer`` from
``<stdint.h>``); ``tests/test_constants.py`` compares it with these tables.
"""

from __future__ import annotations

import collections

from ._constants import DBR

__all__ = ['LimitField', 'GR_LIMITS', 'CTRL_LIMITS', 'LIMIT_LINES', 'INTEGER_RANGES']

# typing costs milliseconds of every script's start-up (this module is read
# at import): type checkers see the typed record, Python the same fields
# through collections.  Named TYPE_CHECKING, unlike the _TYPE_CHECKING of the
# other modules, because mypy takes only that name as true and so skips the
# else branch, which would otherwise define LimitField twice.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, NamedTuple, Tuple

    class LimitField(NamedTuple):
        """One limit of the GR/CTRL structures."""

        #: The ``ca`` dict key, which is also db_access.h's field name.
        key: str
        #: The object layer's key (the caPython name) in ``pv_*`` dicts.
        pv_key: str
        #: The label of base's ``cainfo`` and ``caget -d`` line.
        label: str
else:
    LimitField = collections.namedtuple('LimitField', ('key', 'pv_key', 'label'))


#: The six limits of every numeric ``DBR_GR_*`` structure, in db_access.h's order.
GR_LIMITS: Tuple[LimitField, ...] = (
    LimitField('upper_disp_limit', 'pv_updislim', 'Hi disp limit'),
    LimitField('lower_disp_limit', 'pv_lodislim', 'Lo disp limit'),
    LimitField('upper_alarm_limit', 'pv_upalarmlim', 'Hi alarm limit'),
    LimitField('upper_warning_limit', 'pv_upwarnlim', 'Hi warn limit'),
    LimitField('lower_warning_limit', 'pv_lowarnlim', 'Lo warn limit'),
    LimitField('lower_alarm_limit', 'pv_loalarmlim', 'Lo alarm limit'),
)

#: ``DBR_CTRL_*``: the GR limits, then the two control limits.
CTRL_LIMITS: Tuple[LimitField, ...] = GR_LIMITS + (
    LimitField('upper_ctrl_limit', 'pv_upctrllim', 'Hi ctrl limit'),
    LimitField('lower_ctrl_limit', 'pv_loctrllim', 'Lo ctrl limit'),
)

#: The order base prints them in (low before high, alarm outside warning).
LIMIT_LINES: Tuple[LimitField, ...] = tuple(CTRL_LIMITS[i] for i in (1, 0, 5, 4, 3, 2, 7, 6))

#: (lowest, highest) value a put of each integer request type takes; ``CHAR``
#: also takes -128..-1, the bytes a signed CHAR field holds.
INTEGER_RANGES: Dict[DBR, Tuple[int, int]] = {
    DBR.SHORT: (-0x8000, 0x7FFF),
    DBR.ENUM: (0, 0xFFFF),
    DBR.CHAR: (-0x80, 0xFF),
    DBR.LONG: (-0x80000000, 0x7FFFFFFF),
}

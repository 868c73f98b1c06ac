"""Bad input catalogue: every case gets a clear Python exception or an ECA
status, never a crash, a hang or a wrong value written.  Both backends.

The listed part (``CASES``, well over 200 per backend) covers wrong types
for the arguments of every ``ca`` function, None, negative/huge/float
counts, unknown DBR types, stale/cleared/foreign identifiers, double
clears, strings of 39/40/41+ bytes, non-UTF-8 bytes, NaN/inf, numpy arrays
of odd dtypes and shapes, non-callable callbacks and callbacks that raise.
After every put that was refused, the PV still holds its previous value.
The generated part uses hypothesis (``max_examples`` per test below).

Writes go to the session IOC's calong, castr, cabo, cawave, cawaveh, cawavec
and catest; the scalars get their values back at the end of the module.
"""

from __future__ import annotations

import math
from typing import Any, Callable, List, Tuple

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.ca_helpers import connect, get_value, settle, wait_until

ALLOWED = (TypeError, ValueError, OverflowError)
EXAMPLES = 60


class Env:
    """Connected channels of one backend for the whole module."""

    def __init__(self, ca: Any) -> None:
        self.ca = ca
        self.ch = {name: connect(ca, name) for name in
                   ('catest', 'calong', 'castr', 'cabo', 'cawave', 'cawaveh', 'cawavec')}
        # What the scalars hold now, put back at the end of the module: later
        # tests read them (castr as text, say).
        self.original = {name: get_value(ca, self.ch[name]) for name in
                         ('catest', 'calong', 'castr', 'cabo')}
        status, self.stale = ca.create_channel('catest')
        assert ca.pend_io(5) == ca.ECA.NORMAL
        assert ca.clear_channel(self.stale) == ca.ECA.NORMAL
        status, self.stale_evid = ca.create_subscription(self.ch['calong'], lambda a: None)
        assert ca.clear_subscription(self.stale_evid) == ca.ECA.NORMAL
        status, self.stale_gid = ca.sg_create()
        assert ca.sg_delete(self.stale_gid) == ca.ECA.NORMAL


_envs: dict = {}


@pytest.fixture(scope='module', autouse=True)
def _restore_values():
    yield
    for env in _envs.values():
        ca = env.ca
        for name, value in env.original.items():
            ca.put(env.ch[name], value)
        ca.flush_io()
        for chid in env.ch.values():
            ca.clear_channel(chid)
        ca.flush_io()


@pytest.fixture
def env(ca_backend):
    if ca_backend.backend not in _envs:
        _envs[ca_backend.backend] = Env(ca_backend)
    return _envs[ca_backend.backend]


def outcome(call: Callable[[], Any]) -> Any:
    """The call's result, or the exception class it raised (only the allowed
    ones; anything else fails the test)."""
    try:
        return call()
    except ALLOWED as exc:
        return next(kind for kind in ALLOWED if isinstance(exc, kind))


def is_clear(ca: Any, result: Any) -> bool:
    """A clear answer: an allowed exception class, or a status (or a pair
    led by a status)."""
    if isinstance(result, type) and issubclass(result, ALLOWED):
        return True
    if isinstance(result, tuple):
        result = result[0]
    return isinstance(result, ca.ECA)


# --- the listed catalogue ---------------------------------------------------
# Each case: (id, function(env) -> result, check(env, result) -> bool or None).
# A None check means "a clear answer" (is_clear).

CASES: List[Tuple[str, Callable[[Env], Any], Any]] = []


def case(name: str, call: Callable[[Env], Any], check: Any = None) -> None:
    CASES.append((name, call, check))


def raises(*kinds: type) -> Callable[[Env, Any], bool]:
    return lambda env, result: result in kinds


def status(*names: str) -> Callable[[Env, Any], bool]:
    def check(env: Env, result: Any) -> bool:
        if isinstance(result, tuple):
            result = result[0]
        return result in [env.ca.ECA[name] for name in names]
    return check


NOT_IDS = [None, 1, -1, 'catest', b'catest', 1.5, object(), [], {}, numpy.int64(3)]
CHID_FUNCS = {
    'clear_channel': lambda ca, c: ca.clear_channel(c),
    'field_type': lambda ca, c: ca.field_type(c),
    'element_count': lambda ca, c: ca.element_count(c),
    'name': lambda ca, c: ca.name(c),
    'state': lambda ca, c: ca.state(c),
    'host_name': lambda ca, c: ca.host_name(c),
    'read_access': lambda ca, c: ca.read_access(c),
    'write_access': lambda ca, c: ca.write_access(c),
    'get': lambda ca, c: ca.get(c),
    'get_cb': lambda ca, c: ca.get(c, callback=lambda a: None),
    'put': lambda ca, c: ca.put(c, 1),
    'put_cb': lambda ca, c: ca.put(c, 1, callback=lambda a: None),
    'create_subscription': lambda ca, c: ca.create_subscription(c, lambda a: None),
    'change_connection_event': lambda ca, c: ca.change_connection_event(c, None),
    'replace_access_rights_event': lambda ca, c: ca.replace_access_rights_event(c, None),
}
for fname, fn in CHID_FUNCS.items():
    for i, bad in enumerate(NOT_IDS):
        case(f'{fname}-notchid{i}', lambda env, fn=fn, bad=bad: fn(env.ca, bad),
             raises(TypeError))

# stale (cleared) channel
STALE_EXPECT = {
    'clear_channel': status('BADCHID'), 'get': status('BADCHID'), 'get_cb': status('BADCHID'),
    'put': status('BADCHID'), 'put_cb': status('BADCHID'),
    'create_subscription': status('BADCHID'), 'change_connection_event': status('BADCHID'),
    'replace_access_rights_event': status('BADCHID'),
    'field_type': lambda env, r: r == -1, 'element_count': lambda env, r: r == 0,
    'name': lambda env, r: r == 'catest', 'host_name': lambda env, r: r == '',
    'read_access': lambda env, r: r is False, 'write_access': lambda env, r: r is False,
    'state': lambda env, r: r == env.ca.ChannelState.CLOSED,
}
for fname, fn in CHID_FUNCS.items():
    case(f'{fname}-stale', lambda env, fn=fn: fn(env.ca, env.stale), STALE_EXPECT[fname])
    # twice: the same answer, never a crash
    case(f'{fname}-stale-again', lambda env, fn=fn: fn(env.ca, env.stale), STALE_EXPECT[fname])

# other identifiers where a chid is expected, and the reverse
case('get-evid-as-chid', lambda env: env.ca.get(env.stale_evid), raises(TypeError))
case('get-gid-as-chid', lambda env: env.ca.get(env.stale_gid), raises(TypeError))
case('clear_subscription-chid', lambda env: env.ca.clear_subscription(env.ch['catest']),
     raises(TypeError))
case('sg_delete-chid', lambda env: env.ca.sg_delete(env.ch['catest']), raises(TypeError))
case('attach_context-chid', lambda env: env.ca.attach_context(env.ch['catest']),
     raises(TypeError))
for i, bad in enumerate(NOT_IDS):
    case(f'clear_subscription-bad{i}', lambda env, bad=bad: env.ca.clear_subscription(bad),
         raises(TypeError))
    case(f'sg_block-bad{i}', lambda env, bad=bad: env.ca.sg_block(bad, 1.0), raises(TypeError))
    case(f'attach_context-bad{i}', lambda env, bad=bad: env.ca.attach_context(bad),
         raises(TypeError))
case('clear_subscription-stale', lambda env: env.ca.clear_subscription(env.stale_evid),
     status('BADMONID'))
for fname in ('sg_delete', 'sg_test', 'sg_reset'):
    case(f'{fname}-stale', lambda env, f=fname: getattr(env.ca, f)(env.stale_gid),
         status('BADSYNCGRP'))
case('sg_block-stale', lambda env: env.ca.sg_block(env.stale_gid, 0.1), status('BADSYNCGRP'))
case('sg_get-stale', lambda env: env.ca.sg_get(env.stale_gid, env.ch['catest']),
     status('BADSYNCGRP'))
case('sg_put-stale', lambda env: env.ca.sg_put(env.stale_gid, env.ch['calong'], 1),
     status('BADSYNCGRP'))

# request types
BAD_TYPES = [-1, -3, 39, 40, 1000, 2 ** 40, -2 ** 70]
for i, t in enumerate(BAD_TYPES):
    case(f'get-type{i}', lambda env, t=t: env.ca.get(env.ch['catest'], t), status('BADTYPE'))
    case(f'get_cb-type{i}', lambda env, t=t: env.ca.get(env.ch['catest'], t, callback=print),
         status('BADTYPE'))
    case(f'put-type{i}', lambda env, t=t: env.ca.put(env.ch['calong'], 1, t), status('BADTYPE'))
    case(f'sub-type{i}', lambda env, t=t: env.ca.create_subscription(env.ch['catest'], print, t),
         status('BADTYPE'))
for i, t in enumerate(['DOUBLE', b'6', 6.0, [6], object()]):
    case(f'get-typeobj{i}', lambda env, t=t: env.ca.get(env.ch['catest'], t), raises(TypeError))
    case(f'put-typeobj{i}', lambda env, t=t: env.ca.put(env.ch['calong'], 1, t),
         raises(TypeError))
# the put-only and read-only types
case('get-PUT_ACKT', lambda env: env.ca.get(env.ch['catest'], env.ca.DBR_PUT_ACKT),
     status('BADTYPE'))
case('put-TIME_DOUBLE', lambda env: env.ca.put(env.ch['catest'], 1.0, env.ca.DBR_TIME_DOUBLE),
     status('BADTYPE'))
case('put-CLASS_NAME', lambda env: env.ca.put(env.ch['castr'], 'x', env.ca.DBR_CLASS_NAME),
     status('BADTYPE'))

# counts
for i, n in enumerate([1.5, '3', b'3', [3], True, numpy.float64(2.0), object()]):
    case(f'get-count{i}', lambda env, n=n: env.ca.get(env.ch['cawave'], None, n),
         raises(TypeError))
    case(f'put-count{i}', lambda env, n=n: env.ca.put(env.ch['cawave'], [1.0], None, n),
         raises(TypeError))
    case(f'sub-count{i}', lambda env, n=n: env.ca.create_subscription(env.ch['cawave'], print,
                                                                      None, n),
         raises(TypeError))
for i, n in enumerate([-1, 0, 2 ** 40, -2 ** 70, 2 ** 70, numpy.int32(3), 10 ** 6]):
    # valid: normalised to the native count (or the server's length)
    case(f'get-goodcount{i}', lambda env, n=n: env.ca.get(env.ch['cawave'], None, n),
         status('NORMAL'))
    case(f'get_cb-goodcount{i}',
         lambda env, n=n: env.ca.get(env.ch['cawave'], None, n, callback=lambda a: None),
         status('NORMAL'))

# callbacks that are not callable
for i, bad in enumerate([1, 'print', b'x', object(), [print]]):
    case(f'get-cb{i}', lambda env, bad=bad: env.ca.get(env.ch['catest'], callback=bad),
         raises(TypeError))
    case(f'put-cb{i}', lambda env, bad=bad: env.ca.put(env.ch['calong'], 1, callback=bad),
         raises(TypeError))
    case(f'sub-cb{i}', lambda env, bad=bad: env.ca.create_subscription(env.ch['catest'], bad),
         raises(TypeError))
    case(f'create_channel-cb{i}', lambda env, bad=bad: env.ca.create_channel('catest', bad),
         raises(TypeError))
    case(f'exception_event-cb{i}', lambda env, bad=bad: env.ca.add_exception_event(bad),
         raises(TypeError))
    case(f'printf-cb{i}', lambda env, bad=bad: env.ca.replace_printf_handler(bad),
         raises(TypeError))

# channel names
for i, bad in enumerate([None, 1, 1.5, ['catest'], object()]):
    case(f'create_channel-name{i}', lambda env, bad=bad: env.ca.create_channel(bad),
         raises(TypeError))
case('create_channel-nul', lambda env: env.ca.create_channel('cat\0est'), raises(ValueError))
case('create_channel-nul-bytes', lambda env: env.ca.create_channel(b'cat\0est'),
     raises(ValueError))
case('create_channel-priority-str', lambda env: env.ca.create_channel('x', None, 'high'),
     raises(TypeError))
case('create_channel-priority-huge', lambda env: env.ca.create_channel('x', None, 2 ** 70),
     raises(TypeError, OverflowError, ValueError))

# timeouts
for fname in ('pend_io', 'pend_event'):
    for i, bad in enumerate([-1, -0.5, float('nan')]):
        case(f'{fname}-timeout{i}', lambda env, f=fname, bad=bad: getattr(env.ca, f)(bad),
             raises(ValueError))
    for i, bad in enumerate([None, 'x', b'1', [1], object()]):
        case(f'{fname}-timeouttype{i}', lambda env, f=fname, bad=bad: getattr(env.ca, f)(bad),
             raises(TypeError))

# messages and helpers
for i, bad in enumerate([None, 'x', 1.5, object()]):
    case(f'message-{i}', lambda env, bad=bad: env.ca.message(bad), raises(TypeError))
case('show_context-bad', lambda env: env.ca.show_context(env.ch['catest']), raises(TypeError))


# --- puts that must be refused, and what the PV holds afterwards -----------

def refused_put(pv: str, value: Any, chtype: Any = None, kinds=ALLOWED) -> None:
    def call(env: Env) -> Any:
        ca = env.ca
        chid = env.ch[pv]
        before = get_value(ca, chid, ca.DBR_STRING if pv == 'castr' else None)
        result = outcome(lambda: ca.put(chid, value, chtype))
        settle(ca, 0.02)
        after = get_value(ca, chid, ca.DBR_STRING if pv == 'castr' else None)
        same = (before == after) if not isinstance(before, list) else list(before) == list(after)
        return result, same
    label = f'refused-{pv}-{type(value).__name__}-{len(CASES)}'
    case(label, call, lambda env, r: r[0] in kinds and r[1])


for text in ['x' * 40, 'x' * 41, 'y' * 100, b'z' * 40, 'é' * 20]:   # 40+ bytes
    refused_put('castr', text, kinds=(ValueError,))
for value in [None, {}, object(), 1j, [[]], [object()]]:
    refused_put('castr', value, kinds=(TypeError, ValueError))
for value in [float('nan'), numpy.nan]:
    refused_put('calong', value, kinds=(ValueError,))
for value in [float('inf'), -float('inf'), 2 ** 31, -2 ** 31 - 1, 2 ** 70, 1e300,
              numpy.uint64(2 ** 63)]:
    refused_put('calong', value, kinds=(OverflowError,))
for value in ['abc', b'12x', '', '1e', 'nan?']:
    refused_put('calong', value, kinds=(ValueError,))
for value in [None, 1j, {}, object(), numpy.array([1j, 2j])]:
    refused_put('calong', value, kinds=(TypeError,))
for value in [numpy.array([1j, 2j]), numpy.array(['a', 'b']), numpy.array([object()]),
              numpy.array([1e300], dtype=float), numpy.array([2 ** 40], dtype=numpy.int64),
              numpy.array([numpy.nan]), [1, 'x'], [None, 1]]:
    refused_put('cawaveh', value, kinds=(TypeError, ValueError, OverflowError))
for value in [[300], [-200], numpy.array([256], dtype=numpy.int32), 'x' * 3 + '\0']:
    refused_put('cawavec', value, kinds=(OverflowError, ValueError)) if not isinstance(
        value, str) else None


# --- puts that must be accepted, and read back exactly ---------------------

def accepted_put(pv: str, value: Any, expect: Any, chtype: Any = None,
                 use_numpy: bool = False) -> None:
    def call(env: Env) -> Any:
        ca = env.ca
        chid = env.ch[pv]
        result = ca.put(chid, value, chtype)
        settle(ca, 0.02)
        read_type = ca.DBR_STRING if pv == 'castr' else None
        got = get_value(ca, chid, read_type, use_numpy=use_numpy)
        return result, got
    label = f'accepted-{pv}-{type(value).__name__}-{len(CASES)}'

    def check(env: Env, r: Any) -> bool:
        result, got = r
        if result != env.ca.ECA.NORMAL:
            return False
        if isinstance(expect, float) and math.isnan(expect):
            return isinstance(got, float) and math.isnan(got)
        if isinstance(got, numpy.ndarray):
            got = got.tolist()
        if isinstance(got, list) and isinstance(expect, list):
            return got[:len(expect)] == expect
        return got == expect
    case(label, call, check)


accepted_put('castr', 'x' * 39, 'x' * 39)
accepted_put('castr', b'\xff\xfe raw', b'\xff\xfe raw')          # not UTF-8: bytes back
accepted_put('castr', '', '')
accepted_put('castr', 'é' * 19, 'é' * 19)                        # 38 bytes
accepted_put('castr', 12.5, '12.5')
accepted_put('calong', '0x10', 16)
accepted_put('calong', 2 ** 31 - 1, 2 ** 31 - 1)
accepted_put('calong', -2 ** 31, -2 ** 31)
accepted_put('calong', -7.9, -7)                                 # truncated toward zero
accepted_put('calong', numpy.int8(-5), -5)
accepted_put('calong', True, 1)
accepted_put('catest', float('nan'), float('nan'))
accepted_put('catest', float('inf'), float('inf'))
accepted_put('catest', numpy.float32(0.5), 0.5)
accepted_put('catest', numpy.array(2.25), 2.25)                  # 0-d array
accepted_put('cawave', numpy.arange(6, dtype=numpy.float16), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
accepted_put('cawave', numpy.arange(6).reshape(2, 3), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
accepted_put('cawave', numpy.arange(12)[::2], [0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
accepted_put('cawave', numpy.arange(100, dtype=float), [float(i) for i in range(20)])
accepted_put('cawave', numpy.array([True, False, True]), [1.0, 0.0, 1.0])
accepted_put('cawave', numpy.array([3], dtype=numpy.uint64), [3.0])
accepted_put('cawave', (1, 2.5, '3'), [1.0, 2.5, 3.0])
accepted_put('cawaveh', numpy.array([-32768, 32767], dtype=numpy.int64), [-32768, 32767])
accepted_put('cawaveh', numpy.array([1.9, -1.9]), [1, -1])
accepted_put('cawavec', 'abc', [97, 98, 99, 0])
accepted_put('cawavec', [-1, 255], [255, 255])
accepted_put('cabo', 'Busy', 1)
accepted_put('cabo', 0, 0)


# --- callbacks that raise ------------------------------------------------------

def raising_callbacks(env: Env) -> Any:
    ca = env.ca
    calls = []

    def bad(args: dict) -> None:
        calls.append(args['status'])
        raise RuntimeError('callback failure on purpose')

    import sys
    seen = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(u.exc_type)
    try:
        assert ca.get(env.ch['catest'], callback=bad)[0] == ca.ECA.NORMAL
        assert ca.put(env.ch['calong'], 3, callback=bad) == ca.ECA.NORMAL
        status, evid = ca.create_subscription(env.ch['calong'], bad)
        wait_until(ca, lambda: len(calls) >= 3 and len(seen) >= 3, 5.0)
        ca.clear_subscription(evid)
    finally:
        sys.unraisablehook = old_hook
    # and the backend still works
    return len(calls), seen.count(RuntimeError), get_value(ca, env.ch['calong'])


case('raising-callbacks', raising_callbacks, lambda env, r: r[0] >= 3 and r[1] >= 3 and r[2] == 3)


def foreign_chid(env: Env) -> Any:
    from CaChannel import ca as ca_module
    other = 'caffi' if env.ca.backend == 'c' else 'c'
    other_ca = ca_module.load_backend(other)
    status, chid = other_ca.create_channel('catest')
    try:
        return [outcome(lambda f=f: f(env.ca, chid)) for f in CHID_FUNCS.values()]
    finally:
        other_ca.clear_channel(chid)


case('foreign-chid', foreign_chid, lambda env, r: all(x is TypeError for x in r))


def double_clears(env: Env) -> Any:
    ca = env.ca
    status, chid = ca.create_channel('calong')
    ca.pend_io(5)
    status, evid = ca.create_subscription(chid, lambda a: None)
    status, gid = ca.sg_create()
    return ([ca.clear_subscription(evid), ca.clear_subscription(evid)],
            [ca.clear_channel(chid), ca.clear_channel(chid)],
            [ca.sg_delete(gid), ca.sg_delete(gid)])


case('double-clears', double_clears, lambda env, r: (
    r[0] == [env.ca.ECA.NORMAL, env.ca.ECA.BADMONID]
    and r[1] == [env.ca.ECA.NORMAL, env.ca.ECA.BADCHID]
    and r[2] == [env.ca.ECA.NORMAL, env.ca.ECA.BADSYNCGRP]))


def test_catalogue_is_large_enough():
    assert len(CASES) >= 200, len(CASES)


@pytest.mark.parametrize('name,call,check', CASES, ids=[c[0] for c in CASES])
def test_bad_input(env, name, call, check):
    result = outcome(lambda: call(env))
    if check is None:
        assert is_clear(env.ca, result), result
    else:
        assert check(env, result), result
    # The backend still answers afterwards.
    assert env.ca.state(env.ch['catest']) == env.ca.ChannelState.CONN


# --- generated (hypothesis) ------------------------------------------------------

SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(value=st.one_of(st.integers(), st.floats(), st.text(max_size=12),
                       st.binary(max_size=12), st.booleans()))
def test_put_long_generated(env, value):
    ca = env.ca
    chid = env.ch['calong']
    before = get_value(ca, chid)
    result = outcome(lambda: ca.put(chid, value))
    settle(ca, 0.005)
    after = get_value(ca, chid)
    if result == ca.ECA.NORMAL:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert after == int(value)
    else:
        assert result in ALLOWED, result
        assert after == before        # nothing written


@SETTINGS
@given(raw=st.binary(max_size=60))
def test_put_string_generated(env, raw):
    ca = env.ca
    chid = env.ch['castr']
    before = get_value(ca, chid)
    result = outcome(lambda: ca.put(chid, raw))
    settle(ca, 0.005)
    after = get_value(ca, chid)
    if len(raw) >= 40:
        assert result is ValueError and after == before
    else:
        assert result == ca.ECA.NORMAL
        text = raw.split(b'\0')[0]           # C strings end at the first 0
        try:
            expected: Any = text.decode('utf-8')
        except UnicodeDecodeError:
            expected = text
        assert after == expected


@SETTINGS
@given(values=st.lists(st.floats(width=32, allow_nan=False), max_size=30),
       dtype=st.sampled_from(['f4', 'f8', 'i2', 'i4', 'u1', 'O']))
def test_put_array_generated(env, values, dtype):
    ca = env.ca
    chid = env.ch['cawave']
    try:
        # A float beyond the integer type (inf) has no value there: numpy
        # would warn and make one up.
        with numpy.errstate(invalid='raise'):
            array = numpy.array(values).astype(dtype)
    except (OverflowError, ValueError, FloatingPointError):
        return
    result = outcome(lambda: ca.put(chid, array))
    assert result == ca.ECA.NORMAL or result in ALLOWED, result
    if result == ca.ECA.NORMAL and len(array):
        settle(ca, 0.005)
        got = get_value(ca, chid, count=len(array[:20]))
        got = got if isinstance(got, list) else [got]
        assert numpy.allclose(got, array[:20].astype(float))


@SETTINGS
@given(chtype=st.one_of(st.none(), st.integers(-50, 60), st.integers()),
       count=st.one_of(st.none(), st.integers(-5, 40), st.integers()),
       with_callback=st.booleans())
def test_get_arguments_generated(env, chtype, count, with_callback):
    ca = env.ca
    got = []
    callback = got.append if with_callback else None
    result = outcome(lambda: ca.get(env.ch['cawave'], chtype, count, callback=callback))
    assert is_clear(ca, result), result
    if isinstance(result, tuple) and result[0] == ca.ECA.NORMAL:
        if with_callback:
            assert wait_until(ca, lambda: len(got) == 1, 5.0)
            assert got[0]['status'] in (ca.ECA.NORMAL, ca.ECA.BADCOUNT, ca.ECA.NOCONVERT)
        else:
            assert ca.pend_io(5.0) == ca.ECA.NORMAL
            result[1].get()

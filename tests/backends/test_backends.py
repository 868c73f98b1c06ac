"""The two backends of ``CaChannel.ca`` keep one API and give the same values.

* Both export exactly the public names of ``_names.FUNCTIONS + _names.TYPES``,
  accept the same argument names (compared with ``inspect.signature`` where
  both backends support it, and by calling with keywords everywhere), and
  share the very same constant objects.
* A value read through one backend equals the value read through the other,
  for every readable DBR type on scalar and array PVs (needs both backends).
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import types

import numpy as np
import pytest

from CaChannel import _constants, _names
from helpers.ca_helpers import LOOPBACK_NAMES, Recorder, connect, get_callback, get_value, put_ok

PUBLIC = set(_names.FUNCTIONS) | set(_names.TYPES)


def load(name):
    from CaChannel import ca
    try:
        return ca.load_backend(name)
    except ImportError as exc:
        pytest.skip(f'backend {name!r} not available: {exc}')


@pytest.fixture(scope='module')
def both():
    """Both backends, or a skip naming the one that cannot be imported."""
    return load('c'), load('caffi')


def public_names(module) -> set:
    names = getattr(module, '__all__', None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith('_')
                 and not isinstance(getattr(module, n), types.ModuleType)]
    return set(names)


def test_load_backend_names_itself(backend):
    view = load(backend)
    assert view.backend == backend
    assert set(dir(view)) >= PUBLIC | set(_constants.__all__) | {'backend'}


def test_backend_exports_exactly_the_public_names(backend):
    module = load(backend)._backend_module
    assert public_names(module) == PUBLIC, (
        'extra: %s; missing: %s' % (sorted(public_names(module) - PUBLIC),
                                    sorted(PUBLIC - public_names(module))))


def test_c_extension_exports_only_its_init_function():
    """Built with hidden visibility: the names the C files share (keys,
    shutting_down, request_count...) must not be exported, where another
    library's symbol of the same name could bind to them."""
    nm = shutil.which('nm')
    if nm is None:
        pytest.skip('nm (binutils) is not installed')
    extension = load('c')._backend_module.__file__
    listing = subprocess.run([nm, '-D', '--defined-only', extension], check=True,
                             capture_output=True, text=True).stdout
    exported = sorted(line.split()[-1] for line in listing.splitlines() if line.strip())
    assert exported == ['PyInit__ca']


def test_same_signatures_where_introspectable(both):
    c, caffi = both
    compared = 0
    for name in _names.FUNCTIONS:
        try:
            sig_c = inspect.signature(getattr(c, name))
            sig_f = inspect.signature(getattr(caffi, name))
        except (TypeError, ValueError):
            continue  # a builtin without __text_signature__
        compared += 1
        params_c = [(p.name, p.kind, p.default) for p in sig_c.parameters.values()]
        params_f = [(p.name, p.kind, p.default) for p in sig_f.parameters.values()]
        assert params_c == params_f, name
    if compared == 0:
        # Nothing to compare by introspection; the keyword test below still
        # checks the argument names of both.
        assert not any(_introspectable(getattr(c, n)) for n in _names.FUNCTIONS)


def _introspectable(function) -> bool:
    try:
        inspect.signature(function)
        return True
    except (TypeError, ValueError):
        return False


def test_constants_are_the_same_objects(both):
    c, caffi = both
    for name in _constants.__all__:
        assert getattr(c, name) is getattr(caffi, name) is getattr(_constants, name), name
    # ... and what the backends return are members of those very enums.
    for ca in both:
        assert type(ca.pend_event(0.001)) is _constants.ECA
        assert type(ca.message(_constants.ECA.TIMEOUT)) is str
    assert c.message(c.ECA.TIMEOUT) == caffi.message(caffi.ECA.TIMEOUT)
    assert c.version() == caffi.version()


def test_spec_keyword_arguments(ca_backend):
    """Every function takes its arguments by the names the contract gives them."""
    ca = ca_backend
    refused = []

    def call(function, **kwargs):
        try:
            return getattr(ca, function)(**kwargs)
        except TypeError as exc:
            refused.append(f'{function}({", ".join(kwargs)}): {exc}')
            return None

    recorder = Recorder()
    status, chid = ca.create_channel('catest', recorder)
    assert status == ca.ECA.NORMAL
    recorder.wait(ca, 1)
    try:
        result = call('create_channel', name='calong', callback=None,
                      priority=ca.CA_PRIORITY.DEFAULT)
        if result is not None:
            assert ca.pend_io(5.0) == ca.ECA.NORMAL
            ca.clear_channel(result[1])
        call('change_connection_event', chid=chid, callback=recorder)
        call('replace_access_rights_event', chid=chid, callback=None)
        done = Recorder()
        if call('put', chid=chid, value=2.0, chtype=ca.DBR.DOUBLE, count=1,
                callback=done) is not None:
            done.wait(ca, 1)
        result = call('get', chid=chid, chtype=ca.DBR.DOUBLE, count=1, callback=None,
                      use_numpy=False)
        if call('pend_io', timeout=5.0) is None:
            ca.pend_io(5.0)
        if result is not None:
            assert result[1].get() == 2.0
        result = call('create_subscription', chid=chid, callback=Recorder(),
                      chtype=ca.DBR.DOUBLE, count=1, mask=ca.DBE.VALUE, use_numpy=False)
        if result is not None:
            if call('clear_subscription', evid=result[1]) is None:
                ca.clear_subscription(result[1])
        call('pend_event', timeout=0.001)
        call('pend', timeout=0.001, early=True)
        for info in ('field_type', 'element_count', 'name', 'state', 'host_name',
                     'read_access', 'write_access'):
            call(info, chid=chid)
        call('message', status=ca.ECA.NORMAL)
        status, gid = ca.sg_create()
        call('sg_put', gid=gid, chid=chid, value=3.0, chtype=ca.DBR.DOUBLE, count=1)
        call('sg_get', gid=gid, chid=chid, chtype=ca.DBR.DOUBLE, count=1, use_numpy=False)
        call('sg_block', gid=gid, timeout=5.0)
        call('sg_test', gid=gid)
        call('sg_reset', gid=gid)
        if call('sg_delete', gid=gid) is None:
            ca.sg_delete(gid)
        call('add_exception_event', callback=None)
        call('replace_printf_handler', callback=None)
        call('show_context', context=None, level=0)
        call('create_context', preemptive_callback=True)  # a no-op here
        context = ca.current_context()
        call('attach_context', context=context)            # ECA.ISATTACHED here
    finally:
        if call('clear_channel', chid=chid) is None:
            ca.clear_channel(chid)
    assert not refused, 'keyword arguments refused:\n' + '\n'.join(refused)


def test_identifiers_of_one_backend_are_foreign_to_the_other(both):
    c, caffi = both
    chid = connect(c, 'catest')
    try:
        with pytest.raises(TypeError):
            caffi.state(chid)
        with pytest.raises(TypeError):
            caffi.get(chid)
    finally:
        c.clear_channel(chid)
    chid = connect(caffi, 'catest')
    try:
        with pytest.raises(TypeError):
            c.state(chid)
        with pytest.raises(TypeError):
            c.clear_channel(chid)
    finally:
        caffi.clear_channel(chid)


# --- the same values through both ----------------------------------------------------

# Iterating the enum gives one member per value (INT, not its alias SHORT).
READ_TYPES = [t for t in _constants.DBR if 0 <= t <= 34] + [_constants.DBR.STSACK_STRING]

# Values written through one backend first, so nothing changes in between.
VALUES = {
    'catest': 12.5,      # MINOR alarm (HIGH 10)
    'calong': -77,
    'castr': '12',
    'cabo': 1,
    'caenum16': 9,
    'cawave': [float(i) / 4 for i in range(20)],
    'cawavec': 'hi',
    'cawaveuc': list(range(100, 250)),
    'cawaves': ['1', '2', '3'],
    'cawavef': [i * 0.5 for i in range(150)],
    'cawaveh': list(range(-75, 75)),
    'cawavel': [i * 1000 for i in range(150)],
    'cashort': -3,
    'cachar': 250,
    'cafloat': 0.125,
}


REFUSED = 'the server refused the read'


def assert_same(a, b, where):
    """Equal values of the same types, recursively (numpy arrays included)."""
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f'{where}[{key!r}]')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f'{where}[{i}]')
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float) and a != a:
        assert b != b, where  # both NaN (e.g. undefined alarm limits)
    else:
        assert a == b, (where, a, b)


@pytest.mark.parametrize('pv', list(VALUES))
def test_same_value_through_both_backends(both, pv):
    c, caffi = both
    chid_c, chid_f = connect(c, pv), connect(caffi, pv)
    try:
        put_ok(c, chid_c, VALUES[pv])
        for dbrtype in READ_TYPES + [_constants.DBR.CLASS_NAME]:
            if pv == 'castr' and dbrtype.isENUM():
                continue  # the IOC does not convert a stringout to an enum
            count = 1 if dbrtype == _constants.DBR.CLASS_NAME else None
            for use_numpy in (False, True):
                where = f'{pv} {dbrtype.name} numpy={use_numpy}'
                try:
                    value_c = get_value(c, chid_c, dbrtype, count, use_numpy)
                except AssertionError:
                    # The server refuses this conversion: it must do so for both.
                    value_c = REFUSED
                try:
                    value_f = get_value(caffi, chid_f, dbrtype, count, use_numpy)
                except AssertionError:
                    value_f = REFUSED
                assert_same(value_c, value_f, where)
                if value_c is REFUSED:
                    continue
                event_c = get_callback(c, chid_c, dbrtype, 0 if count is None else count,
                                       use_numpy)
                event_f = get_callback(caffi, chid_f, dbrtype, 0 if count is None else count,
                                       use_numpy)
                for key in ('type', 'count', 'status', 'value'):
                    assert_same(event_c[key], event_f[key], f'{where} callback {key}')
    finally:
        c.clear_channel(chid_c)
        caffi.clear_channel(chid_f)


def test_same_put_conversion_through_both_backends(both):
    c, caffi = both
    chid_c, chid_f = connect(c, 'cawaveh'), connect(caffi, 'cawaveh')
    try:
        for value in (np.arange(10.0), [1.9, -1.9], np.array([7], dtype=np.int64), '42'):
            put_ok(c, chid_c, value)
            through_c = get_callback(c, chid_c, None, 0)['value']
            put_ok(caffi, chid_f, [0] * 150)
            put_ok(caffi, chid_f, value)
            through_f = get_callback(caffi, chid_f, None, 0)['value']
            assert_same(through_c, through_f, repr(value))
    finally:
        c.clear_channel(chid_c)
        caffi.clear_channel(chid_f)


# --- behaviour once decided for both (DEVELOPERS.md, "The twins") -----------

def test_host_name_is_the_same_through_both(both):
    c, caffi = both
    names = [ca.host_name(connect(ca, 'catest')) for ca in (c, caffi)]
    # The reverse lookup behind the name may complete between the two reads.
    hosts = [name.rpartition(':') for name in names]
    assert hosts[0][2] == hosts[1][2] == os.environ['EPICS_CA_SERVER_PORT']
    assert hosts[0][0] in LOOPBACK_NAMES and hosts[1][0] in LOOPBACK_NAMES, names


def test_destroyed_context_never_equals_a_new_one(ca_backend):
    ca = ca_backend

    def in_thread():
        assert ca.create_context() == ca.ECA.NORMAL
        first = ca.current_context()
        assert first == ca.current_context() and hash(first) == hash(ca.current_context())
        ca.destroy_context()
        assert ca.create_context() == ca.ECA.NORMAL
        second = ca.current_context()
        ca.destroy_context()
        return first, second

    from helpers.ca_helpers import run_in_thread
    first, second = run_in_thread(in_thread)
    assert first != second
    assert len({first, second}) == 2


def test_deleted_group_is_gone_in_both(ca_backend):
    ca = ca_backend
    status, gid = ca.sg_create()
    assert ca.sg_delete(gid) == ca.ECA.NORMAL
    assert ca.sg_delete(gid) == ca.ECA.BADSYNCGRP
    assert ca.sg_test(gid) == ca.ECA.BADSYNCGRP


@pytest.mark.parametrize('value', [1j, np.complex64(1), np.complex128(2), np.array([1j])])
def test_complex_values_refused_by_both(ca_backend, value):
    ca = ca_backend
    chid = connect(ca, 'catest')
    with pytest.raises(TypeError):
        ca.put(chid, value)


def test_real_numpy_scalars_written_by_both(ca_backend):
    ca = ca_backend
    chid = connect(ca, 'catest')
    for value in (np.float32(1.5), np.int16(3), np.uint8(2), np.float64(2.5)):
        put_ok(ca, chid, value)
        assert get_value(ca, chid) == float(value)


def test_numpy_imported_on_first_use_only(backend, tmp_path):
    """Importing a backend and reading scalars loads no numpy."""
    import os
    import subprocess
    import sys
    code = ('import sys\nfrom CaChannel import ca\nm = ca.load_backend(%r)\n'
            'status, chid = m.create_channel("catest")\nm.pend_io(5)\n'
            'status, v = m.get(chid)\nm.pend_io(5)\nv.get()\n'
            'print("numpy" in sys.modules)\n' % backend)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=60, cwd=str(tmp_path), env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'False', out.stdout + out.stderr


def test_start_up_imports_only_what_it_needs(tmp_path):
    """A script's start (import, the C backend, a context) imports none of
    typing, re, threading, contextlib, importlib and warnings, milliseconds
    of every start-up: the annotations are strings, and what needs the
    others is imported on first use. Run without site, whose .pth files
    (an editable install's hook) import them."""
    import sys
    import sysconfig
    from pathlib import Path
    import CaChannel
    paths = [str(Path(CaChannel.__file__).parent.parent),
             sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']]
    code = ('import sys\nimport CaChannel\nfrom CaChannel import ca\nca.create_context(True)\n'
            'print(ca.backend, sorted({"typing", "re", "threading", "contextlib",\n'
            '                          "importlib", "warnings"} & set(sys.modules)))\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), CACHANNEL_BACKEND='c')
    out = subprocess.run([sys.executable, '-S', '-c', code], capture_output=True, text=True,
                         timeout=60, cwd=str(tmp_path), env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['c', '[]'], out.stdout + out.stderr


def test_each_backend_registers_its_own_exit_hook(tmp_path):
    """The backend loaded beside the selected one is shut down at exit too:
    a subscription pouring events through it ends cleanly."""
    import os
    import subprocess
    import sys
    code = ('from CaChannel import ca\nother = ca.load_backend("caffi" if ca.backend == "c" else "c")\n'
            'status, chid = other.create_channel("catest")\nother.pend_io(5)\n'
            'status, evid = other.create_subscription(chid, lambda a: None)\nother.pend_event(0.2)\n')
    out = subprocess.run([sys.executable, '-X', 'dev', '-c', code], capture_output=True,
                         text=True, timeout=60, cwd=str(tmp_path), env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert 'Fatal' not in out.stderr and 'Segmentation' not in out.stderr, out.stderr


def test_argument_errors_are_the_same(both):
    """A call with arguments missing, extra, unknown or given twice raises
    the same TypeError, with Python's own words, on both backends (the C
    backend parses the arguments of its per-channel calls itself)."""
    messages = []
    for ca in both:
        status, chid = ca.create_channel('nope:arguments')
        assert status == ca.ECA.NORMAL
        calls = [
            lambda: ca.get(),
            lambda: ca.get(chid, None, None, None, False, 1),
            lambda: ca.get(chid, colour=1),
            lambda: ca.get(chid, chid=chid),
            lambda: ca.create_channel(),
            lambda: ca.create_channel('nope:x', None, 0, 1),
            lambda: ca.clear_channel(),
            lambda: ca.clear_channel(chid, 1),
            lambda: ca.field_type(chid=chid, evid=None),
        ]
        seen = []
        for call in calls:
            with pytest.raises(TypeError) as info:
                call()
            seen.append(str(info.value))
        messages.append(seen)
        assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert messages[0] == messages[1]
    assert "get() missing 1 required positional argument: 'chid'" in messages[0]
    # a priority that is no integer is refused, one out of range too
    for ca in both:
        with pytest.raises(TypeError):
            ca.create_channel('nope:x', None, 1.5)
        with pytest.raises(OverflowError):
            ca.create_channel('nope:x', None, 2 ** 40)

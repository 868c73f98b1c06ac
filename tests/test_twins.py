"""The map of twins: each concern of the ``ca`` layer sits in same-named
files of both backends, with the same names for the same jobs.

The table below is that map (DEVELOPERS.md, "The twins"); a C name may
carry its file's prefix (``dbr_fill`` in dbr.c is ``fill`` in dbr.py), a
Python one a leading underscore.  Every public ``ca`` function is defined
(``py_<name>`` in C, ``def <name>`` in Python) in the files of one concern.
Drift fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from CaChannel import _names

ROOT = Path(__file__).resolve().parent.parent

#: concern -> (C source, cffi module)
FILES = {
    'module': ('src/module.c', 'caffi_backend/__init__.py'),
    'shared': ('src/caext.h', 'caffi_backend/_common.py'),
    'context': ('src/context.c', 'caffi_backend/context.py'),
    'channel': ('src/channel.c', 'caffi_backend/channel.py'),
    'getput': ('src/getput.c', 'caffi_backend/getput.py'),
    'iowait': ('src/iowait.c', 'caffi_backend/iowait.py'),
    'dbr': ('src/dbr.c', 'caffi_backend/dbr.py'),
    'handlers': ('src/handlers.c', 'caffi_backend/handlers.py'),
}

#: concern -> helpers doing one job on both sides.  The shared helpers are
#: declared in caext.h and defined in module.c on the C side.
HELPERS = {
    'shared': ['request_count', 'timeout_arg', 'check_optional_callback'],
    'context': [],
    'channel': ['connection_handler', 'access_rights_handler'],
    'getput': ['request_type', 'get_into_value', 'request_issue', 'get_handler',
               'put_handler', 'group_put_handler', 'subscription_handler'],
    'iowait': ['io_account', 'sliced_pend_event', 'park_if_exiting', 'mark_exit_thread'],
    'dbr': ['to_python', 'encode', 'encode_chars', 'encode_elements', 'fill', 'new_value',
            'event_dict', 'is_complex'],
    'handlers': ['exception_handler', 'printf_handler'],
}

#: public function -> concern
PUBLIC = {
    'context': ['create_context', 'destroy_context', 'attach_context', 'detach_context',
                'current_context', 'show_context', 'pend_io', 'pend_event', 'poll', 'pend',
                'test_io', 'flush_io'],
    'channel': ['create_channel', 'clear_channel', 'change_connection_event',
                'replace_access_rights_event', 'field_type', 'element_count', 'name',
                'state', 'host_name', 'read_access', 'write_access', 'message', 'version'],
    'getput': ['get', 'put', 'create_subscription', 'clear_subscription', 'sg_create',
               'sg_delete', 'sg_get', 'sg_put', 'sg_block', 'sg_test', 'sg_reset'],
    'handlers': ['add_exception_event', 'replace_printf_handler'],
}


def text(path: str) -> str:
    return (ROOT / path).read_text()


def c_defines(source: str, name: str, prefix: str) -> bool:
    # A definition (or, in a header, a declaration) at the start of a line.
    names = {name, f'{prefix}_{name}'}
    pattern = r'^[A-Za-z_][\w \*]*\b(%s)\s*\(' % '|'.join(map(re.escape, names))
    return re.search(pattern, source, re.M) is not None


def py_defines(source: str, name: str) -> bool:
    return re.search(r'^\s*(def|class) _?%s\b' % re.escape(name), source, re.M) is not None


def test_every_file_has_its_twin():
    for c_file, py_file in FILES.values():
        assert (ROOT / c_file).exists(), c_file
        assert (ROOT / py_file).exists(), py_file
    c_sources = {p.name for p in (ROOT / 'src').iterdir() if p.suffix in ('.c', '.h')}
    assert c_sources == {Path(c).name for c, _ in FILES.values()}
    py_sources = {p.name for p in (ROOT / 'caffi_backend').glob('*.py')}
    # _ffi.py declares and loads libca: what the C compiler and linker do.
    assert py_sources - {'_ffi.py'} == {Path(p).name for _, p in FILES.values()}


@pytest.mark.parametrize('concern', sorted(HELPERS))
def test_helpers_have_one_name_on_both_sides(concern):
    c_file, py_file = FILES[concern]
    c_source = text(c_file) + (text('src/module.c') if concern == 'shared' else '')
    prefix = Path(c_file).stem
    py_source = text(py_file)
    missing = [(name, side) for name in HELPERS[concern]
               for side, found in (('C', c_defines(c_source, name, prefix)),
                                   ('cffi', py_defines(py_source, name)))
               if not found]
    assert not missing, missing


def test_public_functions_sit_in_twin_files():
    listed = sorted(name for names in PUBLIC.values() for name in names)
    assert listed == sorted(_names.FUNCTIONS)
    misplaced = []
    for concern, names in PUBLIC.items():
        c_file, py_file = FILES[concern]
        for name in names:
            if not c_defines(text(c_file), 'py_' + name, 'py'):
                misplaced.append((name, c_file))
            if not py_defines(text(py_file), name):
                misplaced.append((name, py_file))
    assert not misplaced, misplaced


def test_identifier_types_sit_in_twin_files():
    where = {'Chid': 'channel', 'Evid': 'getput', 'SyncGroup': 'getput',
             'Context': 'context', 'DBRValue': 'dbr'}
    assert sorted(where) == sorted(_names.TYPES)
    for type_name, concern in where.items():
        c_file, py_file = FILES[concern]
        assert f'"CaChannel._ca.{type_name}"' in text(c_file), (type_name, c_file)
        assert py_defines(text(py_file), type_name), (type_name, py_file)

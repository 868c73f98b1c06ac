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
from helpers import ROOT


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
    'shared': ['request_count', 'timeout_arg', 'check_optional_callback', 'status_pair'],
    'context': [],
    'channel': ['connection_handler', 'access_rights_handler',
                # destroying a context: mark stale, then release
                'channels_mark_stale', 'channels_release'],
    'getput': ['request_type', 'get_into_value', 'request_issue', 'get_handler',
               'put_handler', 'group_put_handler', 'subscription_handler',
               'prepare_put'],
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
    # A definition (or, in a header, a declaration) at the start of a line,
    # or a macro, whose name is in capitals.
    names = {name, f'{prefix}_{name}'}
    pattern = r'^[A-Za-z_][\w \*]*\b(%s)\s*\(' % '|'.join(map(re.escape, names))
    macro = r'^#define (%s)\(' % '|'.join(re.escape(n.upper()) for n in names)
    return re.search(pattern, source, re.M) is not None or re.search(macro, source, re.M) is not None


def py_defines(source: str, name: str) -> bool:
    return re.search(r'^\s*(def|class) _?%s\b' % re.escape(name), source, re.M) is not None


def test_every_file_has_its_twin():
    for c_file, py_file in FILES.values():
        assert (ROOT / c_file).exists(), c_file
        assert (ROOT / py_file).exists(), py_file
    c_sources = {p.name for p in (ROOT / 'src').iterdir() if p.suffix in ('.c', '.h')}
    assert c_sources == {Path(c).name for c, _ in FILES.values()}
    py_sources = {p.name for p in (ROOT / 'caffi_backend').glob('*.py')}
    # _cdef.py declares libca and _ffi.py loads it (from the module setup.py
    # compiles the declarations to, when it is there): what the C compiler
    # and linker do.
    loading = {'_ffi.py', '_cdef.py', '_ffi_compiled.py'}
    assert py_sources - loading == {Path(p).name for _, p in FILES.values()}


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


#: One job, one name, in files of different concerns.  cffi keeps the
#: context records beside ``gated`` in iowait.py, which every module
#: imports (context.py imports it, so it cannot import context.py); C keeps
#: them in context.c beside its registry, and GATED is a macro in caext.h
#: (its call is any libca expression).
PLACED_APART = {
    'gated': ('src/caext.h', 'caffi_backend/iowait.py'),
    'context_record': ('src/context.c', 'caffi_backend/iowait.py'),
}

#: State with one name on both sides: (C file, cffi file) per variable.
STATE = {
    'process_context': ('src/context.c', 'caffi_backend/context.py'),
    'shutting_down': ('src/module.c', 'caffi_backend/_common.py'),
}


def test_jobs_placed_apart_keep_one_name():
    missing = [(name, path) for name, (c_file, py_file) in PLACED_APART.items()
               for path, found in ((c_file, c_defines(text(c_file), name, Path(c_file).stem)),
                                   (py_file, py_defines(text(py_file), name)))
               if not found]
    assert not missing, missing


def test_state_has_one_name_on_both_sides():
    for name, (c_file, py_file) in STATE.items():
        assert re.search(r'^[A-Za-z_][\w \*]*\b%s\b( = [^;]+)?;' % name, text(c_file), re.M), \
            (name, c_file)
        assert re.search(r'^_?%s\b[^=\n]*=' % name, text(py_file), re.M), (name, py_file)


def _c_struct_fields(source: str, struct: str) -> set:
    end = source.index('} %s;' % struct)
    body = source[source.rindex('typedef struct {', 0, end):end]
    body = re.sub(r'/\*.*?\*/', '', body, flags=re.S)
    return set(re.findall(r'(\w+);', body)) - {'PyObject_HEAD'}


def test_context_record_has_one_shape():
    """C's ContextObject and cffi's ContextRecord hold the same facts of a
    context (C's pointer ``ctx`` is cffi's ``ptr``)."""
    from caffi_backend.iowait import ContextRecord
    c_fields = _c_struct_fields(text('src/caext.h'), 'ContextObject')
    # C alone keeps the calling thread's account at hand (its accounts sit
    # in the thread's dict, two lookups; cffi's threading.local is one).
    c_cache = {'account', 'account_thread'}
    assert c_fields == {'ctx', 'valid', 'preemptive', 'busy', 'owned'} | c_cache
    # cffi's busy is the length of a list (atomic appends, no lock).
    assert isinstance(ContextRecord.busy, property)
    assert (set(ContextRecord.__slots__) - {'_inside'} | {'busy'}
            == c_fields - c_cache - {'ctx'} | {'ptr'})


def _body(source: str, start: str, last_line: str) -> str:
    """From the line starting with *start* to the next line matching *last_line*."""
    begin = source.index(start)
    end = re.compile(last_line, re.M).search(source, source.index('\n', begin) + 1)
    return source[begin:end.start() if end else len(source)]


def test_destroying_a_context_keeps_one_order():
    """Mark stale, drain the threads inside libca, destroy, release: the
    same four steps in the same order on both sides."""
    c_steps = ['channels_mark_stale(', 'drain_context(', 'ca_context_destroy(',
               'channels_release(']
    py_steps = ['mark_stale(key)', '.drain()', 'lib.ca_context_destroy(', 'release_handles()']
    c_body = _body(text('src/context.c'), 'static PyObject *destroy_record(', r'^\}')
    py_body = _body(text('caffi_backend/context.py'), 'def destroy_context(', r'^\S')
    for body, steps in ((c_body, c_steps), (py_body, py_steps)):
        where = [body.find(step) for step in steps]
        assert -1 not in where, list(zip(steps, where))
        assert where == sorted(where), list(zip(steps, where))

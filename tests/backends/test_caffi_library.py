"""What only the cffi backend has: the choice of the libca it loads.

Each case imports ``caffi_backend`` in a fresh interpreter (the library is
opened at import) with a chosen environment and reports the file loaded.
No CA context is created, so nothing goes on the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

REPO = ROOT

PROBE = r'''
import json, warnings
warnings.simplefilter('always')
with warnings.catch_warnings(record=True) as caught:
    import caffi_backend
print(json.dumps({
    'libca': caffi_backend.libca_path,
    'libcom': caffi_backend.libcom_path,
    'warnings': [str(w.message) for w in caught if w.category is RuntimeWarning],
    'version': caffi_backend.version(),
}))
'''


def _real_libs() -> tuple[str, str]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)
        import epicscorelibs.path
    return epicscorelibs.path.get_lib('ca'), epicscorelibs.path.get_lib('Com')


def _probe(tmp_path: Path, **overrides: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for key in ('CACHANNEL_LIBCA', 'EPICS_BASE', 'EPICS_HOST_ARCH'):
        env.pop(key, None)
    for key, value in overrides.items():
        if value is not None:
            env[key] = value
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')]))
    return subprocess.run([sys.executable, '-c', PROBE], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def _loaded(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _fake_epics_base(root: Path, arch: str = 'linux-x86_64') -> Path:
    """An EPICS_BASE tree whose lib/<arch> links to the wheel's libraries."""
    ca, com = _real_libs()
    libdir = root / 'lib' / arch
    libdir.mkdir(parents=True)
    (libdir / 'libca.so').symlink_to(ca)
    (libdir / 'libCom.so').symlink_to(com)
    return libdir


pytestmark = pytest.mark.skipif(sys.platform != 'linux',
                                reason='the fake EPICS_BASE trees use Linux library names')


def test_default_is_epicscorelibs(tmp_path):
    found = _loaded(_probe(tmp_path))
    ca, com = _real_libs()
    assert found['libca'] == ca
    assert found['libcom'] == com
    assert found['warnings'] == []
    assert found['version']


def test_explicit_path_wins(tmp_path):
    ca, _ = _real_libs()
    chosen = tmp_path / 'chosen'
    chosen.mkdir()
    (chosen / 'libca.so').symlink_to(ca)
    # Even with a (broken) EPICS_BASE set, the explicit path is the one used.
    found = _loaded(_probe(tmp_path, CACHANNEL_LIBCA=str(chosen / 'libca.so'),
                           EPICS_BASE=str(tmp_path / 'nowhere'),
                           EPICS_HOST_ARCH='linux-x86_64'))
    assert found['libca'] == str(chosen / 'libca.so')
    # none beside the link: the one beside the file it points to
    assert os.path.dirname(found['libcom']) == os.path.dirname(os.path.realpath(ca))
    assert found['warnings'] == []


def test_explicit_path_that_does_not_exist_fails(tmp_path):
    result = _probe(tmp_path, CACHANNEL_LIBCA=str(tmp_path / 'libca.so'))
    assert result.returncode != 0
    assert 'ImportError' in result.stderr and 'CACHANNEL_LIBCA' in result.stderr


def test_explicit_path_that_is_no_library_fails(tmp_path):
    bogus = tmp_path / 'libca.so'
    bogus.write_text('not a shared library')
    result = _probe(tmp_path, CACHANNEL_LIBCA=str(bogus))
    assert result.returncode != 0
    assert 'ImportError' in result.stderr and 'cannot load libca' in result.stderr


def test_epics_base(tmp_path):
    libdir = _fake_epics_base(tmp_path / 'base')
    found = _loaded(_probe(tmp_path, EPICS_BASE=str(tmp_path / 'base'),
                           EPICS_HOST_ARCH='linux-x86_64'))
    assert found['libca'] == str(libdir / 'libca.so')
    assert found['libcom'] == str(libdir / 'libCom.so')
    assert found['warnings'] == []


def test_epics_base_without_arch_is_ignored(tmp_path):
    _fake_epics_base(tmp_path / 'base')
    found = _loaded(_probe(tmp_path, EPICS_BASE=str(tmp_path / 'base')))
    assert found['libca'] == _real_libs()[0]
    assert found['warnings'] == []


def test_epics_base_without_libca_falls_back_with_warning(tmp_path):
    (tmp_path / 'base' / 'lib' / 'linux-x86_64').mkdir(parents=True)
    found = _loaded(_probe(tmp_path, EPICS_BASE=str(tmp_path / 'base'),
                           EPICS_HOST_ARCH='linux-x86_64'))
    assert found['libca'] == _real_libs()[0]
    assert len(found['warnings']) == 1
    assert 'holds no libca' in found['warnings'][0]


def test_selected_by_environment(tmp_path):
    env = dict(os.environ, CACHANNEL_BACKEND='caffi')
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')]))
    result = subprocess.run(
        [sys.executable, '-c', 'from CaChannel import ca; print(ca.backend)'],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'caffi'


STALE_COMPILED = r'''
import sys, types
# A compiled module of other declarations (an edited checkout): not used.
stale = types.ModuleType('caffi_backend._ffi_compiled')
stale.CDEF_CRC = -1
stale.ffi = None
sys.modules['caffi_backend._ffi_compiled'] = stale
import caffi_backend
from caffi_backend import _ffi
assert not _ffi.compiled
print(caffi_backend.version())
'''


def test_stale_compiled_declarations_are_parsed_instead(tmp_path):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')]))
    result = subprocess.run([sys.executable, '-c', STALE_COMPILED], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith('4.'), result.stdout


def test_private_counter_and_identifiers():
    import caffi_backend
    from caffi_backend.channel import Chid

    assert isinstance(caffi_backend._live_callbacks(), int)
    with pytest.raises(TypeError):
        Chid()
    with pytest.raises(TypeError):
        caffi_backend.DBRValue()

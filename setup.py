"""Build CaChannel: the C extension ``CaChannel._ca`` over libca, plus the
pure-Python layers and the cffi fallback backend.

EPICS base comes from the ``epicscorelibs`` wheel unless ``EPICS_BASE`` and
``EPICS_HOST_ARCH`` name a site installation, which is then linked as shared
libraries with an rpath so the extension finds them at run time.

The C extension is optional: when it cannot be compiled (no working
compiler, no EPICS headers) the build says so once and installs the rest,
and ``CaChannel.ca`` runs on the cffi backend, which needs no compiler.
Packagers who ship the extension set ``CACHANNEL_REQUIRE_EXTENSION=1`` to
make such a failure stop the build.

Beside the extension the build writes ``CaChannel/_build_config.py``: which
EPICS it was linked to, so that a site build finds its libca at run time
without ``EPICS_BASE`` (see ``CaChannel/_libpath.py``).
"""
import importlib
import importlib.util
import os
import re
import sys

from setuptools import find_packages
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools_dso import Extension, build_ext, setup

SOURCES = ['src/module.c', 'src/context.c', 'src/channel.c', 'src/getput.c',
           'src/dbr.c', 'src/handlers.c', 'src/iowait.c']
BUILD_RECORD = '_build_config.py'
# The PVs of the tutorial and the README, served by
# ``python -m CaChannel.testing serve``; the test suite loads the same file.
TUTORIAL_DB = os.path.join('tests', 'ioc', 'catest.db')
VERSION_FILE = os.path.join('CaChannel', '_version.py')
# The RPM spec names its version with this placeholder; the sdist fills it in.
SPEC = 'python-CaChannel.spec'
SPEC_VERSION = '@VERSION@'
# Only PyInit__ca leaves the extension (PyMODINIT_FUNC keeps it visible):
# the names the C files share (keys, shutting_down, request_count, ...) stay
# inside, where no other library's symbol of the same name can bind to them.
HIDDEN_SYMBOLS = [] if sys.platform == 'win32' else ['-fvisibility=hidden']
PYTHONS = ('3.9', '3.10', '3.11', '3.12', '3.13')


def read_version():
    """``__version__`` of CaChannel/_version.py, read without importing the package."""
    with open(VERSION_FILE) as source:
        return re.search(r"^__version__ = '([^']+)'$", source.read(), re.M).group(1)


VERSION = read_version()


def build_errors():
    """Compiler and linker failures; anything else is a bug worth a traceback.

    Both spellings of distutils' errors: setuptools' probe raises those of
    ``setuptools._distutils``, which need not be the module ``distutils``
    names (CompileError and LinkError are CCompilerErrors).
    """
    errors = []
    for name in ('distutils.errors', 'setuptools._distutils.errors'):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        errors += [module.CCompilerError, module.DistutilsExecError,
                   module.DistutilsPlatformError]
    return tuple(errors)


def site_epics():
    """``(base, arch)`` of the site EPICS base named by the environment, or None."""
    base = os.environ.get('EPICS_BASE')
    if not base:
        return None
    arch = os.environ.get('EPICS_HOST_ARCH')
    if not arch:
        sys.exit('EPICS_BASE is set but EPICS_HOST_ARCH is not')
    return base, arch


def configure_site(ext, base, arch):
    osclass = {'linux': 'Linux', 'darwin': 'Darwin', 'win32': 'WIN32'}.get(sys.platform, 'Linux')
    libdir = os.path.join(base, 'lib', arch)
    ext.include_dirs += [os.path.join(base, 'include'),
                         os.path.join(base, 'include', 'os', osclass),
                         os.path.join(base, 'include', 'compiler', 'gcc')]
    ext.library_dirs += [libdir]
    ext.libraries += ['ca', 'Com']
    if sys.platform != 'win32':
        ext.runtime_library_dirs += [libdir]
    return {'EPICS': 'site', 'EPICS_BASE': base,
            'LIBCA': _shared_library(libdir, 'ca'), 'LIBCOM': _shared_library(libdir, 'Com')}


def configure_epicscorelibs(ext):
    # Importing epicscorelibs.config runs its toolchain probe, the build's
    # first compiler call: it belongs here, where a failure is caught.
    import epicscorelibs.path
    from epicscorelibs.config import get_config_var
    ext.include_dirs += [epicscorelibs.path.include_path]
    ext.define_macros += get_config_var('CPPFLAGS')
    ext.extra_compile_args += get_config_var('CFLAGS')
    ext.extra_link_args += get_config_var('LDFLAGS')
    ext.libraries += get_config_var('LDADD')
    ext.dsos = ['epicscorelibs.lib.ca', 'epicscorelibs.lib.Com']
    return {'EPICS': 'epicscorelibs'}


def _shared_library(libdir, stem):
    names = {'win32': stem + '.dll', 'darwin': 'lib%s.dylib' % stem}
    return os.path.join(libdir, names.get(sys.platform, 'lib%s.so' % stem))


def _origin_only(args):
    """Linker arguments without run-time search paths other than $ORIGIN ones.

    The interpreter's LDSHARED brings its own library folder as an rpath,
    which would travel with the wheel; setuptools_dso adds each $ORIGIN path
    twice, once with a backslash that ends up literally in RUNPATH.
    """
    kept = []
    for arg in args:
        if arg.startswith(('-Wl,-rpath,', '-Wl,-rpath=', '-Wl,-R')):
            path = arg.split(',', 2)[-1].split('=', 1)[-1]
            if not path.startswith('$ORIGIN') and not path.startswith('@loader_path'):
                continue
        kept.append(arg)
    return kept


class build_ext_optional(build_ext):
    """Builds ``CaChannel._ca`` if it can, and records how (or why not)."""

    def build_extensions(self):
        # A site build's absolute rpath comes from runtime_library_dirs,
        # passed separately: only the interpreter's goes.
        self.compiler.linker_so = _origin_only(self.compiler.linker_so)
        super().build_extensions()

    def dso2lib_pre(self, ext):
        super().dso2lib_pre(ext)
        ext.extra_link_args = _origin_only(ext.extra_link_args)

    def build_extension(self, ext):
        record = {'EPICS': None, 'EPICS_BASE': None, 'LIBCA': None, 'LIBCOM': None,
                  'NOT_BUILT': None}
        # Never "up to date": an extension an earlier build left in build/
        # may be linked to another EPICS (or be all a failed build leaves).
        target = self.get_ext_fullpath(ext.name)
        if os.path.exists(target):
            os.remove(target)
        try:
            site = site_epics()
            record.update(configure_site(ext, *site) if site else configure_epicscorelibs(ext))
            super().build_extension(ext)
        except build_errors() as exc:
            if os.environ.get('CACHANNEL_REQUIRE_EXTENSION'):
                raise
            record.update(EPICS=None, NOT_BUILT=str(exc).strip().rstrip('.'))
            sys.stderr.write(
                '\n*** CaChannel: the C extension could not be built (%s).\n'
                '*** Only the cffi backend is installed; CaChannel.ca uses it and warns.\n\n'
                % record['NOT_BUILT'])
        self._write_record(os.path.dirname(target), record)

    def _write_record(self, directory, record):
        self.mkpath(directory)
        lines = ['"""How CaChannel._ca was built (written by setup.py; not in version control)."""']
        lines += ['%s = %r' % item for item in sorted(record.items())]
        with open(os.path.join(directory, BUILD_RECORD), 'w') as out:
            out.write('\n'.join(lines) + '\n')

    def copy_extensions_to_source(self):
        # Editable installs: the record goes where the extension goes, and
        # an extension of an earlier build does not outlive a failed one.
        super().copy_extensions_to_source()
        build_py = self.get_finalized_command('build_py')
        for ext in self.extensions:
            inplace, built = self._get_inplace_equivalent(build_py, ext)
            if not os.path.exists(built) and os.path.exists(inplace):
                os.remove(inplace)
        source_dir = build_py.get_package_dir('CaChannel')
        record = os.path.join(self.build_lib, 'CaChannel', BUILD_RECORD)
        if os.path.exists(record):
            self.copy_file(record, os.path.join(source_dir, BUILD_RECORD))


class build_py_tutorial(build_py):
    """Also ships the tutorial's database inside the package, and compiles
    the cffi backend's declarations (caffi_backend/_cdef.py)."""

    def run(self):
        super().run()
        editable = getattr(self, 'editable_mode', False)
        if not editable:
            # An editable install reads it from tests/ioc/ directly.
            self.copy_file(TUTORIAL_DB, os.path.join(self.build_lib, 'CaChannel', 'catest.db'))
        # An editable install imports the package from the checkout: the
        # module goes there (git ignores it).
        directory = (self.get_package_dir('caffi_backend') if editable
                     else os.path.join(self.build_lib, 'caffi_backend'))
        self.compile_cdef(os.path.join(directory, '_ffi_compiled.py'))

    def compile_cdef(self, target):
        # By path: importing the package would load libca.
        source = os.path.join(self.get_package_dir('caffi_backend'), '_cdef.py')
        try:
            spec = importlib.util.spec_from_file_location('_caffi_cdef', source)
            cdef = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(cdef)
            self.mkpath(os.path.dirname(target))
            cdef.write_compiled(target)
        except Exception as exc:   # noqa: BLE001  any failure leaves the parsing to import time
            sys.stderr.write('*** CaChannel: the cffi declarations were not compiled (%s); '
                             'the cffi backend parses them at import.\n' % exc)


class sdist_versioned(sdist):
    """Writes the version into the RPM spec of the source distribution, so
    that ``rpmbuild -ta`` needs nothing else."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        spec = os.path.join(base_dir, SPEC)
        with open(spec) as source:
            text = source.read()
        # The release tree may hard-link the checkout's file: replace, never edit.
        os.remove(spec)
        with open(spec, 'w') as out:
            out.write(text.replace(SPEC_VERSION, VERSION))


def install_requires():
    requires = ['numpy', 'cffi>=1.15']
    if not os.environ.get('EPICS_BASE'):
        import epicscorelibs.version
        requires.append(epicscorelibs.version.abi_requires())
    return requires


with open('README.md') as readme:
    long_description = readme.read()

setup(
    name='CaChannel',
    version=VERSION,
    description='EPICS Channel Access client for Python: CaChannel, epicsPV, epicsMotor and the ca module',
    long_description=long_description,
    long_description_content_type='text/markdown',
    author='the CaChannel developers',
    license='BSD-3-Clause',
    license_files=['LICENSE'],
    url='https://github.com/CaChannel/CaChannel',
    project_urls={
        'Source': 'https://github.com/CaChannel/CaChannel',
        'Issues': 'https://github.com/CaChannel/CaChannel/issues',
        'Documentation': 'https://github.com/CaChannel/CaChannel/tree/main/docs',
        'Changelog': 'https://github.com/CaChannel/CaChannel/blob/main/docs/changelog.rst',
    },
    classifiers=[
        'Development Status :: 4 - Beta',
        'Intended Audience :: Science/Research',
        'Intended Audience :: Developers',
        'License :: OSI Approved :: BSD License',
        'Operating System :: POSIX :: Linux',
        'Operating System :: MacOS',
        'Programming Language :: C',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3 :: Only',
    ] + ['Programming Language :: Python :: %s' % v for v in PYTHONS] + [
        'Programming Language :: Python :: Implementation :: CPython',
        'Topic :: Scientific/Engineering',
        'Topic :: Software Development :: Libraries :: Python Modules',
        'Typing :: Typed',
    ],
    python_requires='>=%s' % PYTHONS[0],
    # Every package under CaChannel/: one left out installs an incomplete CaChannel
    # that the source tree hides in the checkout's own tests.
    packages=find_packages(include=['CaChannel', 'CaChannel.*', 'caffi_backend']),
    package_data={'CaChannel': ['*.pyi', 'py.typed', 'demo.db']},
    py_modules=['epicsPV', 'epicsMotor', 'ca'],
    ext_modules=[Extension('CaChannel._ca', SOURCES, optional=True,
                           extra_compile_args=list(HIDDEN_SYMBOLS))],
    cmdclass={'build_ext': build_ext_optional, 'build_py': build_py_tutorial,
              'sdist': sdist_versioned},
    install_requires=install_requires(),
    extras_require={
        'test': ['pytest', 'hypothesis', 'caproto', 'matplotlib', 'pyepics', 'pytest-asyncio'],
        'bench': ['pyepics', 'caproto', 'matplotlib', 'psutil', 'aioca'],
        'docs': ['sphinx'],
        'typecheck': ['mypy'],
    },
    entry_points={
        'console_scripts': [
            'caget = CaChannel.cli:caget_main',
            'caput = CaChannel.cli:caput_main',
            'camonitor = CaChannel.cli:camonitor_main',
            'cainfo = CaChannel.cli:cainfo_main',
            'caRepeater = CaChannel.repeater:main',
            # Not `python -m CaChannel.demo`: run from a clone, that finds
            # the source tree first, which holds no compiled extension.
            'cachannel-demo = CaChannel.demo:main',
        ],
        # The softioc fixture of CaChannel.testing for every pytest run.
        'pytest11': ['cachannel = CaChannel.testing.plugin'],
    },
    zip_safe=False,
)

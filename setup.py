"""Build CaChannel: the C extension ``CaChannel._ca`` over libca, plus the
pure-Python layers and the cffi fallback backend.

EPICS base comes from the ``epicscorelibs`` wheel unless ``EPICS_BASE`` and
``EPICS_HOST_ARCH`` name a site installation, which is then linked as shared
libraries with an rpath so the extension finds them at run time.
"""
import os
import sys

from setuptools import setup
from setuptools_dso import Extension, setup as dso_setup  # noqa: F401

SOURCES = ['src/module.c', 'src/context.c', 'src/channel.c', 'src/getput.c',
           'src/dbr.c', 'src/handlers.c', 'src/iowait.c']


def site_epics_extension():
    base = os.environ['EPICS_BASE']
    arch = os.environ.get('EPICS_HOST_ARCH')
    if not arch:
        sys.exit('EPICS_BASE is set but EPICS_HOST_ARCH is not')
    osclass = {'linux': 'Linux', 'darwin': 'Darwin', 'win32': 'WIN32'}.get(sys.platform, 'Linux')
    libdir = os.path.join(base, 'lib', arch)
    return Extension(
        'CaChannel._ca', SOURCES,
        include_dirs=[os.path.join(base, 'include'),
                      os.path.join(base, 'include', 'os', osclass),
                      os.path.join(base, 'include', 'compiler', 'gcc')],
        library_dirs=[libdir],
        libraries=['ca', 'Com'],
        runtime_library_dirs=[libdir] if sys.platform != 'win32' else [],
    )


def epicscorelibs_extension():
    import epicscorelibs.path
    import epicscorelibs.version
    from epicscorelibs.config import get_config_var
    return Extension(
        'CaChannel._ca', SOURCES,
        include_dirs=[epicscorelibs.path.include_path],
        define_macros=get_config_var('CPPFLAGS'),
        extra_compile_args=get_config_var('CFLAGS'),
        extra_link_args=get_config_var('LDFLAGS'),
        dsos=['epicscorelibs.lib.ca', 'epicscorelibs.lib.Com'],
        libraries=get_config_var('LDADD'),
    )


if os.environ.get('EPICS_BASE'):
    ext = site_epics_extension()
    install_requires = ['numpy', 'cffi>=1.15']
else:
    ext = epicscorelibs_extension()
    import epicscorelibs.version
    install_requires = ['numpy', 'cffi>=1.15', epicscorelibs.version.abi_requires()]

dso_setup(
    name='CaChannel',
    version='4.0.0.dev0',
    description='EPICS Channel Access client for Python: CaChannel, epicsPV, epicsMotor and the ca module',
    long_description=open('README.md').read() if os.path.exists('README.md') else '',
    long_description_content_type='text/markdown',
    license='BSD',
    python_requires='>=3.9',
    packages=['CaChannel', 'caffi_backend'],
    package_data={'CaChannel': ['*.pyi', 'py.typed', 'demo.db']},
    py_modules=['epicsPV', 'epicsMotor', 'ca'],
    ext_modules=[ext],
    install_requires=install_requires,
    extras_require={
        'test': ['pytest', 'hypothesis', 'caproto'],
        'bench': ['pyepics', 'caproto', 'matplotlib', 'psutil'],
        'docs': ['sphinx'],
    },
    entry_points={
        'console_scripts': [
            'caget = CaChannel.cli:caget_main',
            'caput = CaChannel.cli:caput_main',
            'camonitor = CaChannel.cli:camonitor_main',
            'cainfo = CaChannel.cli:cainfo_main',
            'caRepeater = CaChannel.repeater:main',
        ],
        # The softioc_db fixture of CaChannel.testing for every pytest run.
        'pytest11': ['cachannel = CaChannel.testing'],
    },
    zip_safe=False,
)

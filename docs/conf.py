"""Sphinx configuration of the CaChannel documentation.

Build the pages with ``sphinx-build -W -b html docs <outdir>`` and run their
examples with ``sphinx-build -b doctest docs <outdir>``.  The examples talk
to a softIoc serving ``tests/ioc/catest.db`` on 127.0.0.1 only: see
``_ext/docioc.py``.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, '_ext'))
# The package from this tree when it is not installed (it usually is).
sys.path.append(ROOT)

project = 'CaChannel'
author = 'the CaChannel developers'
copyright = 'the CaChannel developers'
with open(os.path.join(ROOT, 'CaChannel', '_version.py')) as _source:
    _namespace = {}
    exec(_source.read(), _namespace)
release = _namespace['__version__']
version = '.'.join(release.split('.')[:2])

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.doctest',
    'sphinx.ext.viewcode',
]

root_doc = 'index'
exclude_patterns = ['_build']
templates_path = []
html_static_path = ['_static']
html_theme = 'alabaster'

autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
# Type hints of the modules name typing aliases Sphinx cannot always resolve;
# the prose says what is expected, so unresolved references are not errors.
nitpicky = False

# Every doctest group first makes sure the documentation IOC is reachable.
doctest_global_setup = '''
import docioc
docioc.ensure_ioc()
'''
doctest_default_flags = (__import__('doctest').ELLIPSIS
                         | __import__('doctest').NORMALIZE_WHITESPACE)

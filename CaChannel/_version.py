"""The one place CaChannel's version is written.

setup.py, docs/conf.py, the RPM spec (filled in by ``setup.py sdist``) and
the conda recipe read it from here; keep it a single plain assignment, as
they parse it without importing the package.
"""

__version__ = '4.0.0.dev0'

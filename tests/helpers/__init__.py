"""What the test suite shares: servers, fixtures and the scenario scripts' library.

One module a concern:

* :mod:`helpers.ca_helpers`: connect, wait, record callbacks (the ``ca`` layer tests);
* :mod:`helpers.motor_sim` / :mod:`helpers.motor_ioc`: a simulated motor record
  (caproto) and the real one (the kit in ``shared/motor/``);
* :mod:`helpers.bad_server`: a misbehaving Channel Access server (caproto);
* :mod:`helpers.shared_folder`: finds CI's ``shared/`` folder, or skips;
* :mod:`helpers.scenario_lib`: what the subprocess scripts of ``tests/scripts/``
  and the tests that run them share.

How ``import helpers`` works: the package lives in ``tests/``, and ``tests/``
is on ``sys.path`` wherever it is needed.  In the suite, pytest's default
import mode ("prepend") puts the folder of ``tests/conftest.py`` first on
``sys.path`` before it imports any test module; the test folders have no
``__init__.py`` (each test module is imported by its basename, which is why
the basenames stay unique across folders).  The scripts of ``tests/scripts/``
run by path in a fresh interpreter and put their parent folder there
themselves, first thing.  Nothing here assumes the checkout's root is on
``sys.path``: CI also runs the tests against an installed package.
"""

from __future__ import annotations

from pathlib import Path

#: The suite's folder (``tests/``) and the checkout around it.
TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent

#: The backends every test that chooses one runs on, in this order.  Tests
#: choose through the ``backend`` fixture of ``tests/conftest.py``; this list
#: is for module fixtures that start something per backend up front.
BACKENDS = ['c', 'caffi']

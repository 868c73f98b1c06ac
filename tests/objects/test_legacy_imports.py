"""An old-style script using only the legacy import paths, run unchanged in a subprocess.

One run per backend, selected with CACHANNEL_BACKEND; the subprocess gets
the session's loopback environment and talks to the session softIoc.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import ModuleType

from helpers import ROOT, TESTS

REPO = ROOT

OLD_SCRIPT = textwrap.dedent('''
    from CaChannel import CaChannel, CaChannelException, ca
    from CaChannel import epicsPV as epicsPV_module, epicsMotor as epicsMotor_module
    from epicsPV import epicsPV
    from epicsMotor import epicsMotor, epicsMotorException
    import ca as toplevel_ca

    chan = CaChannel('catest')
    chan.searchw()
    chan.putw(3.25)
    print('getw', chan.getw())
    pv = epicsPV('cabo')
    pv.putWait('Busy', ca.DBR_STRING)
    print('enum', pv.getw(ca.DBR_STRING))
    try:
        CaChannel('no-such-legacy-pv').searchw()
    except CaChannelException as e:
        print('error', e.status == toplevel_ca.ECA_TIMEOUT)
    print('same', toplevel_ca.DBR_STRING == ca.DBR_STRING, epicsPV_module.epicsPV is epicsPV,
          epicsMotor_module.epicsMotorException is epicsMotorException)
    print('backend', ca.backend)
''')


def test_old_script_runs_unchanged(ca_backend: ModuleType) -> None:
    env = dict(os.environ)
    env['CACHANNEL_BACKEND'] = ca_backend.backend
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')]))
    result = subprocess.run([sys.executable, '-c', OLD_SCRIPT], env=env, cwd=str(TESTS),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        'getw 3.25', 'enum Busy', 'error True', 'same True True True',
        'backend %s' % ca_backend.backend]

"""A short narrated tour of CaChannel against a softIoc started for it.

Run it with ``cachannel-demo`` (installed with the package) or, in a
development install, ``python -m CaChannel.demo``. It starts a real softIoc from the
``epicscorelibs`` wheel on a free loopback port (nothing leaves 127.0.0.1),
walks through the everyday calls, and stops the IOC again.
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Optional, Sequence

from .testing import (SoftIoc, apply_loopback_environ, shared_repeater_port, start_repeater,
                      stop_process)

DEMO_DB = os.path.join(os.path.dirname(__file__), 'demo.db')


def say(text: str) -> None:
    print('\n== ' + text)


def tour() -> None:
    # Imported here: the loopback environment must be in place before the
    # first CA context is created.
    from CaChannel import CaChannel, ca
    from CaChannel._libpath import version_text
    from CaChannel.util import caget, cainfo, camonitor, caput

    say(version_text())

    say("searchw / putw / getw on 'demo:setpoint'")
    chan = CaChannel('demo:setpoint')
    chan.searchw()
    chan.putw(12.5)
    print('value after putw(12.5):', chan.getw())
    print('with units and limits:', chan.getw(ca.DBR_CTRL_DOUBLE))

    say("an enum by its state name, 'demo:shutter'")
    caput('demo:shutter', 'Open', wait=True)
    print("caget('demo:shutter') ->", caget('demo:shutter'),
          "| as string ->", caget('demo:shutter', as_string=True))

    say("a waveform as a numpy array, 'demo:spectrum'")
    spectrum = CaChannel('demo:spectrum')
    spectrum.searchw()
    spectrum.putw([float(i * i) for i in range(10)])
    print(spectrum.getw(count=10, use_numpy=True))

    say("monitoring the counter 'demo:counter' for 1.5 s")
    camonitor('demo:counter')
    time.sleep(1.5)
    camonitor('demo:counter', callback=())

    say("cainfo('demo:setpoint')")
    cainfo('demo:setpoint')

    say('an epicsPV served from its monitor')
    from CaChannel.epicsPV import epicsPV
    pv = epicsPV('demo:counter')
    pv.setMonitor()
    time.sleep(0.5)
    print('new value since the last read:', bool(pv.checkMonitor()),
          '| value:', pv.getw())
    pv.clearMonitor()
    # Disconnect before the IOC goes away, so libca has nothing to report.
    ca.destroy_context()


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog='cachannel-demo',
        description='A short tour of CaChannel: starts a softIoc on 127.0.0.1 serving a '
                    'few demo PVs, shows searchw/putw/getw, an enum by name, a waveform '
                    'as numpy, a monitor, cainfo and an epicsPV, then stops the IOC. '
                    'Nothing leaves 127.0.0.1.')


def main(argv: Optional[Sequence[str]] = None) -> None:
    _parser().parse_args(argv)
    # Our own repeater on the demo's private port, stopped with the IOC, so
    # that libca starts no daemon that outlives the tour.
    repeater = start_repeater(shared_repeater_port())
    try:
        with SoftIoc(DEMO_DB) as ioc:
            apply_loopback_environ(ioc.environ)
            print('softIoc running on 127.0.0.1:%d' % ioc.port)
            tour()
    finally:
        stop_process(repeater)
    print('\nsoftIoc stopped. Tour done.')


if __name__ == '__main__':
    main()

"""Find a PV wherever it is served and say which IOC answered.

The EPICS_CA_* variables of the environment decide where libca looks
(docs/network.rst); the script itself names no host.
"""
import sys

from CaChannel import CaChannel

for name in sys.argv[1:]:
    chan = CaChannel(name)
    chan.setTimeout(10.0)
    chan.searchw()
    print(name, chan.host_name(), chan.getw())

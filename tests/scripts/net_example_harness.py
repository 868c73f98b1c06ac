"""Test your own script on a private network of test hosts (as root).

An IOC on one host, the script on another, found by broadcast; then the
same while the IOC's link is slow and lossy.
"""
import sys
from pathlib import Path

from CaChannel.testing.netns import Network, unavailable

SCRIPT = str(Path(__file__).with_name('net_example_find.py'))

reason = unavailable()
if reason:
    sys.exit('cannot make a test network here: ' + reason)

with Network(hosts=2) as net:
    ioc_host, client_host = net.hosts
    ioc_host.start_ioc('record(ao, "demo:setpoint") { field(VAL, "1.5") }\n')
    broadcast = {'EPICS_CA_AUTO_ADDR_LIST': 'YES'}
    found = client_host.run([sys.executable, SCRIPT, 'demo:setpoint'], env=broadcast)
    print(found.stdout, end='')
    ioc_host.impair(delay=0.2, loss=0.05)
    slow = client_host.run([sys.executable, SCRIPT, 'demo:setpoint'], env=broadcast)
    print(slow.stdout, end='')

"""A private network of test hosts in Linux network namespaces.

THE NETWORK RULE (hard, for everything this module and its users start):

* Traffic goes only to 127.0.0.0/8 inside a namespace, or to the addresses
  of hosts in namespaces that this module created, on a switch that lives in
  another namespace this module created.  No namespace has a default route,
  so nothing can leave.
* Nothing is ever added to the root namespace: no address, no veth end, no
  bridge.  veth pairs are created inside the switch's namespace and one end
  is moved straight into its host.
* ``EPICS_CA_AUTO_ADDR_LIST=YES`` (broadcast discovery) is given only to
  processes started inside a test host (``ip netns exec``), never to one in
  the root namespace.
* Every namespace is named with :data:`PREFIX`, deleted when its
  :class:`Network` closes (``with``, :func:`atexit`, SIGTERM/SIGHUP), and a
  new :class:`Network` first deletes namespaces of the prefix that a killed
  run left behind.  Every wait loop has a count and a time bound.

Each :class:`Host` is a namespace with ``lo`` and one link ``eth0`` with an
address of a private test range (``10.231.N.0/24``).  The links meet on a
small Ethernet switch (a Python process, :func:`switch_main`) in the
switch namespace.  A switch of our own rather than a kernel bridge plus
``tc netem``: kernels without the ``sch_netem`` module (this project's CI
machine has none, and no modules to load) cannot delay or drop packets, so
the switch does it: :meth:`Host.impair` delays and drops what a host sends,
as ``tc qdisc add dev eth0 root netem delay D loss L`` on that host would.
:meth:`Host.link_down` takes the switch's end of the link down (the cable
pulled: the host keeps its address, its packets go nowhere).

Use (as root, with iproute2)::

    import sys
    from CaChannel.testing.netns import Network

    with Network(hosts=2) as net:
        ioc_host, client_host = net.hosts
        ioc = ioc_host.start_ioc('record(ai, "x:ai") {}')
        out = client_host.run([sys.executable, 'my_script.py'],
                              env={'EPICS_CA_AUTO_ADDR_LIST': 'YES'})

:func:`unavailable` says why a network cannot be made here (not root, no
``ip``, no namespaces), or returns None.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import heapq
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .process import stop_process

#: Every namespace this module makes is named PREFIX-<pid>-<role>.
PREFIX = 'cachnet'

#: The private test range: network N is 10.231.N.0/24, host k (from 0) is .k+2.
SUBNET = '10.231.{net}.0/24'

#: The CA ports inside a host: the defaults, since every host has its own
#: address and its own ports.
CA_SERVER_PORT = 5064
CA_REPEATER_PORT = 5065

#: Variables of the caller's environment never handed to a test host: the
#: loopback settings of the test process must not point a host elsewhere.
_EPICS_PREFIXES = ('EPICS_CA_', 'EPICS_CAS_', 'EPICS_PVA_', 'EPICS_PVAS_')

_STEP_TIMEOUT = 10.0   # one ip/tc command, one switch command
_IOC_TIMEOUT = 30.0    # an IOC until it serves


def _run_ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(['ip', *args], capture_output=True, text=True,
                          timeout=_STEP_TIMEOUT, check=check)


def unavailable() -> str | None:
    """Why no :class:`Network` can be made here, or None if one can."""
    if sys.platform != 'linux':
        return 'network namespaces need Linux'
    if os.geteuid() != 0:
        return 'network namespaces need root'
    if shutil.which('ip') is None:
        return "iproute2's 'ip' is not installed (apt-get install -y iproute2)"
    probe = f'{PREFIX}-probe-{os.getpid()}'
    made = _run_ip('netns', 'add', probe, check=False)
    if made.returncode != 0:
        return 'cannot create a network namespace: ' + made.stderr.strip()
    _run_ip('netns', 'del', probe, check=False)
    return None


def _namespaces() -> list[str]:
    out = _run_ip('netns', 'list', check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_namespaces() -> list[str]:
    """Delete the namespaces of :data:`PREFIX` whose creating process is gone
    (a run killed with SIGKILL); returns their names."""
    stale = []
    for name in _namespaces():
        match = re.fullmatch(re.escape(PREFIX) + r'-(\d+)-.*', name)
        if match and not _pid_alive(int(match.group(1))):
            _kill_namespace_processes(name)
            _run_ip('netns', 'del', name, check=False)
            stale.append(name)
    return stale


def _kill_namespace_processes(ns: str) -> None:
    pids = _run_ip('netns', 'pids', ns, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def namespace_inode(ns: str | None = None) -> int:
    """The inode of namespace *ns*; None: the caller's own, the namespace
    the network is made from (the root one, which nothing may use)."""
    path = '/proc/self/ns/net' if ns is None else f'/run/netns/{ns}'
    return os.stat(path).st_ino


def process_namespace_inode(pid: int) -> int | None:
    """The network namespace inode of process *pid*, None once it is gone."""
    try:
        return os.stat(f'/proc/{pid}/ns/net').st_ino
    except FileNotFoundError:
        return None


# -- offloads ------------------------------------------------------------------

# A veth hands the receiver packets with checksums left for the hardware and
# segments of up to 64 KiB; our switch forwards raw frames, so the host ends
# must send finished, MTU-sized frames.  The legacy ethtool ioctls do this
# without the ethtool program.
_SIOCETHTOOL = 0x8946
_ETHTOOL_SETTINGS = (0x17, 0x19, 0x1f, 0x24)  # STXCSUM, SSG, STSO, SGSO


def _offloads_off(ifname: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for command in _ETHTOOL_SETTINGS:
            value = ctypes.create_string_buffer(struct.pack('II', command, 0))
            request = struct.pack('16sP', ifname.encode(), ctypes.addressof(value))
            fcntl.ioctl(sock.fileno(), _SIOCETHTOOL, request.ljust(40, b'\0'))


# -- the switch ------------------------------------------------------------------

_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
_MAX_FRAME = 65536


class _Port:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        self.sock.bind((name, 0))
        self.sock.setblocking(False)
        self.delay = 0.0
        self.loss = 0.0

    def send(self, frame: bytes) -> None:
        try:
            self.sock.send(frame)
        except OSError:
            pass  # link down or queue full: a switch drops the frame


def switch_main(port_names: Sequence[str], lifetime: float) -> None:
    """Forward Ethernet frames between *port_names* until stdin closes or
    *lifetime* seconds pass.

    A learning switch: a frame goes to the port its destination was last
    seen on, or to every other port (broadcasts, unknown addresses).  A
    frame received from a port with an impairment is dropped with that
    port's probability ``loss`` and otherwise sent ``delay`` seconds later.
    Commands arrive on stdin as JSON lines ``{"port": ..., "delay": s,
    "loss": p}``; each is answered with ``ok`` on stdout.
    """
    ports = {name: _Port(name) for name in port_names}
    by_fd = {port.sock.fileno(): port for port in ports.values()}
    where: dict[bytes, _Port] = {}
    pending: list[tuple[float, int, str, bytes]] = []
    sequence = 0
    stdin = sys.stdin.buffer
    end = time.monotonic() + lifetime
    print('ready', flush=True)
    while time.monotonic() < end:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, source, frame = heapq.heappop(pending)
            _forward(ports, where, ports[source], frame)
        timeout = min(1.0, max(0.0, pending[0][0] - now)) if pending else 1.0
        readable, _, _ = select.select([stdin.fileno(), *by_fd], [], [], timeout)
        for handle in readable:
            # One command at a time, each answered before the next is sent,
            # so nothing waits in the reader's buffer unseen by select.
            if handle == stdin.fileno():
                line = stdin.readline()
                if not line:
                    return
                command = json.loads(line)
                port = ports[command['port']]
                port.delay = float(command.get('delay', 0.0))
                port.loss = float(command.get('loss', 0.0))
                print('ok', flush=True)
                continue
            port = by_fd[handle]
            # A bounded batch per port, so one busy port cannot starve stdin.
            for _ in range(256):
                try:
                    frame, address = port.sock.recvfrom(_MAX_FRAME)
                except OSError:
                    break  # nothing more, or the port went down (ENETDOWN)
                if address[2] == _PACKET_OUTGOING:
                    continue
                if port.loss and random.random() < port.loss:
                    continue
                if port.delay:
                    sequence += 1
                    heapq.heappush(pending, (time.monotonic() + port.delay, sequence,
                                             port.name, frame))
                else:
                    _forward(ports, where, port, frame)


def _forward(ports: Mapping[str, _Port], where: dict[bytes, _Port],
             source: _Port, frame: bytes) -> None:
    if len(frame) < 14:
        return
    where[frame[6:12]] = source
    target = where.get(frame[0:6])
    if target is not None and not frame[0] & 1:
        if target is not source:
            target.send(frame)
        return
    for port in ports.values():
        if port is not source:
            port.send(frame)


# -- hosts and the network ---------------------------------------------------------

def host_environ(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without its EPICS network settings, plus *env*.

    The test process runs with :func:`~CaChannel.testing.loopback_environ`;
    a host starts from libca's defaults instead (its own address, port
    5064), and only what the caller asks for.
    """
    base = {key: value for key, value in os.environ.items()
            if not key.startswith(_EPICS_PREFIXES)}
    base['PYTHONUNBUFFERED'] = '1'
    base.update({str(k): str(v) for k, v in (env or {}).items()})
    return base


class Host:
    """One test host: namespace ``name``, link ``eth0`` with ``address``."""

    def __init__(self, network: 'Network', index: int, name: str, address: str,
                 port: str) -> None:
        self.network = network
        self.index = index
        self.name = name
        self.address = address
        self.port = port  # the switch's end of the link

    def __repr__(self) -> str:
        return f'<Host {self.name} {self.address}>'

    @property
    def ca_address(self) -> str:
        """``address:5064``, the way libca names a server (``host_name()``)."""
        return f'{self.address}:{CA_SERVER_PORT}'

    def popen(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
              **kwargs: Any) -> subprocess.Popen[Any]:
        """Start *argv* inside this host with :func:`host_environ` (*env*).

        The process is stopped when the network closes, if still running.
        """
        kwargs.setdefault('stdin', subprocess.DEVNULL)
        proc = subprocess.Popen(['ip', 'netns', 'exec', self.name, *argv],
                                env=host_environ(env), start_new_session=True, **kwargs)
        self.network.processes.append(proc)
        return proc

    def run(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
            timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run *argv* inside this host to its end (killed after *timeout* s)."""
        proc = self.popen(argv, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def start_ioc(self, database: str, macros: str = '',
                  env: Mapping[str, str] | None = None,
                  ready_timeout: float = _IOC_TIMEOUT) -> 'NetIoc':
        """Start a Channel Access-only softIoc here serving *database* (a
        path or database text); returns once it accepts CA connections."""
        ioc = NetIoc(self, database, macros, env)
        self.network.iocs.append(ioc)
        return ioc.start(ready_timeout)

    def start_repeater(self) -> subprocess.Popen[Any]:
        """Run CaChannel's ``caRepeater`` on this host's port 5065."""
        proc = self.popen([sys.executable, '-m', 'CaChannel.repeater'])
        _wait_listening(self, 'udp', CA_REPEATER_PORT, proc, _STEP_TIMEOUT)
        return proc

    def block_repeater(self) -> subprocess.Popen[Any]:
        """Hold this host's port 5065 with a socket that answers nothing, so
        its clients get no beacons: libca sees the port taken and starts no
        repeater (without caRepeater on PATH it would run one in a thread of
        the client itself).  Stop the returned process to free the port."""
        proc = self.popen([sys.executable, '-c', _SILENT_PORT, str(CA_REPEATER_PORT)])
        _wait_listening(self, 'udp', CA_REPEATER_PORT, proc, _STEP_TIMEOUT)
        return proc

    def impair(self, delay: float = 0.0, loss: float = 0.0) -> None:
        """Delay what this host sends by *delay* seconds and drop a fraction
        *loss* of it (0 and 0 restore the link)."""
        self.network.switch_command(port=self.port, delay=delay, loss=loss)

    def link_down(self) -> None:
        """Pull the cable: the switch's end of the link goes down."""
        _run_ip('-n', self.network.switch_ns, 'link', 'set', self.port, 'down')

    def link_up(self) -> None:
        _run_ip('-n', self.network.switch_ns, 'link', 'set', self.port, 'up')


def _wait_listening(host: Host, proto: str, port: int, proc: subprocess.Popen[Any],
                    timeout: float) -> None:
    """Wait until something in *host* listens on *port* (ss inside the host)."""
    flag = '-ltn' if proto == 'tcp' else '-lun'
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 1):
        if proc.poll() is not None:
            raise RuntimeError(f'{proc.args!r} exited with {proc.returncode} before it listened')
        out = subprocess.run(['ip', 'netns', 'exec', host.name, 'ss', '-H', flag,
                              f'sport = :{port}'], capture_output=True, text=True,
                             timeout=_STEP_TIMEOUT).stdout
        if out.strip():
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    raise RuntimeError(f'nothing listens on {proto} port {port} in {host.name}')


#: Binds a UDP port and reads nothing from it, for ever (until killed).
_SILENT_PORT = ('import socket, sys, time\n'
                'sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n'
                'sock.bind(("", int(sys.argv[1])))\n'
                'time.sleep(24 * 3600)\n')

#: Runs epicscorelibs' softIoc without the pvAccess server (QSRV): only the
#: base database and rsrv, so a host serves Channel Access alone.
#: An epicscorelibs whose main() takes no such arguments starts QSRV too;
#: its traffic stays inside the host's namespace all the same.
_CA_ONLY_IOC = ('import inspect\n'
                'from epicscorelibs.ioc import main\n'
                'ca_only = "extra_dbd_load" in inspect.signature(main).parameters\n'
                'main(**(dict(extra_dbd_load=(), extra_dso_load=()) if ca_only else {}))\n')


class NetIoc:
    """A softIoc (Channel Access only) inside a :class:`Host`."""

    def __init__(self, host: Host, database: str, macros: str = '',
                 env: Mapping[str, str] | None = None) -> None:
        self.host = host
        self.macros = macros
        self.env = {'EPICS_CA_MAX_ARRAY_BYTES': '100000000', **(env or {})}
        self._tmpdir = tempfile.mkdtemp(prefix='cachannel-netioc-')
        if '\n' in database or '(' in database:
            path = Path(self._tmpdir) / 'ioc.db'
            path.write_text(database)
            self.database = str(path)
        else:
            self.database = str(Path(database).resolve())
        self.log_path = Path(self._tmpdir) / 'ioc.log'
        self.proc: subprocess.Popen[Any] | None = None

    def start(self, timeout: float = _IOC_TIMEOUT) -> 'NetIoc':
        from .ioc import softioc_python
        log = open(self.log_path, 'ab')
        try:
            # stdin is a pipe: closing it ends the IOC's shell cleanly, and the
            # IOC follows this process if it dies.
            self.proc = self.host.popen(
                [softioc_python(), '-c', _CA_ONLY_IOC, '-m', self.macros, '-d', self.database],
                self.env, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        _wait_listening(self.host, 'tcp', CA_SERVER_PORT, self.proc, timeout)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors='replace')
        except OSError:
            return ''

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut would end it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(_STEP_TIMEOUT)
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(5.0)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, 2.0)
        shutil.rmtree(self._tmpdir, ignore_errors=True)


# Networks open in this process: the atexit hook and the signal handlers
# close what a caller could not.
_open_networks: set['Network'] = set()
_open_lock = threading.Lock()
_signals_installed = False


def _close_all() -> None:
    with _open_lock:
        networks = list(_open_networks)
    for network in networks:
        network.close()


def _on_signal(signum: int, frame: Any) -> None:
    _close_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_cleanup() -> None:
    global _signals_installed
    if _signals_installed:
        return
    _signals_installed = True
    atexit.register(_close_all)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) in (signal.SIG_DFL, None):
                signal.signal(signum, _on_signal)


class Network:
    """*hosts* test hosts on one switch, each in a namespace of its own.

    :param hosts: how many hosts (1..250).
    :param net: the third byte of the address range ``10.231.net.0/24``;
        by default one derived from the process id.
    :param lifetime: seconds after which the switch stops forwarding by
        itself (a bound, should the test hang).

    Use as a context manager; :meth:`close` stops every process started in
    a host and deletes every namespace (also at exit and on SIGTERM/SIGHUP;
    Ctrl-C unwinds through ``with``).
    """

    def __init__(self, hosts: int = 2, net: int | None = None, lifetime: float = 1800.0) -> None:
        if not 1 <= hosts <= 250:
            raise ValueError('hosts must be 1..250')
        self.size = hosts
        self.net = os.getpid() % 200 + 20 if net is None else net
        self.lifetime = lifetime
        self.tag = f'{PREFIX}-{os.getpid()}-{id(self) & 0xffff:x}'
        self.switch_ns = self.tag + '-sw'
        self.hosts: list[Host] = []
        self.processes: list[subprocess.Popen[Any]] = []
        self.iocs: list[NetIoc] = []
        self.switch: subprocess.Popen[str] | None = None
        self._made: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> 'Network':
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def namespaces(self) -> list[str]:
        """Every namespace of this network (switch first)."""
        return list(self._made)

    def start(self) -> 'Network':
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        remove_stale_namespaces()
        _install_cleanup()
        with _open_lock:
            _open_networks.add(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _add_namespace(self, name: str) -> None:
        _run_ip('netns', 'add', name)
        self._made.append(name)
        _run_ip('-n', name, 'link', 'set', 'lo', 'up')

    def _build(self) -> None:
        self._add_namespace(self.switch_ns)
        ports = []
        for index in range(self.size):
            name = f'{self.tag}-h{index + 1}'
            self._add_namespace(name)
            port, end = f'p{index + 1}', f'e{index + 1}'
            # Both ends are made in the switch's namespace (never the root's),
            # then one moves into its host.
            _run_ip('-n', self.switch_ns, 'link', 'add', port, 'type', 'veth',
                    'peer', 'name', end)
            ports.append(port)
            address = f'10.231.{self.net}.{index + 2}'
            self.hosts.append(Host(self, index, name, address, port))
        self._run_in(self.switch_ns, [sys.executable, '-c',
                                      'import sys; from CaChannel.testing.netns import _offloads_off;'
                                      '[_offloads_off(n) for n in sys.argv[1:]]',
                                      *[f'e{h.index + 1}' for h in self.hosts]])
        for host in self.hosts:
            end = f'e{host.index + 1}'
            _run_ip('-n', self.switch_ns, 'link', 'set', end, 'netns', host.name)
            _run_ip('-n', host.name, 'link', 'set', end, 'name', 'eth0')
            _run_ip('-n', host.name, 'addr', 'add', f'{host.address}/24',
                    'broadcast', '+', 'dev', 'eth0')
            _run_ip('-n', host.name, 'link', 'set', 'eth0', 'up')
            _run_ip('-n', self.switch_ns, 'link', 'set', host.port, 'up')
        self.switch = subprocess.Popen(
            ['ip', 'netns', 'exec', self.switch_ns, sys.executable, '-c',
             'import sys; from CaChannel.testing.netns import switch_main;'
             'switch_main(sys.argv[2:], float(sys.argv[1]))', str(self.lifetime), *ports],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=host_environ(), start_new_session=True)
        self.processes.append(self.switch)
        self._expect_line('ready')
        for host in self.hosts:
            self._check_routes(host)

    def _run_in(self, ns: str, argv: Sequence[str]) -> None:
        subprocess.run(['ip', 'netns', 'exec', ns, *argv], check=True, timeout=_STEP_TIMEOUT,
                       env=host_environ(), capture_output=True)

    def _check_routes(self, host: Host) -> None:
        routes = _run_ip('-n', host.name, 'route', 'show').stdout
        if 'default' in routes:
            raise RuntimeError(f'{host.name} has a default route: {routes}')

    def _expect_line(self, word: str) -> None:
        assert self.switch is not None and self.switch.stdout is not None
        ready, _, _ = select.select([self.switch.stdout], [], [], _STEP_TIMEOUT)
        line = self.switch.stdout.readline().strip() if ready else ''
        if line != word:
            raise RuntimeError(f'the switch answered {line!r}, not {word!r}')

    def switch_command(self, **command: Any) -> None:
        """Send one command to the switch and wait for its answer."""
        with self._lock:
            assert self.switch is not None and self.switch.stdin is not None
            self.switch.stdin.write(json.dumps(command) + '\n')
            self.switch.stdin.flush()
            self._expect_line('ok')

    def host(self, index: int) -> Host:
        return self.hosts[index]

    def strays(self) -> list[str]:
        """The processes started through this network that run outside its
        namespaces (or in the root namespace), described; [] when confined.
        A process that has already exited cannot stray."""
        allowed = {namespace_inode(name) for name in self._made}
        root = namespace_inode(None)
        found = []
        for proc in list(self.processes):
            inode = process_namespace_inode(proc.pid)
            if proc.poll() is None and inode is not None and (
                    inode == root or inode not in allowed):
                found.append(f'pid {proc.pid} {proc.args!r} in namespace inode {inode}')
        return found

    def close(self) -> None:
        """Stop every process of the network and delete its namespaces."""
        with _open_lock:
            _open_networks.discard(self)
        with self._lock:
            for ioc in self.iocs:
                ioc.stop()
            self.iocs.clear()
            for proc in reversed(self.processes):
                if proc.stdin is not None and not proc.stdin.closed:
                    try:
                        proc.stdin.close()
                    except OSError:
                        pass
                try:
                    stop_process(proc, 2.0)
                except Exception:
                    pass
            self.processes.clear()
            for name in reversed(self._made):
                _kill_namespace_processes(name)
                _run_ip('netns', 'del', name, check=False)
            self._made.clear()


if __name__ == '__main__':
    raise SystemExit('CaChannel.testing.netns is a library; see its docstring')

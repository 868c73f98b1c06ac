"""The figures of the lifecycle scenarios (tests/scripts/lifecycle_scenario.py)
for one checkout: slowest call of the thread scenarios, Ctrl-C latency,
time from the main thread's end to the process's end.

    python bench/lifecycle_figures.py CHECKOUT KIND:NAME[,KIND:NAME...]

Run it with the interpreter of that checkout's environment; it starts the
test module's IOC on loopback ports and stops it. Used for the before/after
figures of the wait engine.  The scenarios import tests/helpers, so an
older checkout (flat tests/) cannot take the current scenario script.
"""
import json, os, signal, sys, time
# The test module sits in tests/reliability/ (tests/ before the tests were
# put in folders); tests/ holds the helpers package.
for folder in ('tests', os.path.join('tests', 'reliability')):
    sys.path.insert(0, os.path.join(sys.argv[1], folder))
os.chdir(sys.argv[1])
from CaChannel.testing import SoftIoc, free_port, loopback_environ, apply_loopback_environ, start_repeater
env = loopback_environ(free_port()); apply_loopback_environ(env)
rep = start_repeater(int(env['EPICS_CA_REPEATER_PORT']))
import test_reliability_lifecycle as t
ports = {k: v for k, v in os.environ.items() if k.startswith('EPICS_') and k.endswith('_PORT')}
out = {}
try:
    with SoftIoc(t._database(), env=ports, ready_pvs=['lc:ai0', 'lc:wave']) as ioc:
        for backend in ('c', 'caffi'):
            for name in sys.argv[2].split(','):
                kind, scen = name.split(':', 1)
                run = t.Scenario(ioc, backend, kind, scen)
                start = time.monotonic()
                if kind == 'sigint':
                    try:
                        run.wait_line('READY', 60); time.sleep(0.5)
                        sent = time.monotonic(); os.kill(run.proc.pid, signal.SIGINT)
                        try:
                            run.wait_line('INTERRUPTED', 40); lat = time.monotonic() - sent
                        except AssertionError:
                            lat = None
                    finally:
                        if scen.startswith('stopped:'):
                            os.kill(ioc.pid, signal.SIGCONT)
                    if run.proc.poll() is None:
                        run.kill()
                    out[f'{backend} {name}'] = {'latency': lat}
                    continue
                try:
                    res = run.finish(240)
                    r = res.result or {}
                    if kind == 'exit':
                        r = {'rc': res.returncode, 'took': (run.ended_at or time.monotonic()) - start,
                             'stderr': res.stderr[-300:]}
                    out[f'{backend} {name}'] = {k: v for k, v in r.items() if k != 'failures'} | {
                        'nfail': len(r.get('failures', [])), 'fail0': (r.get('failures') or [''])[0][:200],
                        'wall': time.monotonic() - start}
                except AssertionError as exc:
                    out[f'{backend} {name}'] = {'error': str(exc)[:300]}
                print(json.dumps({f'{backend} {name}': out[f'{backend} {name}']}), flush=True)
finally:
    rep.terminate()
print(json.dumps(out, indent=1))

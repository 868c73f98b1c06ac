"""fork with a live CA client (os.fork and multiprocessing 'fork'), both backends.

``scripts/fork_scenario.py`` runs in a subprocess against the session
softIoc; see its docstring.  A child inherits the parent's context pointer
but none of libca's threads: both backends forget it at the fork (an
``os.register_at_fork`` hook), so in the child the parent's identifiers are
stale and the first CA call creates a fresh context.  EPICS prints a
warning about using epicsThread after fork(); it is expected here.
"""

from __future__ import annotations

from helpers.scenario_lib import run_script


def test_fork(backend):
    outcome = run_script('fork_scenario.py', [backend], timeout=120)
    assert outcome.returncode == 0, outcome.report()
    facts = outcome.result
    assert facts is not None, outcome.report()
    for how in ('os_exit', 'sys_exit', 'multiprocessing'):
        child = facts[how]
        assert child['exit'] == 0, (how, outcome.report())
        report = child['report']
        assert report and 'error' not in report, (how, report)
        assert report['stale_get'] == 'ECA.BADCHID'
        assert report['stale_put'] == 'ECA.BADCHID'
        assert report['stale_clear'] == 'ECA.BADCHID'
        assert report['stale_clear_sub'] == 'ECA.BADMONID'
        assert report['stale_state'] == 'ChannelState.CLOSED'
        assert report['units'] == 'mm'
        assert report['value'] == facts['parent_before']
        # the parent's channels and monitor are not counted in the child
        assert report['live_after_read'] == 0
    assert facts['parent_monitor_resumed'] is True
    assert facts['parent_live_end'] == 0

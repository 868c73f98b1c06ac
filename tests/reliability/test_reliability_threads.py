"""8 threads doing get/put/monitor/clear at once, both backends.

``scripts/threads_scenario.py`` runs under ``python -X dev`` with
faulthandler, with its own softIoc: 8 threads for 8 s in CI (60 s with
``CACHANNEL_SOAK=1``), on shared and private channels.  No deadlock (every
thread ends within its deadline), no crash, every value read back as
written, the live-callback counter back to 0, and resident memory after
the warm-up (the first quarter) growing by less than 5%.
"""

from __future__ import annotations

from helpers.scenario_lib import SOAK, run_script

SECONDS = 60 if SOAK else 8


def test_threads(backend):
    outcome = run_script('threads_scenario.py', [backend, str(SECONDS)],
                         timeout=SECONDS + 150, dev_mode=True)
    assert outcome.returncode == 0, outcome.report()
    facts = outcome.result
    assert facts is not None, outcome.report()
    assert facts['failures'] == [], outcome.report()
    assert facts['ops_after_warmup'] > 0
    assert facts['live_end'] == 0, facts
    assert facts['rss_growth'] < 0.05, facts
    assert 'Fatal Python error' not in outcome.stderr, outcome.report()

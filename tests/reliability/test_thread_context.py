"""A thread without a CA context joins the context of the channel it uses.

In a fresh interpreter per scenario, both backends: a channel made in a
context that another backend (or another library) created first is read
and written from a plain thread. Before, that thread joined a context of
its own making, whose pend_io had nothing to wait for: getw returned the
unfilled value (0.0) and a write stayed unsent.
"""

from __future__ import annotations

import pytest

from helpers.scenario_lib import run_script

ORDERS = (('c', 'caffi'), ('caffi', 'c'), ('c',), ('caffi',))


@pytest.mark.parametrize('order', ORDERS, ids=['-'.join(order) for order in ORDERS])
def test_a_plain_thread_uses_channels_of_a_context_made_elsewhere(order) -> None:
    outcome = run_script('thread_context_scenario.py', list(order), timeout=90)
    assert outcome.returncode == 0, outcome.report()
    facts = outcome.result
    assert facts is not None, outcome.report()
    assert all(facts['main_' + backend] == 50.0 for backend in order), facts
    assert facts['thread_done'], facts
    expected = []
    value = 50.0
    for number, backend in enumerate(reversed(order)):
        expected.append([backend, 'read', value])
        value = 60.0 + number
        expected.append([backend, 'read back', value])
    assert facts['thread'] == expected, facts
    assert facts['main_after'] == value, facts   # read through FIRST's channel

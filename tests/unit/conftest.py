# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest configuration shared by every unit test (ansible-test units runs pytest with --strict-markers)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

_SUMMARIES = []


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: a long fault-injection test (still part of ansible-test units; '
                                       'deselect locally with -m "not slow")')


@pytest.fixture
def fault_summary():
    """Call it with a line of figures; the lines are printed at the end of the test run."""
    return _SUMMARIES.append


def pytest_terminal_summary(terminalreporter):
    if _SUMMARIES:
        terminalreporter.section('session_migrate fault and hostile-input figures')
        for line in _SUMMARIES:
            terminalreporter.write_line(line)

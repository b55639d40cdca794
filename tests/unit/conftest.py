# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest configuration shared by every unit test (ansible-test units runs pytest with --strict-markers)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import tempfile

import pytest

_SUMMARIES = []


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: a long fault-injection test (still part of ansible-test units; '
                                       'deselect locally with -m "not slow")')


@pytest.fixture
def reachable_tmp():
    """A temporary directory that other users can reach (every directory from / down to it has o+x; it is 0711),
    unlike pytest's tmp_path (below a 0700 directory): for checks of what others can really read."""
    path = tempfile.mkdtemp(prefix='sp-reachable-', dir='/tmp')
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fault_summary(request):
    """Call it with a line of figures; the lines are printed at the end of the test run. They travel in the
    test report (user_properties), so they also arrive from forked tests and pytest-xdist workers, as under
    ansible-test units."""
    def record(line):
        request.node.user_properties.append(('fault_summary', line))
    return record


def pytest_runtest_logreport(report):
    if report.when == 'call':
        for name, value in getattr(report, 'user_properties', ()):
            if name == 'fault_summary' and value not in _SUMMARIES:
                _SUMMARIES.append(value)


def pytest_terminal_summary(terminalreporter):
    if _SUMMARIES:
        terminalreporter.section('session_migrate fault and hostile-input figures')
        for line in _SUMMARIES:
            terminalreporter.write_line(line)

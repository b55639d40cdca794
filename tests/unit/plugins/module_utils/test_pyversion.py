# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Python floor of the modules: an older host gets one clear message naming the version needed."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import sys

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.pyversion import (
    MIN_PYTHON, python_problem)


@pytest.mark.parametrize('version', [(3, 6, 15, 'final', 0), (3, 7, 16), (3, 8, 18), (2, 7, 18)])
def test_older_python_gets_one_clear_message(version):
    msg = python_problem('session_migrate', version, '/usr/bin/python3')
    assert msg == ('session_migrate needs Python 3.9 or newer on the managed host; /usr/bin/python3 is Python %s. '
                   'Install a newer Python 3 there and point ansible_python_interpreter at it.'
                   % '.'.join(str(v) for v in version[:3]))


@pytest.mark.parametrize('version', [(3, 9, 0), (3, 11, 2), (3, 13, 5), (4, 0, 0)])
def test_supported_python_passes(version):
    assert python_problem('session_migrate', version) is None


def test_floor_is_the_one_tests_config_states():
    assert MIN_PYTHON == (3, 9)
    assert python_problem('session_info') is None  # the Python running the tests is supported
    assert sys.version_info[:2] >= MIN_PYTHON

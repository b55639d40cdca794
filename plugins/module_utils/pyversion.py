# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The oldest Python the modules run on, checked first thing so an older host fails with one clear message.

Keep this file importable by every Python 3 (no newer syntax): it is what runs on a host that is too old.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import sys

# Debian 11's Python, the oldest the tests run the modules on (tests/config.yml says the same to ansible-test).
MIN_PYTHON = (3, 9)


def python_problem(module_name, version_info=None, executable=None):
    """None when this Python is new enough for the module, else the message to fail with."""
    version_info = tuple(sys.version_info if version_info is None else version_info)
    if version_info[:2] >= MIN_PYTHON:
        return None
    return ('%s needs Python %d.%d or newer on the managed host; %s is Python %s. Install a newer Python 3 '
            'there and point ansible_python_interpreter at it.'
            % (module_name, MIN_PYTHON[0], MIN_PYTHON[1], executable or sys.executable or 'the interpreter',
               '.'.join(str(part) for part in version_info[:3])))

#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Python interpreter stand-in for the benchmark: runs the real interpreter and records its peak memory.

The benchmark sets it as ``ansible_python_interpreter``. Ansible runs each module as
``<interpreter> AnsiballZ_<module>.py``; AnsiballZ runs the module in that same process, so the peak
resident set size of the child started here is the peak memory of the module process. One JSON line
``{"argv": [...], "maxrss_kb": N, "seconds": S, "rc": RC}`` is appended to ``$BENCH_RSS_LOG``.
The real interpreter is ``$BENCH_REAL_PYTHON`` (default: the one running this file).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys
import time

TIME = '/usr/bin/time'


def main():
    real = os.environ.get('BENCH_REAL_PYTHON') or sys.executable
    argv = [real] + sys.argv[1:]
    log = os.environ.get('BENCH_RSS_LOG')
    # GNU time forks the interpreter from a small process, so the peak is the module's own; a child forked
    # from this Python process would start with this process's resident size as its recorded peak.
    gnu_time = log and os.access(TIME, os.X_OK)
    run = [TIME, '-f', '%M', '-o', log + '.module'] + argv if gnu_time else argv
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(run[0], run)
        finally:
            os._exit(127)
    _pid, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - start
    rc = os.waitstatus_to_exitcode(status)
    maxrss = usage.ru_maxrss
    if gnu_time:
        with open(log + '.module') as handle:
            maxrss = int(handle.read().split()[-1])
    if log:
        with open(log, 'a') as handle:
            handle.write(json.dumps({'argv': argv[1:], 'maxrss_kb': maxrss, 'seconds': seconds, 'rc': rc}) + '\n')
    sys.exit(rc if rc >= 0 else 128 - rc)


if __name__ == '__main__':
    main()

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kill -9 during a restore, at every step of the protocol: no second creds file ever exists below the sessions
root, a tenant with a creds file is always a whole version (the old one or the archived one), and a re-run
completes the restore."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import archive as arc
from ansible_collections.rubymanager.session_persistence.plugins.module_utils import restore as rst
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.backup import backup
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import FAULT_ENV
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils.archivelib import (
    content_state, make_session)

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(arc.__file__), *(['..'] * 5)))
CHILD = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.rubymanager.session_persistence.plugins.module_utils import restore
opts = json.loads(sys.argv[2])
restore.restore(opts.pop('dest'), **opts)
'''
TENANTS = ['tenant-deleted', 'tenant-corrupted', 'tenant-kept']
# (phase, n): the n-th time the restore reaches the phase, it kills itself (safecopy.fault_point).
KILLS = [('restore-stage', 1), ('restore-stage', 9), ('restore-stage', 15), ('restore-flushed', 1),
         ('restore-saved', 1), ('restore-aside', 1), ('restore-swapped', 1), ('restore-swapped', 2),
         ('restore-in-place', 1), ('restore-in-place', 2), ('cleanup', 1), ('cleanup', 3)]


def build_root(root):
    if root.exists():
        shutil.rmtree(str(root))
    root.mkdir(parents=True)
    for name in TENANTS:
        make_session(root, name, prekeys=6)


def damage(root):
    shutil.rmtree(str(root / 'tenant-deleted'))
    with open(str(root / 'tenant-corrupted' / 'tenant-corrupted_creds.json'), 'wb') as handle:
        handle.write(b'{"broken": ')
    os.unlink(str(root / 'tenant-corrupted' / 'pre-key' / '2.json'))


def creds_files(root):
    found = []
    for dirpath, _dirnames, filenames in os.walk(str(root)):
        found.extend(os.path.relpath(os.path.join(dirpath, f), str(root)) for f in filenames
                     if f.endswith('_creds.json'))
    return sorted(found)


@pytest.mark.parametrize('exchange', [True, False], ids=['rename-exchange', 'two-renames'])
def test_kill_at_every_step_then_rerun(tmp_path, exchange, fault_summary):
    root = tmp_path / 'sessions'
    backups = tmp_path / 'backups'
    build_root(root)
    time.sleep(arc.RACY_NS / 1e9 * 2)
    archive = backup(str(root), str(backups))['archive']
    original = dict((name, content_state(root / name)) for name in TENANTS)
    opts = {'dest': str(root), 'archive': archive, 'backup_dir': str(backups), 'state_dir': str(tmp_path / 'state'),
            'use_exchange': exchange}
    killed = 0
    for phase, nth in KILLS:
        build_root(root)
        damage(root)
        broken = content_state(root / 'tenant-corrupted')
        time.sleep(arc.RACY_NS / 1e9 * 2)
        env = dict(os.environ)
        env[FAULT_ENV] = '%s:%d' % (phase, nth)
        proc = subprocess.run([sys.executable, '-c', CHILD, COLLECTIONS, json.dumps(opts)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.decode()
        killed += proc.returncode == -signal.SIGKILL
        where = '%s:%d' % (phase, nth)
        # No creds file below the root other than <root>/<tenant>/<tenant>_creds.json, at any moment.
        assert set(creds_files(root)) <= set('%s/%s_creds.json' % (t, t) for t in TENANTS), where
        for name in TENANTS:
            if os.path.exists(str(root / name / (name + '_creds.json'))):
                state = content_state(root / name)
                assert state == original[name] or (name == 'tenant-corrupted' and state == broken), where
        assert all(entry in TENANTS or entry.startswith('.staging-') for entry in os.listdir(str(root))), where
        # The next run completes the restore and removes what the killed one left.
        result = rst.restore(**opts)
        for name in TENANTS:
            assert content_state(root / name) == original[name], (where, name)
        assert sorted(os.listdir(str(root))) == sorted(TENANTS), where
        assert result['unchanged'] == sorted(set(TENANTS) - set(r['name'] for r in result['restored'])), where
    assert killed == len(KILLS), 'a kill point was not reached'
    fault_summary('session_restore: %d kill -9 runs (%s), every one re-run to completion'
                  % (killed, 'renameat2 exchange' if exchange else 'two renames'))

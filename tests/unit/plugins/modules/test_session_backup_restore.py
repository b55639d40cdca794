# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real session_backup and session_restore modules, run the way Ansible runs them: as a subprocess with an
args file, and through ``ansible-playbook`` (normal, check and diff mode)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import time

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import archive as arc
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.modules.modrunner import ModuleRunner
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils.archivelib import (
    content_state, make_session, tree_state)

BACKUP = ModuleRunner('session_backup')
RESTORE = ModuleRunner('session_restore')


def sessions(tmp_path):
    root = tmp_path / 'sessions'
    root.mkdir()
    make_session(root, 'tenant-a')
    make_session(root, 'tenant-b')
    time.sleep(arc.RACY_NS / 1e9 * 2)
    return root


def test_backup_then_restore_through_the_modules(tmp_path):
    root = sessions(tmp_path)
    backups = tmp_path / 'backups'
    original = content_state(root / 'tenant-a')
    checked = BACKUP.run(tmp_path, {'path': str(root), 'backup_dir': str(backups)}, check=True, diff=True)
    assert checked['changed'] and not backups.exists()
    assert checked['diff']['after'] == os.path.basename(checked['archive']) + '\n'
    made = BACKUP.run(tmp_path, {'path': str(root), 'backup_dir': str(backups), 'keep': 3})
    assert made['changed'] and os.path.exists(made['archive']) and made['files'] == 14
    assert [t['name'] for t in made['tenants']] == ['tenant-a', 'tenant-b']

    shutil.rmtree(str(root / 'tenant-a'))
    args = {'dest': str(root), 'backup_dir': str(backups), 'state_dir': str(tmp_path / 'state'),
            'sessions': ['tenant-a']}
    before = tree_state(root)
    dry = RESTORE.run(tmp_path, args, check=True, diff=True)
    assert dry['changed'] and dry['restored'][0]['name'] == 'tenant-a' and tree_state(root) == before
    assert dry['diff']['before'] == 'tenant-a: absent\n'
    done = RESTORE.run(tmp_path, args)
    assert done['changed'] and done['archive'] == made['archive']
    assert content_state(root / 'tenant-a') == original
    again = RESTORE.run(tmp_path, args)
    assert not again['changed'] and again['unchanged'] == ['tenant-a']


def test_failures_name_the_cause_and_change_nothing(tmp_path):
    root = sessions(tmp_path)
    before = tree_state(root)
    inside = BACKUP.run(tmp_path, {'path': str(root), 'backup_dir': str(root / 'backups')})
    assert inside['failed'] and 'inside the sessions root' in inside['msg'] and 'nothing was written' in inside['msg']
    bad = tmp_path / 'bad.tar.gz'
    bad.write_bytes(b'\x1f\x8b\x08\x00garbage')
    refused = RESTORE.run(tmp_path, {'dest': str(root), 'archive': str(bad), 'state_dir': str(tmp_path / 'state')})
    assert refused['failed'] and refused['msg'].startswith('Archive %s is refused: ' % bad)
    assert refused['msg'].endswith('; nothing was changed')
    assert tree_state(root) == before and not (tmp_path / 'state').exists()


def test_through_ansible_playbook_with_check_mode(tmp_path):
    root = sessions(tmp_path)
    backups = tmp_path / 'backups'
    result, output = BACKUP.run_ansible(tmp_path, {'path': str(root), 'backup_dir': str(backups)}, '--check')
    assert result['changed'] and not backups.exists(), output
    result, output = BACKUP.run_ansible(tmp_path, {'path': str(root), 'backup_dir': str(backups)})
    assert result['changed'] and os.path.exists(result['archive']), output
    corrupt = root / 'tenant-b' / 'tenant-b_creds.json'
    corrupt.write_bytes(b'not json')
    args = {'dest': str(root), 'backup_dir': str(backups), 'state_dir': str(tmp_path / 'state')}
    result, output = RESTORE.run_ansible(tmp_path, args, '--check', '--diff')
    assert result['changed'] and corrupt.read_bytes() == b'not json', output
    assert '-tenant-b: invalid' in output and '+tenant-b: restored from' in output
    result, output = RESTORE.run_ansible(tmp_path, args)
    assert result['changed'] and [r['name'] for r in result['restored']] == ['tenant-b'], output
    assert corrupt.read_bytes() != b'not json'

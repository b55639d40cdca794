# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real module, run the way Ansible runs it: as a subprocess with an args file, and through ``ansible``."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import grp
import os
import pwd

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.modules import session_migrate
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.modules.modrunner import ModuleRunner

RUNNER = ModuleRunner('session_migrate')
run_module = RUNNER.run
run_ansible = RUNNER.run_ansible
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def make_session(root, name, creds=b'{"me": {"id": "1@s.whatsapp.net"}}'):
    path = root / name
    (path / 'pre-key').mkdir(parents=True)
    (path / ('%s_creds.json' % name)).write_bytes(creds)
    (path / 'pre-key' / '1.json').write_bytes(os.urandom(164))
    return path


@pytest.fixture
def tree(tmp_path):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    make_session(legacy, 't1')
    make_session(legacy, 't2')
    args = {'dest': str(dest), 'legacy_roots': [str(legacy)], 'owner': OWNER, 'group': GROUP,
            'state_dir': str(tmp_path / 'state')}
    return dest, legacy, args


def test_argument_spec_matches_documentation():
    import yaml
    doc = yaml.safe_load(session_migrate.DOCUMENTATION)
    assert doc['version_added'] == '0.1.0' and doc['author']
    assert set(doc['options']) == {'dest', 'legacy_roots', 'sessions', 'layout', 'creds_file', 'normalize_names',
                                   'owner', 'group', 'dir_mode', 'file_mode', 'mode', 'prefer', 'on_conflict',
                                   'lock_timeout', 'state_dir'}
    returned = yaml.safe_load(session_migrate.RETURN)
    assert {'migrated', 'present', 'not_found', 'invalid', 'duplicates', 'removed', 'corrupt', 'skipped_sessions',
            'skipped_roots', 'recovered', 'stale_staging', 'errors'} <= set(returned)
    yaml.safe_load(session_migrate.EXAMPLES)


def test_module_check_mode_diff_then_real_run_then_idempotent(tmp_path, tree):
    dest, legacy, args = tree
    checked = run_module(tmp_path, args, check=True, diff=True)
    assert checked['changed'] is True and os.listdir(str(dest)) == []
    assert [m['name'] for m in checked['migrated']] == ['t1', 't2']
    assert checked['diff']['before'] == '' and checked['diff']['after'] == 't1\nt2\n'
    real = run_module(tmp_path, args)
    assert real['changed'] is True and real['migrated'] == checked['migrated']
    again = run_module(tmp_path, args)
    assert again['changed'] is False and again['present'] == ['t1', 't2'] and again['migrated'] == []


def test_module_missing_dest_points_to_the_storage_role(tmp_path, tree):
    dest, legacy, args = tree
    result = run_module(tmp_path, dict(args, dest=str(tmp_path / 'nope')))
    assert result['failed'] is True
    assert str(tmp_path / 'nope') in result['msg']
    assert 'rubymanager.session_persistence.session_storage role first' in result['msg']


def test_module_bad_session_name_fails_naming_the_value(tmp_path, tree):
    dest, legacy, args = tree
    result = run_module(tmp_path, dict(args, sessions=['t1', '../x']))
    assert result['failed'] is True and "'../x'" in result['msg']
    assert os.listdir(str(dest)) == []


def test_module_per_session_error_fails_at_the_end_with_the_lists(tmp_path, tree):
    dest, legacy, args = tree
    (dest / 't1').write_bytes(b'in the way')
    result = run_module(tmp_path, args)
    assert result['failed'] is True
    assert str(dest / 't1') in result['msg'] and 'not a directory' in result['msg']
    assert [m['name'] for m in result['migrated']] == ['t2']
    assert [e['name'] for e in result['errors']] == ['t1']


def test_ansible_check_and_diff_then_real_run_with_warnings(tmp_path, tree):
    dest, legacy, args = tree
    (legacy / 't1' / 'evil').symlink_to('/etc')
    result, output = run_ansible(tmp_path, args, '--check', '--diff')
    assert result['changed'] is True and os.listdir(str(dest)) == []
    assert '+t1' in output and '+t2' in output
    assert result['diff'] == {'before_header': str(dest), 'after_header': str(dest), 'before': '',
                              'after': 't1\nt2\n'}
    assert any('evil' in str(w) and 'symlink' in str(w) for w in result.get('warnings', []))
    result, output = run_ansible(tmp_path, args, '--diff')
    assert result['changed'] is True and sorted(os.listdir(str(dest))) == ['t1', 't2']
    assert not os.path.lexists(str(dest / 't1' / 'evil'))
    result, output = run_ansible(tmp_path, args, '--check', '--diff')
    migrate_task = output.split('TASK [Run the module]')[1].split('TASK [')[0]
    assert result['changed'] is False and 'ok: [localhost]' in migrate_task and '+t' not in migrate_task
    assert result['diff']['before'] == result['diff']['after'] == 't1\nt2\n'


def test_ansible_move_returns_removed(tmp_path, tree):
    dest, legacy, args = tree
    result, output = run_ansible(tmp_path, dict(args, mode='move', sessions=['t2', 'gone']))
    assert result['changed'] is True
    assert result['removed'] == [str(legacy / 't2')] and result['not_found'] == ['gone']
    assert sorted(os.listdir(str(legacy))) == ['t1']


# What the client libraries read (BOM per layout, creds size, sessions of the other layout).


def node_session(root, name, creds=b'{"me": {"id": "1@s.whatsapp.net"}}', mtime=None):
    path = root / name
    path.mkdir(parents=True)
    (path / 'creds.json').write_bytes(creds)
    (path / 'pre-key-1.json').write_bytes(b'{"public": "x"}')
    if mtime is not None:
        os.utime(str(path / 'creds.json'), (mtime, mtime))
    return path


def test_module_newer_bom_copy_never_wins_under_baileys_multi_file(tmp_path):
    dest = tmp_path / 'dest'
    dest.mkdir()
    node_session(tmp_path / 'r1', 't', mtime=1000)
    node_session(tmp_path / 'r2', 't', creds=b'\xef\xbb\xbf{"me": {"id": "2@s.whatsapp.net"}}', mtime=2000)
    args = {'dest': str(dest), 'legacy_roots': [str(tmp_path / 'r1'), str(tmp_path / 'r2')], 'owner': OWNER,
            'group': GROUP, 'layout': 'baileys_multi_file', 'prefer': 'newest'}
    result = run_module(tmp_path, args)
    assert not result.get('failed'), result
    assert [m['source'] for m in result['migrated']] == [str(tmp_path / 'r1' / 't')]
    assert [i['path'] for i in result['invalid']] == [str(tmp_path / 'r2' / 't')]
    assert 'UTF-8 byte order mark' in result['invalid'][0]['reason']
    assert (dest / 't' / 'creds.json').read_bytes() == b'{"me": {"id": "1@s.whatsapp.net"}}'


def test_module_bom_copy_is_valid_under_baileys_csharp(tmp_path, tree):
    dest, legacy, args = tree
    creds = legacy / 't1' / 't1_creds.json'
    creds.write_bytes(b'\xef\xbb\xbf' + creds.read_bytes())
    result = run_module(tmp_path, args)
    assert not result.get('failed') and result['invalid'] == [], result
    assert (dest / 't1' / 't1_creds.json').read_bytes() == creds.read_bytes()


def test_module_creds_of_2_mib_migrate_and_over_16_mib_are_too_large(tmp_path, tree):
    dest, legacy, args = tree
    (legacy / 't1' / 't1_creds.json').write_bytes(b'{"a": "%s"}' % (b'x' * (2 * 1024 * 1024)))
    (legacy / 't2' / 't2_creds.json').write_bytes(b'{"a": "%s"}' % (b'x' * (16 * 1024 * 1024)))
    result = run_module(tmp_path, args)
    assert [m['name'] for m in result['migrated']] == ['t1']
    assert [(i['name'], i['reason'][:42]) for i in result['invalid']] == [
        ('t2', 'creds file is too large: over 16777216 byt')]


def test_module_fails_naming_the_layout_when_the_roots_hold_only_the_other_layout(tmp_path):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    node_session(legacy, 'n1')
    args = {'dest': str(dest), 'legacy_roots': [str(legacy)], 'owner': OWNER, 'group': GROUP}
    for check in (True, False):
        result = run_module(tmp_path, args, check=check)
        assert result.get('failed') is True, result
        assert 'set layout: baileys_multi_file' in result['msg'] and str(legacy / 'n1') in result['msg']
    assert [n for n in os.listdir(str(dest)) if not n.startswith('.')] == []  # no session, no staging
    # the Node layout migrates them
    assert [m['name'] for m in run_module(tmp_path, dict(args, layout='baileys_multi_file'))['migrated']] == ['n1']


def test_module_warns_about_sessions_of_the_other_layout_in_mixed_roots(tmp_path, tree):
    dest, legacy, args = tree
    node_session(legacy, 'n1')
    result = run_module(tmp_path, args)
    assert not result.get('failed') and [m['name'] for m in result['migrated']] == ['t1', 't2'], result
    warnings = [str(w) for w in result.get('warnings', [])]
    assert any('handle them with layout: baileys_multi_file' in w and str(legacy / 'n1') in w for w in warnings)

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real session_info module, run the way Ansible runs it: as a subprocess with an args file, and through
``ansible-playbook`` (normal and check mode)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import grp
import json
import os
import pathlib
import pwd

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.modules import session_info
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.modules.modrunner import ModuleRunner
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils.faultlib import tree_state

RUNNER = ModuleRunner('session_info')
run_module = RUNNER.run
run_ansible = RUNNER.run_ansible
IS_ROOT = os.geteuid() == 0
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
CREDS = json.dumps({'me': {'id': '1@s.whatsapp.net'}, 'noiseKey': 'x' * 2500}).encode()


def write(path, data, mode=0o640):
    with open(str(path), 'wb') as handle:
        handle.write(data)
    os.chmod(str(path), mode)


def make_session(root, name, creds=CREDS):
    """A session without problems (2750 directories, 0640 files); returns its path."""
    path = root / name
    for sub in ('', 'pre-key', 'session'):
        (path / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(str(path / sub), 0o2750)
    if creds is not None:
        write(path / ('%s_creds.json' % name), creds)
    write(path / 'pre-key' / '1.json', b'k' * 164)
    write(path / 'session' / '2.json', b's' * 1350)
    return path


def report_only(result):
    """The reported facts, without Ansible's own keys and the creds ages (they grow between two runs)."""
    keys = ('sessions_root', 'exists', 'sessions', 'legacy_sessions', 'legacy_only', 'legacy_roots', 'problems',
            'summary')
    out = dict((key, result[key]) for key in keys)
    for entry in out['sessions'] + out['legacy_sessions']:
        entry.pop('creds_age_seconds', None)
    return out


@pytest.fixture
def tree(reachable_tmp):
    """``data/sessions`` with a few sessions and problems, ``data/legacy`` with legacy copies. Other users can
    traverse down to ``good/pre-key/`` (o+x, not o+r), so its world-readable file is exposed."""
    data = pathlib.Path(reachable_tmp) / 'data'
    root, legacy = data / 'sessions', data / 'legacy'
    root.mkdir(parents=True)
    for path in (data, root):
        os.chmod(str(path), 0o751)
    make_session(root, 'good')
    make_session(root, 'lost', creds=None)
    make_session(root, 'empty', creds=b'')
    (root / 'onboarding').mkdir()
    os.chmod(str(root / 'onboarding'), 0o2750)
    os.chmod(str(root / 'good' / 'pre-key' / '1.json'), 0o644)
    os.chmod(str(root / 'good'), 0o2751)
    os.chmod(str(root / 'good' / 'pre-key'), 0o2751)
    os.mkfifo(str(root / 'good' / 'pipe'))
    os.symlink(str(legacy), str(root / 'good' / 'escape'))
    make_session(legacy / 'r1', 'old')
    make_session(legacy / 'r2', 'good')
    make_session(legacy / 'r2', 'broken', creds=b'[]')
    args = {'path': str(root), 'legacy_roots': [str(legacy / 'r*')], 'owner': OWNER, 'group': GROUP}
    return data, root, legacy, args


def test_argument_spec_matches_documentation():
    import yaml
    doc = yaml.safe_load(session_info.DOCUMENTATION)
    assert doc['module'] == 'session_info' and doc['version_added'] == '0.1.0' and doc['author']
    assert set(doc['options']) == {'path', 'legacy_roots', 'sessions', 'layout', 'creds_file', 'owner', 'group',
                                   'check_ownership', 'creds_only', 'service_unit', 'service_env_var'}
    returned = yaml.safe_load(session_info.RETURN)
    assert set(returned) == {'sessions_root', 'exists', 'sessions', 'legacy_sessions', 'legacy_only',
                             'legacy_roots', 'problems', 'summary', 'service'}
    yaml.safe_load(session_info.EXAMPLES)


def test_creds_only_reports_the_same_sessions_without_the_trees(tmp_path, tree):
    data, root, legacy, args = tree
    full = run_module(tmp_path, args)
    fast = run_module(tmp_path, dict(args, creds_only=True))
    assert not fast.get('failed') and fast['changed'] is False
    keys = ('name', 'creds_present', 'creds_valid', 'creds_problem')
    for kind in ('sessions', 'legacy_sessions'):
        assert [tuple(s[k] for k in keys) for s in fast[kind]] == [tuple(s[k] for k in keys) for s in full[kind]]
    assert fast['legacy_only'] == full['legacy_only']
    good = dict((s['name'], s) for s in fast['sessions'])['good']
    assert good['files'] is None and good['bytes'] is None and good['problems'] == []


def test_module_reports_the_tree(tmp_path, tree):
    data, root, legacy, args = tree
    result = run_module(tmp_path, args)
    assert result['changed'] is False and not result.get('failed')
    assert result['exists'] is True and result['sessions_root'] == str(root)
    assert [s['name'] for s in result['sessions']] == ['empty', 'good', 'lost', 'onboarding']
    sessions = dict((s['name'], s) for s in result['sessions'])
    good = sessions['good']
    assert good['creds_valid'] is True and good['files'] == 3
    assert good['bytes'] == len(CREDS) + 164 + 1350
    assert isinstance(good['creds_age_seconds'], int) and good['creds_mtime'].endswith('Z')
    assert len(good['problems']) == 2
    assert good['problems'][0] == '1 world-readable path(s) (pre-key/1.json): session files hold private keys'
    special = good['problems'][1]
    assert special.startswith('2 symlink(s) or special file(s) (')
    assert 'escape (symlink)' in special and 'pipe (FIFO)' in special
    assert 'QR scan' in sessions['lost']['creds_problem']
    # an empty onboarding directory: no creds yet, but no QR scan warning either
    assert sessions['onboarding']['creds_present'] is False and sessions['onboarding']['creds_valid'] is False
    assert not any('QR' in p for p in sessions['onboarding']['problems'])
    assert not any(p.startswith('onboarding:') and 'QR' in p for p in result['problems'])
    assert sessions['empty']['creds_problem'] == 'creds file is empty'
    assert result['legacy_roots'] == [str(legacy / 'r1'), str(legacy / 'r2')]
    assert result['legacy_only'] == ['old']
    assert any(p.startswith('old: exists in a legacy root') for p in result['problems'])
    assert any(p.startswith('broken: only in a legacy root, and no copy has a valid creds file') for p in
               result['problems'])
    assert result['summary'] == dict(sessions=4, valid=1, with_problems=sum(1 for s in result['sessions'] if s['problems']),
                                     legacy=3, legacy_only=1, problems=len(result['problems']))
    assert result['summary']['with_problems'] >= 3   # empty, good, lost


def test_module_never_changes_anything_and_check_mode_gives_the_same_result(tmp_path, tree):
    data, root, legacy, args = tree
    before = tree_state(data)
    direct = run_module(tmp_path, args)
    assert tree_state(data) == before
    checked = run_module(tmp_path, args, check=True)
    assert tree_state(data) == before
    assert report_only(checked) == report_only(direct)
    real, output = run_ansible(tmp_path, args)
    assert tree_state(data) == before
    assert real['changed'] is False and 'failed=0' in output
    assert 'ok: [localhost]' in output.split('TASK [Run the module]')[1].split('TASK [')[0]
    in_check, output = run_ansible(tmp_path, args, '--check')
    assert tree_state(data) == before
    assert in_check['changed'] is False and 'failed=0' in output
    assert 'ok: [localhost]' in output.split('TASK [Run the module]')[1].split('TASK [')[0]
    assert report_only(in_check) == report_only(real) == report_only(direct)


def test_module_missing_sessions_root_is_a_problem_not_an_error(tmp_path, tree):
    data, root, legacy, args = tree
    missing = str(tmp_path / 'nope')
    result = run_module(tmp_path, dict(args, path=missing))
    assert not result.get('failed') and result['changed'] is False
    assert result['exists'] is False and result['sessions'] == []
    assert result['problems'][0] == '%s: the sessions root does not exist; apply the session_storage role' % missing
    assert result['legacy_only'] == ['good', 'old']
    assert not os.path.lexists(missing)


def test_module_bad_session_names_rejected_naming_them(tmp_path, tree):
    data, root, legacy, args = tree
    for bad in ('../x', '.hidden', 'a/b', ''):
        result = run_module(tmp_path, dict(args, sessions=['good', bad]))
        assert result['failed'] is True, bad
        assert 'Invalid session name %r' % bad in result['msg']


def test_module_unknown_owner_or_group_rejected(tmp_path, tree):
    data, root, legacy, args = tree
    result = run_module(tmp_path, dict(args, owner='no-such-user-rm'))
    assert result['failed'] is True and "owner 'no-such-user-rm' does not exist" in result['msg']
    result = run_module(tmp_path, dict(args, group='no-such-group-rm'))
    assert result['failed'] is True and "group 'no-such-group-rm' does not exist" in result['msg']
    # without the ownership check the owner is not looked up
    result = run_module(tmp_path, dict(args, owner='no-such-user-rm', check_ownership=False))
    assert not result.get('failed') and result['sessions']


def test_module_check_ownership_false(tmp_path, tree):
    data, root, legacy, args = tree
    result = run_module(tmp_path, dict(args, check_ownership=False))
    good = [s for s in result['sessions'] if s['name'] == 'good'][0]
    assert not any('world-readable' in p or 'wrong owner' in p for p in result['problems'])
    assert good['problems'] == [p for p in good['problems'] if 'symlink(s) or special file(s)' in p]
    assert len(good['problems']) == 1


@pytest.mark.skipif(not IS_ROOT, reason='chown to uid 33 / gid 33 needs root')
def test_module_wrong_owner_as_root(tmp_path, tree):
    data, root, legacy, args = tree
    os.chown(str(root / 'good' / 'session' / '2.json'), 33, 33)
    os.chown(str(root / 'empty'), 0, 33)
    result = run_module(tmp_path, dict(args, owner='root', group='root'))
    assert 'good: 1 path(s) with the wrong owner or group (session/2.json)' in result['problems']
    assert 'empty: 1 path(s) with the wrong owner or group (./)' in result['problems']
    assert not any(p.startswith('lost:') and 'owner' in p for p in result['problems'])
    # numeric ids are accepted; now everything but the two chowned paths is wrong
    result = run_module(tmp_path, dict(args, owner='33', group='33'))
    assert any(p.startswith('good: ') and 'wrong owner or group' in p for p in result['problems'])
    assert '%s: the sessions root has the wrong owner or group' % root in result['problems']


def test_module_sessions_filter_and_layout(tmp_path, tree):
    data, root, legacy, args = tree
    result = run_module(tmp_path, dict(args, sessions=['lost', 'old', 'unknown']))
    assert [s['name'] for s in result['sessions']] == ['lost']
    assert [s['name'] for s in result['legacy_sessions']] == ['old'] and result['legacy_only'] == ['old']
    node = data / 'node'
    (node / 'tenant').mkdir(parents=True)
    os.chmod(str(node / 'tenant'), 0o2750)
    write(node / 'tenant' / 'pre-key-1.json', b'{}')
    result = run_module(tmp_path, {'path': str(node), 'layout': 'baileys_multi_file', 'owner': OWNER,
                                   'group': GROUP})
    assert result['sessions'][0]['creds_problem'] == ('creds file creds.json is missing while key folders exist '
                                                      '(pre-key-*): the gateway will ask for a QR scan')
    result = run_module(tmp_path, dict(args, layout='whatever'))
    assert result['failed'] is True and 'baileys_multi_file' in result['msg']


def test_module_sessions_root_that_is_a_file_fails(tmp_path, tree):
    data, root, legacy, args = tree
    write(data / 'file', b'x')
    result = run_module(tmp_path, dict(args, path=str(data / 'file')))
    assert result['failed'] is True and 'Cannot open the sessions root %s' % (data / 'file') in result['msg']


def test_module_names_the_layout_to_use_and_warns_about_mixed_roots(tmp_path):
    root, legacy = tmp_path / 'sessions', tmp_path / 'legacy'
    root.mkdir()
    (legacy / 'n1').mkdir(parents=True)
    write(legacy / 'n1' / 'creds.json', b'{"me": 1}')
    args = {'path': str(root), 'legacy_roots': [str(legacy)], 'check_ownership': False}
    result = run_module(tmp_path, args)
    assert not result.get('failed') and result['changed'] is False
    assert any(p.startswith('layout is baileys_csharp, but ') and p.endswith(
        'set layout: baileys_multi_file (nothing of theirs is used with layout: baileys_csharp)')
        for p in result['problems'])
    assert 'warnings' not in result
    (legacy / 'c1').mkdir()
    write(legacy / 'c1' / 'c1_creds.json', b'{"me": 1}')
    result, output = RUNNER.run_ansible(tmp_path, args)
    assert not [p for p in result['problems'] if p.startswith('layout is')]
    assert len(result['warnings']) == 1 and 'handle them with layout: baileys_multi_file' in result['warnings'][0]
    assert 'handle them with layout: baileys_multi_file' in output.replace('\n', ' ')

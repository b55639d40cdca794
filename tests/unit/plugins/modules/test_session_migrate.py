# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real module, run the way Ansible runs it: as a subprocess with an args file, and through ``ansible``."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.modules import session_migrate

MODULE = 'ansible_collections.rubymanager.session_persistence.plugins.modules.session_migrate'
FQCN = 'rubymanager.session_persistence.session_migrate'
# The directory holding ansible_collections/ (wherever the collection is imported from).
COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(session_migrate.__file__), *(['..'] * 5)))
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def make_session(root, name, creds=b'{"me": {"id": "1@s.whatsapp.net"}}'):
    path = root / name
    (path / 'pre-key').mkdir(parents=True)
    (path / ('%s_creds.json' % name)).write_bytes(creds)
    (path / 'pre-key' / '1.json').write_bytes(os.urandom(164))
    return path


def env_vars():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([COLLECTIONS] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    env['ANSIBLE_COLLECTIONS_PATH'] = COLLECTIONS
    env['ANSIBLE_LOCALHOST_WARNING'] = '0'
    env['ANSIBLE_RETRY_FILES_ENABLED'] = '0'
    env['ANSIBLE_INVENTORY_UNPARSED_WARNING'] = '0'
    env.pop('ANSIBLE_CONFIG', None)
    return env


def run_module(tmp_path, args, check=False, diff=False):
    """Run the module file as Ansible does on the target: python -m <module> <args file>."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    path = tmp_path / 'args.json'
    path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    proc = subprocess.run([sys.executable, '-m', MODULE, str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env_vars(), cwd=str(tmp_path), check=False)
    assert proc.stdout, proc.stderr.decode()
    return json.loads(proc.stdout.decode())


def ansible_cli(tool='ansible-playbook'):
    """The ansible command line tool, or None. Under ansible-test units only a restricted ``ansible`` package
    is importable, so the installed command is run with a clean PYTHONPATH instead of ``python -m``."""
    for candidate in (os.path.join(os.path.dirname(sys.executable), tool), shutil.which(tool)):
        if candidate and os.access(candidate, os.X_OK):
            env = env_vars()
            env.pop('PYTHONPATH', None)
            if subprocess.call([candidate, '--version'], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL) == 0:
                return candidate
    return None


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Migrate
      %s: %s
      register: migration
      ignore_errors: true
    - name: Save the result for the test
      ansible.builtin.copy:
        content: "{{ migration | to_json }}"
        dest: %s
        mode: "0600"
      check_mode: false
      diff: false
"""


def run_ansible(tmp_path, args, *extra):
    """Run the module through ``ansible-playbook`` (only ansible-core is needed); returns (result, stdout)."""
    cli = ansible_cli()
    if cli is None:
        pytest.skip('the ansible-playbook command line tool is not available here')
    out = tmp_path / 'result.json'
    if out.exists():
        out.unlink()
    playbook = tmp_path / 'playbook.yml'
    playbook.write_text(PLAYBOOK % (FQCN, json.dumps(args), json.dumps(str(out))))
    cmd = [cli, '-i', 'localhost,', '-c', 'local', str(playbook),
           '-e', 'ansible_python_interpreter=%s' % sys.executable] + list(extra)
    env = env_vars()
    env.pop('PYTHONPATH', None)
    env.pop('ANSIBLE_STDOUT_CALLBACK', None)
    env['ANSIBLE_NOCOLOR'] = '1'
    env['ANSIBLE_REMOTE_TMP'] = str(tmp_path / '.ansible-remote-tmp')  # the user may have no home directory
    env['ANSIBLE_LOCAL_TEMP'] = str(tmp_path / '.ansible-local-tmp')
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=str(tmp_path),
                          check=False)
    output = proc.stdout.decode()
    assert out.exists(), output
    return json.loads(out.read_text()), output


@pytest.fixture
def tree(tmp_path):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    make_session(legacy, 't1')
    make_session(legacy, 't2')
    args = {'dest': str(dest), 'legacy_roots': [str(legacy)], 'owner': OWNER, 'group': GROUP}
    return dest, legacy, args


def test_argument_spec_matches_documentation():
    import yaml
    doc = yaml.safe_load(session_migrate.DOCUMENTATION)
    assert doc['version_added'] == '0.1.0' and doc['author']
    assert set(doc['options']) == {'dest', 'legacy_roots', 'sessions', 'layout', 'creds_file', 'normalize_names',
                                   'owner', 'group', 'dir_mode', 'file_mode', 'mode', 'prefer', 'on_conflict',
                                   'lock_timeout'}
    returned = yaml.safe_load(session_migrate.RETURN)
    assert {'migrated', 'present', 'not_found', 'invalid', 'duplicates', 'removed'} <= set(returned)
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
    assert result['changed'] is True and sorted(os.listdir(str(dest))) == ['.session_migrate.lock', 't1', 't2']
    assert not os.path.lexists(str(dest / 't1' / 'evil'))
    result, output = run_ansible(tmp_path, args, '--check', '--diff')
    migrate_task = output.split('TASK [Migrate]')[1].split('TASK [')[0]
    assert result['changed'] is False and 'ok: [localhost]' in migrate_task and '+t' not in migrate_task
    assert result['diff']['before'] == result['diff']['after'] == 't1\nt2\n'


def test_ansible_move_returns_removed(tmp_path, tree):
    dest, legacy, args = tree
    result, output = run_ansible(tmp_path, dict(args, mode='move', sessions=['t2', 'gone']))
    assert result['changed'] is True
    assert result['removed'] == [str(legacy / 't2')] and result['not_found'] == ['gone']
    assert sorted(os.listdir(str(legacy))) == ['t1']

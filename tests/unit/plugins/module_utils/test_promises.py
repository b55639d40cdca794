# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The promises of session_migrate and session_info in the world they run in: a sessions root that overlaps a
legacy root, a sessions root written by the service user (untrusted input to a module that runs as root), a
gateway still writing while its session is copied, any legal file name, corrupt creds in the sessions root,
options that can only be mistakes, roots that are skipped, and check mode after interrupted runs.

Real temporary trees, real processes; the moment of a concurrent write is chosen by wrapping ``os.read``, the
write itself is a real write to the real file.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import stat
import subprocess

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import audit, migration
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import BAILEYS_CSHARP
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.migration import (
    MigrationFailed, Options, SetupError, migrate)
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils import faultlib as fl
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.modules.modrunner import ModuleRunner

MIGRATE = ModuleRunner('session_migrate')
INFO = ModuleRunner('session_info')


def run(dest, roots, **kwargs):
    return migrate(Options(**fl.options(dest, roots, **kwargs)))


def failing(dest, roots, **kwargs):
    with pytest.raises(MigrationFailed) as exc:
        run(dest, roots, **kwargs)
    return exc.value.result, str(exc.value)


# ----------------------------------------------------------------------------------------------------------
# 1. overlap at any depth

@pytest.mark.parametrize('mode', ['copy', 'move'])
@pytest.mark.parametrize('as_glob', [False, True])
def test_a_legacy_candidate_that_contains_the_sessions_root_is_never_copied_or_moved(tmp_path, mode, as_glob):
    srv = tmp_path / 'srv'
    dest = srv / 'gateway' / 'var' / 'lib' / 'sessions'
    dest.mkdir(parents=True)
    fl.make_session(srv, 'gateway')                       # /srv/gateway/gateway_creds.json: holds the root
    fl.make_session(dest, 'live', seed=1)                 # a live session in the sessions root
    fl.make_session(srv, 'tenant', seed=2)                # a real legacy session beside it
    live_before = fl.tree_state(dest / 'live')
    gateway_before = dict((k, v) for k, v in fl.tree_state(srv / 'gateway').items() if not k.startswith('var'))
    root = str(tmp_path / 's*') if as_glob else str(srv)
    result = run(dest, [root], mode=mode, state_dir=str(tmp_path / 'state'))
    assert [m['name'] for m in result['migrated']] == ['tenant']
    skipped = [item for item in result['skipped_sessions'] if item['path'] == str(srv / 'gateway')]
    assert skipped and 'contains the sessions root %s' % dest in skipped[0]['reason']
    assert any(str(srv / 'gateway') in w and str(dest) in w for w in result['warnings'])
    assert fl.tree_state(dest / 'live') == live_before     # the live session: untouched
    assert dict((k, v) for k, v in fl.tree_state(srv / 'gateway').items() if not k.startswith('var')) == (
        gateway_before)                                    # the folder holding the root: neither copied nor moved
    assert sorted(os.listdir(str(dest))) == ['live', 'tenant']
    assert run(dest, [root], mode=mode, state_dir=str(tmp_path / 'state'))['changed'] is False


def test_a_legacy_root_inside_the_sessions_root_is_skipped_and_listed(tmp_path):
    dest = tmp_path / 'sessions'
    fl.make_session(dest, 'a')
    fl.make_session(dest / 'a', 'nested')
    result = run(dest, [str(dest), str(dest / 'a'), str(dest) + '/*'])
    assert result['migrated'] == [] and result['changed'] is False
    reasons = dict((item['path'], item['reason']) for item in result['skipped_roots'])
    assert set(reasons) == {str(dest), str(dest / 'a')}
    assert all('sessions root' in reason for reason in reasons.values())


@pytest.mark.skipif(not fl.IS_ROOT, reason='a bind mount needs root')
def test_a_bind_mount_of_the_sessions_root_inside_a_legacy_session_is_skipped(tmp_path):
    dest = tmp_path / 'app' / 'sessions'
    dest.mkdir(parents=True)
    fl.make_session(dest, 'live')
    legacy = tmp_path / 'legacy'
    fl.make_session(legacy, 'gw')
    (legacy / 'gw' / 'mnt').mkdir()
    subprocess.check_call(['mount', '--bind', str(dest), str(legacy / 'gw' / 'mnt')])
    try:
        before = fl.tree_state(dest)
        for mode in ('copy', 'move'):
            result = run(dest, [legacy], mode=mode)
            assert result['migrated'] == [] and result['errors'] == []
            assert [item['path'] for item in result['skipped_sessions']] == [str(legacy / 'gw' / 'mnt')]
            assert 'is the sessions root' in result['skipped_sessions'][0]['reason']
            assert fl.tree_state(dest) == before
    finally:
        subprocess.call(['umount', '-l', str(legacy / 'gw' / 'mnt')])


# ----------------------------------------------------------------------------------------------------------
# 2. the sessions root is not trusted

def test_planted_move_journals_lock_and_backup_in_dest_direct_root_to_nothing(tmp_path):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    victim = tmp_path / 'victim'                          # an empty directory outside everything
    victim.mkdir()
    fl.make_session(legacy, 'a')
    journal = {'name': '../victim', 'source': os.path.join(str(legacy), '..', 'victim')}
    (dest / '.moving-a').write_text(json.dumps(journal))
    (dest / '.moving-x').write_text(json.dumps({'name': 'a', 'source': str(victim)}))
    (dest / '.session_migrate.lock').symlink_to(tmp_path / 'victim' / 'created-through-the-lock')
    (dest / '.backup').symlink_to(victim)
    result = run(dest, [legacy], mode='move')
    assert [m['name'] for m in result['migrated']] == ['a'] and result['removed'] == [str(legacy / 'a')]
    assert victim.is_dir() and os.listdir(str(victim)) == []
    for planted in ('.moving-a', '.moving-x', '.session_migrate.lock', '.backup'):
        assert os.path.lexists(str(dest / planted))       # not read, not used, not removed


def test_journals_in_state_dir_are_checked_against_this_runs_discovery(tmp_path):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    legacy.mkdir()
    (legacy / 'gone').mkdir()                             # an empty legacy dir: a finished-but-unjournaled move
    victim = tmp_path / 'victim'
    victim.mkdir()
    state = migration.StateDir(fl.state_dir_of(dest), False)
    state.open()
    try:
        real = os.path.realpath(str(dest))
        state.write_journal(real, 'gone', str(victim))                   # a source that is not <root>/<name>
        fd = os.open(os.path.join(state.path, 'journal', 'bad.json'), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, json.dumps({'dest': real, 'name': '../victim', 'source': str(victim)}).encode())
        os.close(fd)
    finally:
        state.close()
    result = run(dest, [legacy], mode='move')
    assert victim.is_dir() and (legacy / 'gone').is_dir()
    assert any('unexpected content ignored' in w for w in result['warnings'])


def test_hard_links_and_symlinks_in_a_replaced_dest_session_never_reach_outside(tmp_path):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'secret').write_bytes(b'root only')
    os.chmod(str(outside / 'secret'), 0o600)
    fl.make_session(legacy, 'a', mtime=1700000000)
    fl.make_session(dest, 'a', seed=9, mtime=1600000000)
    os.link(str(outside / 'secret'), str(dest / 'a' / 'hardlink'))
    (dest / 'a' / 'pre-key' / 'escape').symlink_to(outside)
    secret_before = os.stat(str(outside / 'secret'))
    result = run(dest, [legacy], on_conflict='newest')
    backup = result['migrated'][0]['backup']
    assert backup.startswith(fl.state_dir_of(dest) + '/')
    assert stat.S_IMODE(os.stat(os.path.dirname(backup)).st_mode) == 0o700   # root-only place
    assert not os.path.lexists(os.path.join(backup, 'pre-key', 'escape'))     # symlinks not copied
    after = os.stat(str(outside / 'secret'))             # the hard link's other name: content and mode kept
    assert (outside / 'secret').read_bytes() == b'root only' and os.listdir(str(outside)) == ['secret']
    assert (after.st_mode, after.st_uid, after.st_size) == (secret_before.st_mode, secret_before.st_uid,
                                                            secret_before.st_size)
    assert sorted(os.listdir(str(dest))) == ['a'] and not fl.stray_creds(dest)


# ----------------------------------------------------------------------------------------------------------
# 3. a live writer

def _rewrite_in_place(path):
    """What LiteDB or ``cp -p`` does: same size, new bytes in the middle, the old mtime put back."""
    st = os.stat(path)
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b'\xff' * 16, st.st_size // 2)
    finally:
        os.close(fd)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _write_while_reading(monkeypatch, reading, target):
    """Rewrite ``target`` in place the first time the migration reads a chunk of file ``reading``."""
    inode = os.stat(reading).st_ino
    real_read = os.read
    done = []

    def read(fd, size):
        data = real_read(fd, size)
        if not done:
            try:
                same = os.fstat(fd).st_ino == inode
            except OSError:
                same = False
            if same:
                done.append(True)
                _rewrite_in_place(target)
        return data
    monkeypatch.setattr(os, 'read', read)
    return done


def _big_store(legacy, name):
    path = os.path.join(str(legacy), name, 'store.db')
    with open(path, 'wb') as handle:
        handle.write(os.urandom(3 * 1024 * 1024))       # three read chunks
    return path


@pytest.mark.parametrize('mode', ['copy', 'move'])
def test_a_file_rewritten_in_place_during_its_copy_fails_the_session(tmp_path, monkeypatch, mode):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    fl.make_session(legacy, 'a')
    fl.make_session(legacy, 'b', seed=1)
    store = _big_store(legacy, 'a')
    done = _write_while_reading(monkeypatch, store, store)
    result, msg = failing(dest, [legacy], mode=mode)
    assert done and [e['name'] for e in result['errors']] == ['a']
    assert store in msg and 'changed while being migrated' in msg
    assert fl.visible_sessions(dest) == ['b'] and not fl.staging_dirs(dest)
    assert os.path.isfile(store) and os.path.isfile(str(legacy / 'a' / 'a_creds.json'))   # never removed


def test_a_file_rewritten_after_its_copy_but_before_the_commit_fails_the_session(tmp_path, monkeypatch):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    fl.make_session(legacy, 'a')
    early = str(legacy / 'a' / 'a_creds.json')           # copied before store.db (sorted by name)
    store = _big_store(legacy, 'a')
    done = _write_while_reading(monkeypatch, store, early)
    result, msg = failing(dest, [legacy])
    assert done and early in msg and 'changed while being migrated' in msg
    assert fl.visible_sessions(dest) == []


def test_a_file_added_during_the_copy_fails_the_session(tmp_path, monkeypatch):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    fl.make_session(legacy, 'a')
    store = _big_store(legacy, 'a')
    inode = os.stat(store).st_ino
    real_read = os.read

    def read(fd, size):
        data = real_read(fd, size)
        if os.fstat(fd).st_ino == inode and not os.path.exists(str(legacy / 'a' / 'pre-key' / '999.json')):
            (legacy / 'a' / 'pre-key' / '999.json').write_bytes(b'{"new": "pre-key"}')
        return data
    monkeypatch.setattr(os, 'read', read)
    result, msg = failing(dest, [legacy])
    assert 'added, removed or renamed while being migrated' in msg
    assert fl.visible_sessions(dest) == []


def test_move_keeps_a_legacy_file_rewritten_after_the_commit(tmp_path, monkeypatch):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    fl.make_session(legacy, 'a')
    target = str(legacy / 'a' / 'session' / '123__1.json')
    real_point = migration.fault_point

    def point(phase):
        if phase == 'renamed':
            _rewrite_in_place(target)                     # after the copy is in place, before any unlink
        real_point(phase)
    monkeypatch.setattr(migration, 'fault_point', point)
    result = run(dest, [legacy], mode='move')
    assert result['removed'] == [] and os.path.isfile(target)
    assert any(target in w and 'changed after it was copied' in w for w in result['warnings'])


# ----------------------------------------------------------------------------------------------------------
# 4. any legal file name

def _odd_tree(legacy):
    os.makedirs(legacy, exist_ok=True)
    fl.make_session(legacy, 'good')
    fl.make_session(legacy, 'back\\slash', seed=1)
    fl.make_session(legacy, 'new\nline', seed=2)
    raw = os.fsencode(legacy) + b'/caf\xe9'              # not valid UTF-8
    os.mkdir(raw)
    with open(raw + b'/caf\xe9_creds.json', 'wb') as handle:
        handle.write(b'{"me": {"id": "x"}}')
    long_name = 'L' * 250                                 # too long to hold L..._creds.json
    os.makedirs(os.path.join(legacy, long_name, 'pre-key'))
    return long_name


def test_odd_names_are_reported_per_session_and_never_fail_the_run(tmp_path):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    long_name = _odd_tree(str(legacy))
    args = dict(fl.options(dest, [legacy]))
    result = MIGRATE.run(tmp_path, args)
    assert not result.get('failed'), result
    assert sorted(m['name'] for m in result['migrated']) == ['back\\slash', 'good', 'new\\nline']
    reasons = dict((item['path'], item['reason']) for item in result['skipped_sessions'])
    assert 'not valid UTF-8' in reasons[str(legacy) + '/caf\\xe9']
    assert 'too long' in reasons[os.path.join(str(legacy), long_name)]
    assert os.path.isfile(os.path.join(str(dest), 'new\nline', 'new\nline_creds.json'))
    assert os.path.isfile(os.path.join(str(dest), 'back\\slash', 'back\\slash_creds.json'))
    again = MIGRATE.run(tmp_path, args)
    assert again['changed'] is False and not again.get('failed') and len(again['skipped_sessions']) == 2
    # Odd names in the sessions root itself: session_info, and later migrations, keep working.
    os.mkdir(os.fsencode(str(dest)) + b'/bad\xff')
    os.mkdir(os.path.join(str(dest), 'M' * 250))
    info = INFO.run(tmp_path, {'path': str(dest), 'legacy_roots': [str(legacy)], 'check_ownership': False})
    assert not info.get('failed'), info
    assert sorted(s['name'] for s in info['sessions']) == ['back\\slash', 'good', 'new\\nline']
    assert any('bad\\xff' in p and 'not valid UTF-8' in p for p in info['problems'])
    assert any('caf\\xe9' in p for p in info['problems'])
    assert MIGRATE.run(tmp_path, args)['changed'] is False


def test_session_info_through_ansible_playbook_survives_odd_names(tmp_path):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    _odd_tree(str(legacy))
    os.mkdir(os.fsencode(str(dest)) + b'/bad\xff')
    run(dest, [legacy])
    result, output = INFO.run_ansible(tmp_path, {'path': str(dest), 'legacy_roots': [str(legacy)],
                                                 'check_ownership': False})
    assert not result.get('failed'), output
    assert any('bad\\xff' in problem for problem in result['problems']), result['problems']


# ----------------------------------------------------------------------------------------------------------
# 5. a corrupt session in the sessions root

@pytest.mark.parametrize('on_conflict', ['keep', 'newest'])
def test_a_corrupt_creds_file_in_dest_is_backed_up_and_replaced_by_a_valid_legacy_copy(tmp_path, on_conflict):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    fl.make_session(legacy, 'a', mtime=1500000000)        # older than the corrupt one: still brought
    fl.make_session(dest, 'a', seed=3, mtime=1600000000)
    (dest / 'a' / 'a_creds.json').write_bytes(b'{"me": {"id": "trunc')
    checked = run(dest, [legacy], on_conflict=on_conflict, check_mode=True)
    result = run(dest, [legacy], on_conflict=on_conflict)
    assert [m['name'] for m in checked['migrated']] == [m['name'] for m in result['migrated']] == ['a']
    backup = result['migrated'][0]['backup']
    with open(os.path.join(backup, 'a_creds.json'), 'rb') as handle:
        assert handle.read() == b'{"me": {"id": "trunc'
    with open(str(legacy / 'a' / 'a_creds.json'), 'rb') as src, open(str(dest / 'a' / 'a_creds.json'), 'rb') as got:
        assert src.read() == got.read()
    assert run(dest, [legacy], on_conflict=on_conflict)['changed'] is False


def test_a_corrupt_creds_file_under_on_conflict_fail_or_without_legacy_copy_is_named(tmp_path):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    legacy.mkdir()
    fl.make_session(legacy, 'a')
    for name in ('a', 'b'):
        fl.make_session(dest, name, seed=4)
        (dest / name / ('%s_creds.json' % name)).write_bytes(b'not json at all')
    before = fl.tree_state(dest)
    result, msg = failing(dest, [legacy], on_conflict='fail')
    assert str(dest / 'a' / 'a_creds.json') in msg and 'corrupt' in msg and 'on_conflict=fail' in msg
    assert fl.tree_state(dest) == before
    result = run(dest, [legacy], sessions=['b'])
    assert [item['name'] for item in result['corrupt']] == ['b'] and result['present'] == []
    assert result['corrupt'][0]['path'] == str(dest / 'b' / 'b_creds.json')
    assert 'not JSON' in result['corrupt'][0]['reason'] and 'QR code' in result['corrupt'][0]['reason']


# ----------------------------------------------------------------------------------------------------------
# 6. options that can only be mistakes

@pytest.mark.parametrize('option, value, match', [
    ('dest', 'relative/sessions', 'relative path'),
    ('dest', '/', 'filesystem root'),
    ('dest', '/etc/whatsapp/sessions', 'system directory /etc'),
    ('dest', '/usr/local/sessions', 'system directory /usr'),
    ('dest', '/srv', 'top-level directory'),
    ('legacy_roots', ['relative/legacy'], 'not an absolute path'),
    ('owner', '54321', "owner '54321' does not exist"),
    ('group', '54321', "group '54321' does not exist"),
    ('owner', 'no-such-user-x', "owner 'no-such-user-x' does not exist"),
    ('file_mode', '0750', 'execute bit'),
    ('file_mode', '4640', 'setuid, setgid or sticky'),
    ('file_mode', '2640', 'setuid, setgid or sticky'),
    ('file_mode', '1640', 'setuid, setgid or sticky'),
    ('dir_mode', '2751', 'others'),
    ('dir_mode', '2757', 'others'),
    ('file_mode', '0644', 'others'),
    ('state_dir', 'relative/state', 'not an absolute path'),
])
def test_options_that_can_only_be_mistakes_are_refused_with_nothing_changed(tmp_path, option, value, match):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    fl.make_session(legacy, 'a')
    before = fl.tree_state(tmp_path)
    opts = fl.options(dest, [legacy])
    opts[option] = value
    with pytest.raises(SetupError, match=match) as exc:
        migrate(Options(**opts))
    assert repr(value if not isinstance(value, list) else value[0]) in str(exc.value) or value == '/'
    assert fl.tree_state(tmp_path) == before


def test_a_state_dir_inside_the_sessions_root_is_refused(tmp_path):
    dest = tmp_path / 'dest'
    dest.mkdir()
    with pytest.raises(SetupError, match='overlaps the sessions root'):
        migrate(Options(**fl.options(dest, [tmp_path / 'legacy'], state_dir=str(dest / '.state'))))
    assert os.listdir(str(dest)) == []


def test_numeric_ids_that_exist_are_accepted(tmp_path):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    fl.make_session(legacy, 'a')
    uid, gid = os.getuid(), os.getgid()
    result = run(dest, [legacy], owner=str(uid), group=str(gid))
    st = os.stat(str(dest / 'a' / 'a_creds.json'))
    assert result['migrated'] and (st.st_uid, st.st_gid) == (uid, gid)


# ----------------------------------------------------------------------------------------------------------
# 7. nothing skipped in silence

def test_every_skipped_root_is_listed_with_its_reason_and_literal_glob_paths_are_used(tmp_path):
    dest = tmp_path / 'dest'
    dest.mkdir()
    literal = tmp_path / 'tenants[1]'                     # exists: used as the literal path it is
    fl.make_session(literal, 'lit')
    fl.make_session(tmp_path / 'tenants1', 'globbed')     # what tenants[1] would match as a glob
    (tmp_path / 'afile').write_text('x')
    result = run(dest, [str(literal), str(tmp_path / 'missing'), str(tmp_path / 'afile'),
                        str(tmp_path / 'rel[0-9]'), str(dest / 'sub')])
    assert [m['name'] for m in result['migrated']] == ['lit']
    reasons = dict((item['path'], item['reason']) for item in result['skipped_roots'])
    assert reasons == {str(tmp_path / 'missing'): 'does not exist',
                       str(tmp_path / 'afile'): 'not a directory',
                       str(tmp_path / 'rel[0-9]'): 'does not exist (and nothing matches it as a glob)',
                       str(dest / 'sub'): 'does not exist'}
    # a non-existent path with glob characters is globbed
    result = run(dest, [str(tmp_path / 'tenants[1-2]')])
    assert result['legacy_roots'] == [str(tmp_path / 'tenants1')]


def test_an_unreadable_root_is_listed(tmp_path):
    with fl.unprivileged_world() as (base, collections, python, user):
        dest, legacy = os.path.join(base, 'dest'), os.path.join(base, 'legacy')
        os.mkdir(dest)
        fl.make_session(legacy, 'a')
        if fl.IS_ROOT:
            fl.chown_tree(base, user)
        os.chmod(legacy, 0o300)                           # not readable
        group = fl.grp.getgrgid(user.pw_gid).gr_name
        opts = fl.options(dest, [legacy], owner=user.pw_name, group=group)
        rc, data, err = fl.run_child(opts, python=python, collections=collections, cwd=base, **fl.as_user(user))
        assert rc == 0 and not data['failed'], err
        reasons = dict((item['path'], item['reason']) for item in data['result']['skipped_roots'])
        assert 'Permission denied' in reasons[legacy]


# ----------------------------------------------------------------------------------------------------------
# 8. check mode tells the truth (the kill -9 test of test_faults.py compares check mode with the real run after
# every kill); a sessions root that does not exist yet is treated as empty

def test_check_mode_on_a_missing_sessions_root_reports_what_the_first_real_run_does(tmp_path):
    dest = tmp_path / 'app' / 'sessions'
    legacy, legacy2 = tmp_path / 'legacy', tmp_path / 'legacy2'
    fl.make_session(legacy, 'a')
    fl.make_session(legacy2, 'a', seed=1)
    fl.make_session(legacy, 'b')
    (legacy / 'bad').mkdir()
    (legacy / 'bad' / 'bad_creds.json').write_bytes(b'')
    before = fl.tree_state(tmp_path)
    warnings = []
    checked = migrate(Options(**fl.options(dest, [legacy, legacy2], check_mode=True, want_diff=True)),
                      warn=warnings.append)
    assert fl.tree_state(tmp_path) == before and not os.path.exists(fl.state_dir_of(dest))
    assert any('does not exist yet' in w for w in warnings)
    dest.mkdir(parents=True)
    real = run(dest, [legacy, legacy2], want_diff=True)
    for key in ('changed', 'migrated', 'invalid', 'duplicates', 'present', 'not_found', 'corrupt', 'diff'):
        assert checked[key] == real[key], key


def test_session_info_reports_stray_creds_and_interrupted_commits(tmp_path):
    dest = tmp_path / 'dest'
    fl.make_session(dest, 'a')
    fl.make_session(dest / '.backup', 'a.20260101T000000Z', seed=1)
    os.rename(str(dest / '.backup' / 'a.20260101T000000Z' / 'a.20260101T000000Z_creds.json'),
              str(dest / '.backup' / 'a.20260101T000000Z' / 'a_creds.json'))
    (dest / 'stray_creds.json').write_bytes(b'{}')
    fl.make_session(dest, 'b', seed=2)
    (dest / 'b' / 'old').mkdir()
    shutil.copy(str(dest / 'b' / 'b_creds.json'), str(dest / 'b' / 'old' / 'b_creds.json'))
    fl.make_session(dest, 'c', seed=3)
    os.rename(str(dest / 'c' / 'c_creds.json'), str(dest / 'c' / migration.STAGED_CREDS))
    result = audit.audit(str(dest), [], BAILEYS_CSHARP)
    problems = '\n'.join(result['problems'])
    assert '.backup' in problems and 'a_creds.json' in problems
    assert str(dest / 'stray_creds.json') in problems
    assert 'b: 1 stray creds file(s) (old/b_creds.json)' in problems
    assert 'c: creds file c_creds.json is missing and .creds.staged is there' in problems
    assert not [p for p in result['problems'] if p.startswith('a: ')]

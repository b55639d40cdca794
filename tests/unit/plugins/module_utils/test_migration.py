# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""End-to-end rules of the migration on real temporary trees (no filesystem mocks)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import grp
import hashlib
import json
import os
import pwd
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import migration, safecopy
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils import faultlib
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.migration import (
    MigrationFailed, Options, SetupError, migrate)

IS_ROOT = os.geteuid() == 0
OWNER = 'www-data' if IS_ROOT else pwd.getpwuid(os.getuid()).pw_name
GROUP = 'www-data' if IS_ROOT else grp.getgrgid(os.getgid()).gr_name
# The directory holding ansible_collections/ (wherever the collection is imported from).
COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(migration.__file__), *(['..'] * 5)))


def creds_bytes(name, extra=''):
    return json.dumps({'me': {'id': name}, 'registrationId': 1, 'noiseKey': 'x' * 2500, 'extra': extra}).encode()


def make_session(root, name, prekeys=3, creds=None, mtime=1600000000, creds_name=None):
    """A BaileysCSharp-like session; returns its path."""
    path = os.path.join(str(root), name)
    for sub in ('pre-key', 'session', 'app-state-sync-key'):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    files = {creds_name or '%s_creds.json' % name: creds if creds is not None else creds_bytes(name)}
    for i in range(prekeys):
        files['pre-key/%d.json' % i] = os.urandom(164)
    files['session/123__1.json'] = os.urandom(1350)
    files['app-state-sync-key/AAAA.json'] = os.urandom(300)
    for rel, data in files.items():
        with open(os.path.join(path, rel), 'wb') as handle:
            handle.write(data)
        os.utime(os.path.join(path, rel), (mtime, mtime))
    for sub in ('pre-key', 'session', 'app-state-sync-key', ''):
        os.utime(os.path.join(path, sub), (mtime - 10, mtime - 10))
    return path


def snapshot(path, content=True):
    """{relative path: metadata (+ sha256)} of everything at and below ``path`` (ctime proves no change)."""
    result = {}
    path = str(path)
    if not os.path.lexists(path):
        return result
    for dirpath, dirnames, filenames in os.walk(path):
        for entry in ['.'] if dirpath == path else []:
            st = os.lstat(dirpath)
            result[entry] = (stat.S_IFMT(st.st_mode), st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        for entry in dirnames + filenames:
            full = os.path.join(dirpath, entry)
            st = os.lstat(full)
            item = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                    stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if content and stat.S_ISREG(st.st_mode):
                with open(full, 'rb') as handle:
                    item += (hashlib.sha256(handle.read()).hexdigest(),)
            result[os.path.relpath(full, path)] = item
    return result


def inner(snap):
    """A snapshot without the entry of the top directory itself."""
    return dict((k, v) for k, v in snap.items() if k != '.')


def same_content(a, b):
    """Same relative paths, file contents and mtimes (files and directories)."""
    def summary(path):
        out = {}
        for dirpath, dirnames, filenames in os.walk(str(path)):
            for entry in dirnames + filenames:
                full = os.path.join(dirpath, entry)
                st = os.lstat(full)
                digest = None
                if stat.S_ISREG(st.st_mode):
                    with open(full, 'rb') as handle:
                        digest = hashlib.sha256(handle.read()).hexdigest()
                out[os.path.relpath(full, str(path))] = (stat.S_IFMT(st.st_mode), st.st_mtime_ns, digest)
        out['.'] = os.lstat(str(path)).st_mtime_ns
        return out
    return summary(a) == summary(b)


@pytest.fixture
def env(tmp_path):
    dest = tmp_path / 'dest'
    dest.mkdir()
    legacy = tmp_path / 'legacy'
    legacy.mkdir()
    return tmp_path, dest, legacy


def opts(env, **kwargs):
    tmp_path, dest, legacy = env
    kwargs.setdefault('legacy_roots', [str(legacy)])
    kwargs.setdefault('owner', OWNER)
    kwargs.setdefault('group', GROUP)
    kwargs.setdefault('state_dir', faultlib.state_dir_of(dest))
    return Options(dest=str(dest), **kwargs)


def names(items):
    return [item['name'] for item in items]


# ----------------------------------------------------------------------------------------------------------

def test_copy_migrates_whole_sessions_with_modes_and_mtimes_and_keeps_legacy(env):
    tmp_path, dest, legacy = env
    for name in ('t2', 't1', 't3'):
        make_session(legacy, name)
    os.makedirs(str(legacy / 't1' / 'sender-key' / 'nested'))
    (legacy / 't1' / 'sender-key' / 'nested' / 'x.json').write_bytes(b'{}')
    before = snapshot(legacy)
    result = migrate(opts(env))
    assert result['changed'] is True
    assert names(result['migrated']) == ['t1', 't2', 't3']
    first = result['migrated'][0]
    assert first['source'] == str(legacy / 't1') and first['dest'] == str(dest / 't1')
    assert first['files'] == 7 and first['bytes'] == sum(
        os.path.getsize(os.path.join(d, f)) for d, _dirs, fs in os.walk(str(legacy / 't1')) for f in fs)
    assert snapshot(legacy) == before
    for name in ('t1', 't2', 't3'):
        assert same_content(legacy / name, dest / name)
        for dirpath, dirnames, filenames in os.walk(str(dest / name)):
            for entry in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
                st = os.lstat(entry)
                want = 0o2750 if stat.S_ISDIR(st.st_mode) else 0o640
                assert stat.S_IMODE(st.st_mode) == want, entry
                assert not st.st_mode & 0o007
                assert (st.st_uid, st.st_gid) == (pwd.getpwnam(OWNER).pw_uid, grp.getgrnam(GROUP).gr_gid)
    assert sorted(os.listdir(str(dest))) == ['t1', 't2', 't3']  # root's own files live in state_dir
    state = faultlib.state_dir_of(dest)
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(state, migration.LOCK_NAME)).st_mode) == 0o600


@pytest.mark.skipif(not IS_ROOT, reason='chown to another user (www-data) needs root')
def test_root_sets_owner_and_group_www_data(env):
    tmp_path, dest, legacy = env
    make_session(legacy, 't1')
    migrate(opts(env, owner='www-data', group='www-data'))
    for dirpath, dirnames, filenames in os.walk(str(dest / 't1')):
        for entry in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
            st = os.lstat(entry)
            assert (st.st_uid, st.st_gid) == (33, 33) or (
                (st.st_uid, st.st_gid) == (pwd.getpwnam('www-data').pw_uid, grp.getgrnam('www-data').gr_gid))
    st = os.stat(str(dest / 't1'))
    assert st.st_mode & stat.S_ISGID


def test_second_run_and_check_mode_change_nothing_and_read_only_creds_files(env, monkeypatch):
    tmp_path, dest, legacy = env
    for name in ('a', 'b'):
        make_session(legacy, name)
    (legacy / 'a' / 'pre-key\\9.json').write_bytes(b'k9')
    (legacy / 'a\\store.db').write_bytes(b'db')
    migrate(opts(env))
    before = snapshot(tmp_path)

    creds_sizes = sum(os.path.getsize(str(dest / n / ('%s_creds.json' % n))) for n in ('a', 'b'))
    runs = 0
    safecopy.READ_STATS.update(files=0, bytes=0)
    for check in (False, True):
        for on_conflict in ('keep', 'newest', 'fail'):
            for mode in ('copy', 'move'):
                result = migrate(opts(env, check_mode=check, on_conflict=on_conflict, mode=mode, prefer='newest',
                                      want_diff=True))
                assert result['changed'] is False
                assert result['present'] == ['a', 'b'] and result['migrated'] == []
                assert result['diff']['before'] == result['diff']['after'] == 'a\nb\n'
                runs += 1
    # Only the creds files of dest are read (to tell a valid session from a corrupt one): never a key file.
    assert safecopy.READ_STATS['bytes'] <= 2 * runs * creds_sizes
    assert safecopy.READ_STATS['files'] <= 2 * runs * 2
    assert snapshot(tmp_path) == before


def test_check_mode_reports_what_a_real_run_does_and_changes_nothing(env):
    tmp_path, dest, legacy = env
    make_session(legacy, 'new1')
    make_session(legacy, 'new2')
    make_session(legacy, 'kept')
    make_session(dest, 'kept', creds=creds_bytes('kept', 'dest version'))
    (dest / 'empty').mkdir()
    make_session(legacy, 'empty')
    (tmp_path / 'legacy2').mkdir()
    make_session(tmp_path / 'legacy2', 'new1')
    (legacy / 'bad').mkdir()
    (legacy / 'bad' / 'bad_creds.json').write_bytes(b'')
    roots = [str(legacy), str(tmp_path / 'legacy2')]
    before = snapshot(tmp_path)
    checked = migrate(opts(env, check_mode=True, want_diff=True, legacy_roots=roots, mode='move'))
    assert snapshot(tmp_path) == before
    assert not (dest / '.session_migrate.lock').exists()
    assert not os.path.exists(faultlib.state_dir_of(dest))  # check mode creates nothing, not even state_dir
    real = migrate(opts(env, want_diff=True, legacy_roots=roots, mode='move'))
    for key in ('changed', 'migrated', 'present', 'not_found', 'invalid', 'duplicates', 'removed', 'diff'):
        assert checked[key] == real[key], key
    assert names(real['migrated']) == ['empty', 'new1', 'new2']
    assert real['diff'] == {'before_header': str(dest), 'after_header': str(dest), 'before': 'kept\n',
                            'after': 'empty\nkept\nnew1\nnew2\n'}
    assert real['invalid'] == [{'name': 'bad', 'path': str(legacy / 'bad'), 'reason': 'creds file is empty'}]


def test_move_removes_the_legacy_copy_only_after_verification(env):
    tmp_path, dest, legacy = env
    make_session(legacy, 'a')
    make_session(legacy, 'b')
    (legacy / 'b' / 'link').symlink_to(tmp_path)
    (legacy / 'a\\store.db').write_bytes(b'db')
    reference = tmp_path / 'reference'
    subprocess.check_call(['cp', '-a', str(legacy), str(reference)])
    result = migrate(opts(env, mode='move'))
    assert result['removed'] == [str(legacy / 'a')]
    assert sorted(os.listdir(str(legacy))) == ['b']
    assert os.listdir(str(legacy / 'b')) == ['link']
    assert any('legacy session directory kept' in w for w in result['warnings'])
    assert (dest / 'a' / 'store.db').read_bytes() == b'db'
    os.unlink(str(reference / 'a\\store.db'))
    assert same_content(reference / 'a', dest / 'a') is False  # store.db was added
    os.unlink(str(dest / 'a' / 'store.db'))
    os.utime(str(dest / 'a'), ns=(0, os.lstat(str(reference / 'a')).st_mtime_ns))
    assert same_content(reference / 'a', dest / 'a')


def test_move_keeps_legacy_when_the_copy_does_not_verify(env, monkeypatch):
    tmp_path, dest, legacy = env
    make_session(legacy, 'a')
    make_session(legacy, 'b')
    before = snapshot(legacy)
    real_copy = migration.copy_plan

    def copy_then_corrupt(plan, root_fd, name, parent_fd, staging, settings, display=None):
        hashes = real_copy(plan, root_fd, name, parent_fd, staging, settings, display)
        if name == 'a':  # a bit flip in the staged copy, on the real file system
            with open(os.path.join(str(dest), staging, 'pre-key', '0.json'), 'r+b') as handle:
                data = handle.read()
                handle.seek(0)
                handle.write(bytes([data[0] ^ 1]) + data[1:])
        return hashes
    monkeypatch.setattr(migration, 'copy_plan', copy_then_corrupt)
    with pytest.raises(MigrationFailed) as exc:
        migrate(opts(env, mode='move'))
    result = exc.value.result
    assert 'verification failed' in str(exc.value) and str(dest) in str(exc.value)
    assert names(result['errors']) == ['a'] and names(result['migrated']) == ['b']
    assert result['removed'] == [str(legacy / 'b')]
    assert inner(snapshot(legacy / 'a')) == dict((k[2:], v) for k, v in before.items() if k.startswith('a/'))
    assert sorted(os.listdir(str(dest))) == ['b']


def test_move_keeps_files_that_appear_during_the_run(env, monkeypatch):
    tmp_path, dest, legacy = env
    make_session(legacy, 'a')
    real_copy = migration.copy_plan

    def copy_then_write(plan, root_fd, name, parent_fd, staging, settings):
        hashes = real_copy(plan, root_fd, name, parent_fd, staging, settings)
        (legacy / 'a' / 'pre-key' / 'new.json').write_bytes(b'new')
        return hashes
    monkeypatch.setattr(migration, 'copy_plan', copy_then_write)
    result = migrate(opts(env, mode='move'))
    assert result['removed'] == []
    assert sorted(os.listdir(str(legacy / 'a'))) == ['pre-key']
    assert os.listdir(str(legacy / 'a' / 'pre-key')) == ['new.json']
    assert any('new.json: appeared after the copy' in w for w in result['warnings'])


def test_backslash_names_and_store_db_with_move_and_both_spellings(env):
    tmp_path, dest, legacy = env
    make_session(legacy, 's')
    (legacy / 's' / 'pre-key\\7.json').write_bytes(b'seven')
    (legacy / 's' / 'pre-key\\0.json').write_bytes(b'loser')
    (legacy / 's\\store.db').write_bytes(b'db')
    (legacy / 's\\store-log.db').write_bytes(b'log')
    result = migrate(opts(env, mode='move'))
    assert (dest / 's' / 'pre-key' / '7.json').read_bytes() == b'seven'
    assert (dest / 's' / 'pre-key' / '0.json').read_bytes() != b'loser'
    assert (dest / 's' / 'store.db').read_bytes() == b'db'
    assert (dest / 's' / 'store-log.db').read_bytes() == b'log'
    assert sorted(os.listdir(str(legacy))) == ['s']
    assert os.listdir(str(legacy / 's')) == ['pre-key\\0.json']
    assert any('both spellings' in w for w in result['warnings'])
    assert result['removed'] == []


def test_normalize_false_copies_names_as_they_are(env):
    tmp_path, dest, legacy = env
    make_session(legacy, 's')
    (legacy / 's' / 'pre-key\\7.json').write_bytes(b'seven')
    (legacy / 's\\store.db').write_bytes(b'db')
    migrate(opts(env, normalize_names=False))
    assert (dest / 's' / 'pre-key\\7.json').read_bytes() == b'seven'
    assert not (dest / 's' / 'store.db').exists()


def test_multi_file_layout_and_creds_file_override(env):
    tmp_path, dest, legacy = env
    os.makedirs(str(legacy / 'node1'))
    (legacy / 'node1' / 'creds.json').write_bytes(creds_bytes('node1'))
    for flat in ('pre-key-1.json', 'session-123.0.json', 'lid-mapping-9.json', 'app-state-sync-version-x.json'):
        (legacy / 'node1' / flat).write_bytes(b'{"k": 1}')
    make_session(legacy, 'cs1')
    result = migrate(opts(env, layout='baileys_multi_file'))
    assert names(result['migrated']) == ['node1']
    assert same_content(legacy / 'node1', dest / 'node1')
    make_session(legacy, 'cs2', creds_name='creds.json')
    result = migrate(opts(env, creds_file='creds.json'))
    assert names(result['migrated']) == ['cs2'] and result['present'] == ['node1']


def test_prefer_first_and_newest_report_duplicates(env):
    tmp_path, dest, legacy = env
    roots = []
    for i, mtime in ((1, 1600000000), (2, 1700000000), (3, 1650000000)):
        root = tmp_path / ('r%d' % i)
        make_session(root, 's', creds=creds_bytes('s', 'r%d' % i), mtime=mtime)
        roots.append(str(root))
    result = migrate(opts(env, legacy_roots=roots, check_mode=True))
    paths = [os.path.join(root, 's') for root in roots]
    assert result['migrated'][0]['source'] == paths[0]
    assert result['duplicates'] == [{'name': 's', 'used': paths[0], 'ignored': [paths[1], paths[2]]}]
    result = migrate(opts(env, legacy_roots=roots, prefer='newest'))
    assert result['duplicates'] == [{'name': 's', 'used': paths[1], 'ignored': [paths[2], paths[0]]}]
    assert same_content(tmp_path / 'r2' / 's', dest / 's')


@pytest.mark.parametrize('bad,reason', [
    (b'', 'empty'), (b'{"noiseKey": ', 'not JSON'), (b'[1, 2]', 'list'), (b'{}', 'empty JSON object')])
def test_invalid_candidate_is_skipped_and_the_next_one_used(env, bad, reason):
    tmp_path, dest, legacy = env
    make_session(tmp_path / 'r1', 's', creds=bad, mtime=1700000000)
    make_session(tmp_path / 'r2', 's', creds=b'\xef\xbb\xbf' + creds_bytes('s'))  # BOM is fine
    make_session(tmp_path / 'r1', 'only_bad', creds=bad)
    roots = [str(tmp_path / 'r1'), str(tmp_path / 'r2')]
    for prefer in ('first', 'newest'):
        result = migrate(opts(env, legacy_roots=roots, prefer=prefer, check_mode=True))
        assert result['migrated'][0]['source'] == os.path.join(roots[1], 's')
        assert [(i['name'], i['path']) for i in result['invalid']] == [
            ('only_bad', str(tmp_path / 'r1' / 'only_bad')), ('s', str(tmp_path / 'r1' / 's'))]
        assert all(reason in i['reason'] for i in result['invalid'])
        assert result['duplicates'] == []
    result = migrate(opts(env, legacy_roots=roots))
    assert names(result['migrated']) == ['s'] and not (dest / 'only_bad').exists()


def test_on_conflict_keep_newest_with_backup_and_fail(env):
    tmp_path, dest, legacy = env
    make_session(legacy, 'older', mtime=1500000000)
    make_session(legacy, 'newer', mtime=1700000000)
    make_session(legacy, 'fresh', mtime=1700000000)
    for name in ('older', 'newer'):
        make_session(dest, name, creds=creds_bytes(name, 'dest'), mtime=1600000000)
    dest_before = snapshot(dest)
    result = migrate(opts(env))
    assert result['present'] == ['newer', 'older'] and names(result['migrated']) == ['fresh']
    assert inner(snapshot(dest / 'newer')) == dict((k[6:], v) for k, v in dest_before.items()
                                                   if k.startswith('newer/'))

    old_newer = snapshot(dest / 'newer')
    result = migrate(opts(env, on_conflict='newest'))
    assert names(result['migrated']) == ['newer'] and sorted(result['present']) == ['fresh', 'older']
    backup = result['migrated'][0]['backup']
    # The replaced session is backed up outside the sessions root, in state_dir, where the gateway never looks.
    assert os.path.dirname(backup) == os.path.join(faultlib.state_dir_of(dest), 'backup')
    assert os.path.basename(backup).startswith('newer.')
    assert sorted(os.listdir(str(dest))) == ['fresh', 'newer', 'older']
    assert same_content(legacy / 'newer', dest / 'newer')
    moved = snapshot(backup)

    def kept(snap):  # kind, size, mtime and content (the backup is a verified copy: new inodes)
        return dict((k, v[:3] + v[8:]) for k, v in snap.items() if k != '.')
    assert kept(moved) == kept(old_newer)
    assert migrate(opts(env, on_conflict='newest'))['changed'] is False

    with pytest.raises(MigrationFailed) as exc:
        migrate(opts(env, on_conflict='fail'))
    assert names(exc.value.result['errors']) == ['older']
    assert 'on_conflict=fail' in str(exc.value) and str(dest / 'older') in str(exc.value)
    assert sorted(exc.value.result['present']) == ['fresh', 'newer']


def test_root_keeps_its_bookkeeping_outside_the_sessions_root(env):
    tmp_path, dest, legacy = env
    make_session(legacy, 'newer', mtime=1700000000)
    make_session(dest, 'newer', creds=creds_bytes('newer', 'dest'), mtime=1600000000)
    result = migrate(opts(env, on_conflict='newest', mode='move'))
    assert os.listdir(str(dest)) == ['newer']  # no lock, journal or backup where the service user can write
    state = faultlib.state_dir_of(dest)
    me = os.geteuid()
    for path in (state, os.path.join(state, 'backup'), os.path.join(state, 'journal'),
                 os.path.join(state, migration.LOCK_NAME)):
        st = os.lstat(path)
        assert st.st_uid == me and not st.st_mode & 0o077, path
    assert os.listdir(os.path.join(state, 'journal')) == []  # the finished move dropped its journal
    assert result['migrated'][0]['backup'].startswith(os.path.join(state, 'backup') + '/')


def test_empty_dest_dir_from_the_role_is_replaced_and_invalid_one_backed_up(env):
    tmp_path, dest, legacy = env
    for name in ('empty', 'partial', 'zero'):
        make_session(legacy, name)
    (dest / 'empty').mkdir(mode=0o700)
    (dest / 'partial' / 'pre-key').mkdir(parents=True)
    (dest / 'partial' / 'pre-key' / '1.json').write_bytes(b'onboarding')
    (dest / 'zero').mkdir()
    (dest / 'zero' / 'zero_creds.json').write_bytes(b'')
    for on_conflict in ('keep', 'fail'):
        result = migrate(opts(env, on_conflict=on_conflict, check_mode=True))
        assert names(result['migrated']) == ['empty', 'partial', 'zero']
    result = migrate(opts(env, on_conflict='fail'))
    entries = dict((item['name'], item) for item in result['migrated'])
    assert 'backup' not in entries['empty']
    assert (tmp_path / entries['partial']['backup'] / 'pre-key' / '1.json').read_bytes() == b'onboarding'
    assert sorted(os.listdir(str(dest))) == ['empty', 'partial', 'zero']
    assert os.path.isfile(os.path.join(entries['zero']['backup'], 'zero_creds.json'))
    for name in ('empty', 'partial', 'zero'):
        assert same_content(legacy / name, dest / name)
    assert stat.S_IMODE(os.stat(str(dest / 'empty')).st_mode) == 0o2750
    assert stat.S_IMODE(os.stat(os.path.join(faultlib.state_dir_of(dest), 'backup')).st_mode) == 0o700


def test_dest_entry_that_is_not_a_directory_fails_only_that_session(env):
    tmp_path, dest, legacy = env
    make_session(legacy, 'a')
    make_session(legacy, 'b')
    (dest / 'a').write_bytes(b'not a dir')
    with pytest.raises(MigrationFailed) as exc:
        migrate(opts(env))
    assert exc.value.result['errors'] == [{'name': 'a', 'path': str(dest / 'a'),
                                          'msg': '%s: exists but is not a directory (or is a symlink); not touched'
                                                 % (dest / 'a')}]
    assert names(exc.value.result['migrated']) == ['b']
    assert (dest / 'a').read_bytes() == b'not a dir'


def test_explicit_sessions_not_found_and_bad_names_fail_before_touching_anything(env):
    tmp_path, dest, legacy = env
    make_session(legacy, 'a')
    make_session(legacy, 'b')
    result = migrate(opts(env, sessions=['a', 'zzz']))
    assert names(result['migrated']) == ['a'] and result['not_found'] == ['zzz']
    assert migrate(opts(env, sessions=['a']))['present'] == ['a']
    before = snapshot(tmp_path)
    for bad in ('../etc', '.staging-x', '', 'a/b'):
        with pytest.raises(SetupError) as exc:
            migrate(opts(env, sessions=['b', bad]))
        assert repr(bad) in str(exc.value)
    assert snapshot(tmp_path) == before


def test_discovered_unsafe_names_and_symlinked_session_dirs_are_warned_and_skipped(env):
    tmp_path, dest, legacy = env
    make_session(legacy, '.hidden')
    make_session(tmp_path / 'elsewhere', 'linked')
    (legacy / 'linked').symlink_to(tmp_path / 'elsewhere' / 'linked')
    warnings = []
    result = migrate(opts(env), warn=warnings.append)
    assert result['migrated'] == [] and result['changed'] is False
    assert warnings == result['warnings'] and len(warnings) == 2
    assert sorted(item['path'] for item in result['skipped_sessions']) == [str(legacy / '.hidden'), str(legacy / 'linked')]
    assert os.listdir(str(dest)) == []


def test_legacy_roots_globs_missing_roots_and_dest_never_a_root(env):
    tmp_path, dest, legacy = env
    make_session(dest, 'in_dest')
    for rel in ('releases/1/sessions', 'releases/2/sessions'):
        make_session(tmp_path / rel, 's', creds=creds_bytes('s', rel))
    result = migrate(opts(env, legacy_roots=[str(tmp_path / 'nope'), str(tmp_path / 'releases/*/sessions/'),
                                             str(tmp_path / '*'), str(dest) + '/']))
    assert result['legacy_roots'] == [str(tmp_path / 'releases/1/sessions'), str(tmp_path / 'releases/2/sessions'),
                                      faultlib.state_dir_of(dest), str(tmp_path / 'legacy'),
                                      str(tmp_path / 'releases')]
    skipped = dict((item['path'], item['reason']) for item in result['skipped_roots'])
    assert skipped[str(tmp_path / 'nope')] == 'does not exist'
    assert 'sessions root' in skipped[str(dest)] and 'sessions root' in skipped[str(dest)]
    assert names(result['migrated']) == ['s'] and result['migrated'][0]['source'] == str(
        tmp_path / 'releases/1/sessions/s')
    assert 'in_dest' not in names(result['migrated'])


def test_setup_errors(env):
    tmp_path, dest, legacy = env
    with pytest.raises(SetupError, match='rubymanager.session_persistence.session_storage role first'):
        migrate(opts(env, legacy_roots=[str(legacy)]).__class__(dest=str(tmp_path / 'missing'),
                                                                legacy_roots=[str(legacy)], owner=OWNER,
                                                                group=GROUP))
    for option, value, match in (('dir_mode', '2755', 'others'), ('file_mode', '0644', 'others'),
                                 ('file_mode', 'rw-r-----', 'octal'), ('file_mode', '416', 'number 416'),
                                 ('owner', 'no-such-user-x', "owner 'no-such-user-x' does not exist"),
                                 ('group', 'no-such-group-x', "group 'no-such-group-x' does not exist"),
                                 ('layout', 'signal', 'baileys_csharp'), ('mode', 'rsync', 'mode must be'),
                                 ('creds_file', 'a/{name}', 'not a plain file name'),
                                 ('lock_timeout', -1, 'lock_timeout')):
        with pytest.raises(SetupError, match=match):
            migrate(opts(env, **{option: value}))
    assert os.listdir(str(dest)) == []


def test_stale_staging_from_a_crash_is_removed_under_the_lock(env):
    tmp_path, dest, legacy = env
    make_session(dest, '.staging-a-12345678')
    (dest / '.staging-a-12345678' / 'link').symlink_to(legacy)
    make_session(legacy, 'a')
    checked = migrate(opts(env, check_mode=True))
    assert checked['stale_staging'] == [str(dest / '.staging-a-12345678')] and checked['changed']
    assert (dest / '.staging-a-12345678').exists()
    result = migrate(opts(env))
    assert result['stale_staging'] == checked['stale_staging']
    assert sorted(os.listdir(str(dest))) == ['a']
    assert os.path.isdir(str(legacy / 'a'))


def test_lock_timeout_gives_a_clear_error(env):
    tmp_path, dest, legacy = env
    make_session(legacy, 'a')
    state = faultlib.state_dir_of(dest)
    os.mkdir(state, 0o700)
    lock = os.path.join(state, migration.LOCK_NAME)
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        for check in (False, True):
            with pytest.raises(safecopy.LockTimeout) as exc:
                migrate(opts(env, lock_timeout=1, check_mode=check))
            assert lock in str(exc.value)
            assert 'another session_migrate run' in str(exc.value) and 'lock_timeout' in str(exc.value)
        assert not (dest / 'a').exists()
    finally:
        os.close(holder)
    assert names(migrate(opts(env, lock_timeout=1))['migrated']) == ['a']


def test_an_unreadable_file_fails_only_its_session(tmp_path):
    """As root the run is done as the user nobody (with a python every user can run), because root can read
    files with mode 000."""
    python = sys.executable
    if IS_ROOT:
        python = next((p for p in (sys.executable, getattr(sys, '_base_executable', ''), '/usr/bin/python3')
                       if p and faultlib.runnable_by_others(p)), None)
        if python is None:
            pytest.skip('no python interpreter that the user nobody may run')
    base = tempfile.mkdtemp(prefix='session-migrate-unreadable-')
    try:
        os.chmod(base, 0o755)
        package = os.path.join('ansible_collections', 'rubymanager', 'session_persistence', 'plugins')
        shutil.copytree(os.path.join(COLLECTIONS, package, 'module_utils'),
                        os.path.join(base, 'coll', package, 'module_utils'),
                        ignore=shutil.ignore_patterns('__pycache__'))
        dest, legacy = os.path.join(base, 'dest'), os.path.join(base, 'legacy')
        os.mkdir(dest)
        for name in ('a', 'b', 'c'):
            make_session(legacy, name)
        os.chmod(legacy, 0o755)
        os.chmod(os.path.join(legacy, 'b', 'pre-key', '1.json'), 0)
        user = pwd.getpwuid(os.getuid()) if not IS_ROOT else pwd.getpwnam('nobody')
        if IS_ROOT:
            for dirpath, dirnames, filenames in os.walk(base):
                for entry in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
                    os.lchown(entry, user.pw_uid, user.pw_gid)
        options = {'dest': dest, 'legacy_roots': [legacy], 'owner': user.pw_name,
                   'group': grp.getgrgid(user.pw_gid).gr_name, 'state_dir': faultlib.state_dir_of(dest)}
        kwargs = {'user': user.pw_uid, 'group': user.pw_gid} if IS_ROOT else {}
        out = subprocess.check_output([python, '-c', faultlib.CHILD_SCRIPT, os.path.join(base, 'coll'),
                                       json.dumps(options)], cwd=base, **kwargs)
        data = json.loads(out.decode())
        result = data['result']
        assert names(result['migrated']) == ['a', 'c']
        assert result['errors'] == [{'name': 'b', 'path': os.path.join(legacy, 'b', 'pre-key', '1.json'),
                                     'msg': '%s: Permission denied' % os.path.join(legacy, 'b', 'pre-key', '1.json')}]
        assert 'Permission denied' in data['failed'] and '1.json' in data['failed']
        assert sorted(os.listdir(dest)) == ['a', 'c']
    finally:
        subprocess.call(['rm', '-rf', base])


KILL_SCRIPT = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.rubymanager.session_persistence.plugins.module_utils import migration
migration.migrate(migration.Options(**json.loads(sys.argv[2])))
'''


@pytest.mark.parametrize('use_syncfs', [False, None])
def test_sigkill_mid_copy_then_rerun_leaves_every_session_complete(env, use_syncfs):
    tmp_path, dest, legacy = env
    rng = random.Random(1234)
    sessions = ['t%02d' % i for i in range(30)]
    for name in sessions:
        make_session(legacy, name, prekeys=120)
    reference = snapshot(legacy)
    options = {'dest': str(dest), 'legacy_roots': [str(legacy)], 'owner': OWNER, 'group': GROUP,
               'use_syncfs': use_syncfs, 'state_dir': faultlib.state_dir_of(dest)}
    killed_mid_run = 0
    for attempt in range(4):
        child = subprocess.Popen([sys.executable, '-c', KILL_SCRIPT, COLLECTIONS, json.dumps(options)])
        time.sleep(rng.uniform(0.05, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait()
        # Whatever is in dest is either absent or complete, never partial.
        done = [name for name in os.listdir(str(dest)) if not name.startswith('.')]
        for name in done:
            assert same_content(legacy / name, dest / name), name
        if child.returncode == -signal.SIGKILL and len(done) < len(sessions):
            killed_mid_run += 1
        assert snapshot(legacy) == reference
        result = migrate(Options(**options))
        assert sorted(names(result['migrated']) + result['present']) == sessions
        assert not any(n.startswith('.staging-') for n in os.listdir(str(dest)))
        for name in sessions:
            assert same_content(legacy / name, dest / name), name
        shutil_rmtree_sessions(dest)
    assert killed_mid_run >= 1, 'the child always finished before it was killed; use a larger tree'


def shutil_rmtree_sessions(dest):
    for name in os.listdir(str(dest)):
        if not name.startswith('.session_migrate'):
            subprocess.check_call(['rm', '-rf', os.path.join(str(dest), name)])


def test_normalize_names_repairs_a_session_of_the_sessions_root_in_place(env):
    """Builds between the path change and the key-store fix wrote pre-key\\7.json and <name>\\store.db straight
    into the fixed root: the session is rewritten with normalised names, atomically, after a backup."""
    tmp_path, dest, legacy = env
    make_session(dest, 'a', prekeys=2)
    (dest / 'a' / 'pre-key\\7.json').write_bytes(b'k7')
    (dest / 'a' / 'session\\9__1.json').write_bytes(b's9')
    (dest / 'a\\store.db').write_bytes(b'litedb')
    (dest / 'a' / 'pre-key\\0.json').write_bytes(b'both spellings: the folder one wins')
    make_session(dest, 'clean', prekeys=1)
    clean_before = snapshot(dest / 'clean')
    before = snapshot(tmp_path)
    checked = migrate(opts(env, check_mode=True, want_diff=True))
    assert snapshot(tmp_path) == before
    assert checked['changed'] is True and names(checked['repaired']) == ['a'] and checked['migrated'] == []
    assert 'a: pre-key\\7.json' in checked['diff']['before'] and 'a: pre-key/7.json' in checked['diff']['after']
    result = migrate(opts(env, want_diff=True))
    assert names(result['repaired']) == ['a'] and result['repaired'][0]['renamed'] == checked['repaired'][0]['renamed']
    assert {'from': '../a\\store.db', 'to': 'store.db'} in result['repaired'][0]['renamed']
    assert (dest / 'a' / 'pre-key' / '7.json').read_bytes() == b'k7'
    assert (dest / 'a' / 'session' / '9__1.json').read_bytes() == b's9'
    assert (dest / 'a' / 'store.db').read_bytes() == b'litedb'
    assert sorted(os.listdir(str(dest))) == ['a', 'clean']           # the store.db beside it is gone
    assert not [n for _d, _s, files in os.walk(str(dest)) for n in files if '\\' in n]
    assert result['migrated'] == []
    backup = result['repaired'][0]['backup']
    assert (tmp_path / backup / 'pre-key\\0.json').read_bytes() == b'both spellings: the folder one wins'
    assert snapshot(dest / 'clean') == clean_before
    again = migrate(opts(env))
    assert again['changed'] is False and again['repaired'] == []
    assert migrate(opts(env, normalize_names=False))['repaired'] == []

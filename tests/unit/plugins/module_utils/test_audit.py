# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What session_info reports, on real temporary trees (no filesystem mocks)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import json
import os
import time

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import audit as audit_mod
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.audit import (
    AuditError, audit, inspect_session, key_stores_in)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    BAILEYS_CSHARP, BAILEYS_MULTI_FILE)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import open_dir
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils.faultlib import tree_state

IS_ROOT = os.geteuid() == 0
IDS = (os.getuid(), os.getgid())
NOW = 1700000000
CREDS = json.dumps({'me': {'id': '1@s.whatsapp.net'}, 'noiseKey': 'x' * 2500}).encode()
QR = 'QR'


def write(path, data=b'', mode=0o640, mtime=None):
    path = str(path)
    with open(path, 'wb') as handle:
        handle.write(data)
    os.chmod(path, mode)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def mkdir(path, mode=0o750):
    os.makedirs(str(path), exist_ok=True)
    os.chmod(str(path), mode)
    return path


def make_session(root, name, creds=CREDS, prekeys=2, creds_mtime=NOW - 3600):
    """A BaileysCSharp session without problems: 0750 directories, 0640 files. Returns (path, files, bytes)."""
    path = mkdir(os.path.join(str(root), name))
    files = nbytes = 0
    if creds is not None:
        write(os.path.join(path, '%s_creds.json' % name), creds, mtime=creds_mtime)
        files, nbytes = 1, len(creds)
    mkdir(os.path.join(path, 'pre-key'))
    for i in range(prekeys):
        write(os.path.join(path, 'pre-key', '%d.json' % i), b'k' * (100 + i))
        files, nbytes = files + 1, nbytes + 100 + i
    mkdir(os.path.join(path, 'session'))
    mkdir(os.path.join(path, 'session', 'deep'))
    write(os.path.join(path, 'session', 'deep', '123__1.json'), b's' * 1350)
    return path, files + 1, nbytes + 1350


def by_name(entries):
    return dict((entry['name'], entry) for entry in entries)


@pytest.fixture
def root(tmp_path):
    return mkdir(tmp_path / 'sessions')


@pytest.fixture
def open_root(reachable_tmp):
    """A sessions root (2751) that other users can traverse, so world-readable paths in it can be exposed."""
    return mkdir(os.path.join(reachable_tmp, 'sessions'), 0o2751)


# ----------------------------------------------------------------------------------------------------------
# the sessions root

def test_creds_variants_in_the_sessions_root(tmp_path, root):
    outside = write(tmp_path / 'outside_creds.json', CREDS)
    make_session(root, 'bom', creds=b'\xef\xbb\xbf' + CREDS)
    make_session(root, 'empty', creds=b'')
    make_session(root, 'notjson', creds=b'{"me": ')
    make_session(root, 'array', creds=b'[{"me": 1}]')
    make_session(root, 'credsdir', creds=None)
    mkdir(root / 'credsdir' / 'credsdir_creds.json')
    write(root / 'credsdir' / 'credsdir_creds.json' / 'inner.json', CREDS)
    make_session(root, 'credslink', creds=None)
    os.symlink(outside, str(root / 'credslink' / 'credslink_creds.json'))
    make_session(root, 'good')
    result = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)
    assert result['exists'] is True
    assert [s['name'] for s in result['sessions']] == ['array', 'bom', 'credsdir', 'credslink', 'empty', 'good',
                                                       'notjson']
    sessions = by_name(result['sessions'])
    for name in ('bom', 'good'):
        assert sessions[name]['creds_valid'] is True and sessions[name]['creds_problem'] is None
        assert sessions[name]['problems'] == []
        assert sessions[name]['location'] == 'sessions_root'
        assert sessions[name]['creds_file'] == str(root / name / ('%s_creds.json' % name))
    expected = {'empty': 'creds file is empty', 'notjson': 'creds file is not JSON',
                'array': 'creds file holds a JSON list, not an object',
                'credsdir': 'creds file is a directory, not a regular file',
                'credslink': 'creds file is a symlink, not a regular file'}
    for name, text in expected.items():
        info = sessions[name]
        assert info['creds_present'] is True and info['creds_valid'] is False, name
        assert info['creds_problem'].startswith(text), (name, info['creds_problem'])
        assert info['problems'][0] == info['creds_problem']
        assert '%s: %s' % (name, info['creds_problem']) in result['problems']
    # the symlinked creds file is reported, not followed: its target is valid, the session is not
    assert 'credslink_creds.json (symlink)' in ' '.join(sessions['credslink']['problems'])
    # the creds directory is walked like any sub-directory (its file counts), never read as creds
    assert sessions['credsdir']['files'] == 4
    assert result['summary'] == dict(sessions=7, valid=2, with_problems=5, legacy=0, legacy_only=0,
                                     problems=len(result['problems']))
    assert result['legacy_sessions'] == [] and result['legacy_only'] == [] and result['legacy_roots'] == []


def test_only_real_session_directories_are_listed(tmp_path, root):
    make_session(root, 'a')
    make_session(root, '.staging-a')
    write(root / 'stray.txt', b'x')
    make_session(tmp_path, 'elsewhere')
    os.symlink(str(tmp_path / 'elsewhere'), str(root / 'linked'))
    result = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)
    assert [s['name'] for s in result['sessions']] == ['a']


def test_creds_age_mtime_and_recursive_counts(root):
    mtime = calendar.timegm((2023, 11, 14, 20, 13, 20, 0, 0, 0))
    path, files, nbytes = make_session(root, 't', prekeys=5, creds_mtime=mtime)
    write(os.path.join(path, 'pre-key', 'big.json'), b'b' * 70000)
    info = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=mtime + 4000.9)['sessions'][0]
    assert info['creds_mtime'] == '2023-11-14T20:13:20Z'
    assert info['creds_age_seconds'] == 4000
    assert info['files'] == files + 1 == 8
    assert info['bytes'] == nbytes + 70000 == len(CREDS) + sum(100 + i for i in range(5)) + 1350 + 70000
    assert info['path'] == path
    # a creds file from the future has age 0, never negative
    assert audit(str(root), [], BAILEYS_CSHARP, now=mtime - 50)['sessions'][0]['creds_age_seconds'] == 0


def test_default_now_is_the_current_time(root):
    make_session(root, 't', creds_mtime=time.time() - 120)
    age = audit(str(root), [], BAILEYS_CSHARP)['sessions'][0]['creds_age_seconds']
    assert 110 <= age <= 3600


@pytest.mark.skipif(not IS_ROOT, reason='chown to uid 33 / gid 33 needs root')
def test_wrong_owner_and_group_detected(root):
    path, files, nbytes = make_session(root, 'bad')
    make_session(root, 'good')
    make_session(root, 'groupbad')
    os.chown(os.path.join(path, 'pre-key', '1.json'), 33, 0)
    os.chown(os.path.join(path, 'session'), 0, 33)
    os.chown(os.path.join(path, 'bad_creds.json'), 33, 33)
    os.lchown(str(root / 'groupbad'), 0, 33)
    os.symlink('/etc', str(root / 'good' / 'link'))
    os.lchown(str(root / 'good' / 'link'), 33, 33)
    result = audit(str(root), [], BAILEYS_CSHARP, ids=(0, 0), now=NOW)
    sessions = by_name(result['sessions'])
    problems = sessions['bad']['problems']
    owner = [p for p in problems if 'wrong owner or group' in p]
    assert len(owner) == 1 and owner[0].startswith('3 path(s) with the wrong owner or group (')
    for rel in ('bad_creds.json', 'pre-key/1.json', 'session'):
        assert rel in owner[0]
    assert sessions['bad']['creds_valid'] is True  # ownership does not make creds invalid
    assert [p for p in sessions['groupbad']['problems'] if 'wrong owner' in p] == [
        '1 path(s) with the wrong owner or group (./)']
    # the symlink's own owner does not matter (it is reported as a symlink)
    assert not any('owner' in p for p in sessions['good']['problems'])
    assert 'bad: ' + owner[0] in result['problems']
    assert result['summary']['with_problems'] == 3
    # the sessions root itself
    os.chown(str(root), 33, 33)
    result = audit(str(root), [], BAILEYS_CSHARP, ids=(0, 0), now=NOW)
    assert '%s: the sessions root has the wrong owner or group' % root in result['problems']
    # no ownership check at all
    result = audit(str(root), [], BAILEYS_CSHARP, ids=None, now=NOW)
    assert not any('owner' in p for p in result['problems'])


def test_more_than_three_paths_are_sampled(open_root):
    root = open_root
    path, files, nbytes = make_session(root, 't', prekeys=6)
    os.chmod(path, 0o2751)
    os.chmod(os.path.join(path, 'pre-key'), 0o2751)
    for i in range(6):
        os.chmod(os.path.join(path, 'pre-key', '%d.json' % i), 0o644)
    info = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)['sessions'][0]
    flagged = [p for p in info['problems'] if 'world-readable' in p]
    assert len(flagged) == 1 and flagged[0].startswith('6 world-readable path(s) (')
    assert flagged[0].count('pre-key/') == 3 and ', ...)' in flagged[0]
    assert flagged[0].endswith('session files hold private keys')


def test_world_readable_files_and_directories_flagged(open_root):
    """World-readable paths that other users can reach: every directory above them has o+x."""
    root = open_root
    path, files, nbytes = make_session(root, 't')
    for rel in ('', 'pre-key', 'session'):
        os.chmod(os.path.join(path, rel), 0o2751)
    os.chmod(os.path.join(path, 't_creds.json'), 0o644)
    os.chmod(os.path.join(path, 'session', 'deep'), 0o755)
    os.chmod(os.path.join(path, 'pre-key', '0.json'), 0o604)
    os.chmod(os.path.join(path, 'pre-key', '1.json'), 0o660)   # group-readable is fine
    make_session(root, 'private')
    result = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)
    sessions = by_name(result['sessions'])
    flagged = [p for p in sessions['t']['problems'] if 'world-readable' in p]
    assert len(flagged) == 1 and flagged[0].startswith('3 world-readable path(s)')
    for rel in ('t_creds.json', 'session/deep/', 'pre-key/0.json'):
        assert rel in flagged[0]
    assert 'pre-key/1.json' not in flagged[0]
    assert sessions['private']['problems'] == []
    # check_ownership: false (ids None) switches the world-readable check off too
    result = audit(str(root), [], BAILEYS_CSHARP, ids=None, now=NOW)
    assert result['problems'] == []


def test_world_readable_session_directory_itself_flagged(open_root):
    """The tenant directory should be 2750 like its sub-directories; o+r on it is flagged as ``./``."""
    path, files, nbytes = make_session(open_root, 't')
    root = open_root
    os.chmod(path, 0o755)
    info = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)['sessions'][0]
    assert '1 world-readable path(s) (./): session files hold private keys' in info['problems']
    os.chmod(path, 0o2750)
    assert audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)['sessions'][0]['problems'] == []


def test_symlinks_and_fifos_inside_a_session_reported_never_followed(tmp_path, root):
    outside = mkdir(tmp_path / 'outside')
    for i in range(10):
        write(outside / ('%d.json' % i), b'o' * 1000)
    os.mkfifo(str(outside / 'fifo'))
    path, files, nbytes = make_session(root, 't')
    os.symlink(str(outside), os.path.join(path, 'pre-key', 'escape'))
    os.symlink(str(outside / '0.json'), os.path.join(path, 'file-link.json'))
    os.symlink('missing-target', os.path.join(path, 'dangling'))
    os.mkfifo(os.path.join(path, 'session', 'pipe'))
    info = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)['sessions'][0]
    assert info['files'] == files and info['bytes'] == nbytes   # nothing of the outside directory is counted
    assert info['creds_valid'] is True
    special = [p for p in info['problems'] if 'symlink(s) or special file(s)' in p]
    assert len(special) == 1 and special[0].startswith('4 symlink(s) or special file(s)')
    assert 'pre-key/escape (symlink)' in special[0] or 'session/pipe (FIFO)' in special[0]
    # all four are named when listed one by one
    names = set()
    for entry in ('dangling', 'file-link.json', 'pre-key/escape', 'session/pipe'):
        tree = mkdir(tmp_path / ('r-%d' % len(names)))
        spath, sfiles, sbytes = make_session(tree, 's')
        target = os.path.join(spath, entry)
        if entry.endswith('pipe'):
            os.mkfifo(target)
        else:
            os.symlink(str(outside), target)
        one = audit(str(tree), [], BAILEYS_CSHARP, ids=IDS, now=NOW)['sessions'][0]
        kind = 'FIFO' if entry.endswith('pipe') else 'symlink'
        assert '1 symlink(s) or special file(s) (%s (%s))' % (entry, kind) in one['problems']
        assert one['files'] == sfiles
        names.add(entry)


def test_a_session_directory_that_cannot_be_opened(root):
    if IS_ROOT:
        pytest.skip('root can open every directory')
    path, files, nbytes = make_session(root, 't')
    os.chmod(os.path.join(path, 'pre-key'), 0)
    try:
        info = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)['sessions'][0]
    finally:
        os.chmod(os.path.join(path, 'pre-key'), 0o750)
    assert any(p.startswith('cannot be read completely: pre-key/') for p in info['problems'])


# ----------------------------------------------------------------------------------------------------------
# creds missing, key stores

def test_creds_missing_while_key_folders_exist(root):
    make_session(root, 'lost', creds=None)
    info = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)['sessions'][0]
    assert info['creds_present'] is False and info['creds_valid'] is False
    assert info['creds_age_seconds'] is None and info['creds_mtime'] is None
    assert info['creds_problem'] == ('creds file lost_creds.json is missing while key folders exist (pre-key, '
                                     'session): the gateway will ask for a QR scan')


def test_creds_missing_with_backslash_named_key_files(root):
    path = mkdir(root / 'old')
    write(os.path.join(str(path), 'pre-key\\1.json'), b'k')
    write(os.path.join(str(path), 'app-state-sync-key\\AAAA.json'), b'k')
    info = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)['sessions'][0]
    assert info['files'] == 2
    assert '(app-state-sync-key, pre-key)' in info['creds_problem'] and QR in info['creds_problem']


def test_creds_missing_in_the_baileys_multi_file_layout(root):
    path = mkdir(root / 'node')
    for name in ('pre-key-1.json', 'pre-key-2.json', 'session-abc.json', 'app-state-sync-version-x.json'):
        write(os.path.join(str(path), name), b'{}')
    info = audit(str(root), [], BAILEYS_MULTI_FILE, ids=IDS, now=NOW)['sessions'][0]
    assert info['creds_file'] == os.path.join(str(path), 'creds.json')
    assert info['creds_problem'] == ('creds file creds.json is missing while key folders exist '
                                     '(app-state-sync-version-*, pre-key-*, session-*): the gateway will ask '
                                     'for a QR scan')
    write(os.path.join(str(path), 'creds.json'), CREDS)
    info = audit(str(root), [], BAILEYS_MULTI_FILE, ids=IDS, now=NOW)['sessions'][0]
    assert info['creds_valid'] is True and info['files'] == 5 and info['problems'] == []


def test_an_empty_onboarding_directory_has_no_qr_warning(root):
    mkdir(root / 'new-tenant')
    result = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)
    info = result['sessions'][0]
    assert info['name'] == 'new-tenant' and info['creds_present'] is False and info['creds_valid'] is False
    assert QR not in ' '.join(info['problems']) and QR not in ' '.join(result['problems'])
    assert QR not in (info['creds_problem'] or '')
    assert info['files'] == 0 and info['bytes'] == 0


def test_key_stores_in():
    assert key_stores_in(BAILEYS_CSHARP, ['pre-key', 'x_creds.json', 'pre-keys', 'session\\1.json',
                                          'sender-key-memory', 'other', 'pre-key-1.json']) == [
        'pre-key', 'pre-keys', 'sender-key-memory', 'session']
    assert key_stores_in(BAILEYS_CSHARP, []) == []
    names = ['pre-key', 'creds.json', 'pre-key-1.json', 'pre-key-2.json', 'lid-mapping-1.json', 'session\\1.json']
    assert key_stores_in(BAILEYS_MULTI_FILE, names) == ['lid-mapping-*', 'pre-key-*']


def test_key_stores_in_names_the_longest_matching_prefix():
    """``sender-key-memory-x.json`` is a sender-key-memory file, not a sender-key file."""
    assert key_stores_in(BAILEYS_MULTI_FILE, ['sender-key-memory-123@g.us.json']) == ['sender-key-memory-*']
    assert key_stores_in(BAILEYS_MULTI_FILE, ['sender-key-memory-1.json', 'sender-key-123@g.us--1.json']) == [
        'sender-key-*', 'sender-key-memory-*']


def test_inspect_session_directly(root):
    path, files, nbytes = make_session(root, 't')
    fd = open_dir(str(root), follow=True)
    try:
        info = inspect_session(fd, str(root), 't', BAILEYS_CSHARP, None, IDS, NOW)
        custom = inspect_session(fd, str(root), 't', BAILEYS_CSHARP, '{name}.json', IDS, NOW)
        symlinked = None
        os.symlink(path, str(root / 'alias'))
        symlinked = inspect_session(fd, str(root), 'alias', BAILEYS_CSHARP, None, IDS, NOW)
    finally:
        os.close(fd)
    assert 'location' not in info
    assert info == dict(name='t', path=path, creds_file=os.path.join(path, 't_creds.json'), creds_present=True,
                        creds_valid=True, creds_problem=None, creds_age_seconds=3600,
                        creds_mtime='2023-11-14T21:13:20Z', files=files, bytes=nbytes, problems=[])
    assert custom['creds_file'] == os.path.join(path, 't.json')
    assert custom['creds_problem'] == 'creds file t.json is missing while key folders exist (pre-key, session): ' \
                                      'the gateway will ask for a QR scan'
    # a session directory that is a symlink is not opened
    assert symlinked['creds_problem'].startswith('session directory cannot be opened')
    assert symlinked['files'] == 0 and symlinked['problems'] == [symlinked['creds_problem']]


def test_creds_file_override(root):
    path = mkdir(root / 't')
    write(os.path.join(str(path), 'auth.json'), CREDS)
    info = audit(str(root), [], BAILEYS_CSHARP, creds_file='auth.json', ids=IDS, now=NOW)['sessions'][0]
    assert info['creds_valid'] is True and info['creds_file'] == os.path.join(str(path), 'auth.json')


# ----------------------------------------------------------------------------------------------------------
# legacy roots

@pytest.fixture
def legacy(tmp_path):
    app = tmp_path / 'app'
    for rel in ('releases/1/sessions', 'releases/2/sessions', 'netcoreapp'):
        mkdir(app / rel)
    return app


def test_legacy_roots_with_globs_and_legacy_only(tmp_path, root, legacy):
    make_session(root, 'both')
    make_session(legacy / 'netcoreapp', 'both')
    make_session(legacy / 'netcoreapp', 'old-only')
    make_session(legacy / 'releases/1/sessions', 'rel-only')
    make_session(legacy / 'releases/2/sessions', 'rel-only', creds=b'')
    make_session(legacy / 'releases/2/sessions', 'broken', creds=b'[]')
    make_session(legacy / 'releases/1/sessions', 'broken', creds=b'')
    mkdir(legacy / 'netcoreapp' / 'no-creds' / 'pre-key')   # a directory without creds is not a session copy
    make_session(root, 'root-invalid', creds=b'')
    make_session(legacy / 'netcoreapp', 'root-invalid')
    roots = [str(legacy / 'netcoreapp') + '/', str(legacy / 'releases/*/sessions/'), str(tmp_path / 'missing')]
    result = audit(str(root), roots, BAILEYS_CSHARP, ids=IDS, now=NOW)
    assert result['legacy_roots'] == [str(legacy / 'netcoreapp'), str(legacy / 'releases/1/sessions'),
                                      str(legacy / 'releases/2/sessions')]
    copies = [(s['name'], s['path']) for s in result['legacy_sessions']]
    assert sorted(copies) == sorted([
        ('both', str(legacy / 'netcoreapp/both')), ('old-only', str(legacy / 'netcoreapp/old-only')),
        ('rel-only', str(legacy / 'releases/1/sessions/rel-only')),
        ('rel-only', str(legacy / 'releases/2/sessions/rel-only')),
        ('broken', str(legacy / 'releases/1/sessions/broken')),
        ('broken', str(legacy / 'releases/2/sessions/broken')),
        ('root-invalid', str(legacy / 'netcoreapp/root-invalid'))])
    assert all(s['location'] == 'legacy' for s in result['legacy_sessions'])
    legacy_by_path = dict((s['path'], s) for s in result['legacy_sessions'])
    assert legacy_by_path[str(legacy / 'releases/2/sessions/rel-only')]['creds_problem'] == 'creds file is empty'
    assert legacy_by_path[str(legacy / 'netcoreapp/old-only')]['creds_valid'] is True
    assert result['legacy_only'] == ['old-only', 'rel-only', 'root-invalid']
    problems = result['problems']
    for name, where in (('old-only', 'netcoreapp/old-only'), ('rel-only', 'releases/1/sessions/rel-only')):
        text = [p for p in problems if p.startswith(name + ': exists in a legacy root')]
        assert len(text) == 1 and str(legacy / where) in text[0] and 'session_migrate' in text[0]
    # the copy with empty creds is not offered as the one to migrate
    assert str(legacy / 'releases/2/sessions/rel-only') not in [p for p in problems if p.startswith('rel-only:')][0]
    broken = [p for p in problems if p.startswith('broken:')]
    assert len(broken) == 1
    assert broken[0].startswith('broken: only in a legacy root, and no copy has a valid creds file (')
    assert 'the tenant must scan a QR code again' in broken[0] and 'creds file is empty' in broken[0]
    assert 'creds file holds a JSON list, not an object' in broken[0]
    assert 'broken' not in result['legacy_only']
    assert not any(p.startswith('both:') for p in problems)
    assert result['summary']['legacy'] == 7 and result['summary']['legacy_only'] == 3
    assert result['summary']['sessions'] == 2 and result['summary']['valid'] == 1


def test_the_sessions_root_is_never_a_legacy_root(tmp_path, legacy):
    root = mkdir(legacy / 'releases' / '2' / 'sessions')
    make_session(root, 'current')
    os.symlink(str(root), str(tmp_path / 'link-to-root'))
    patterns = [str(root), str(root) + '/', str(legacy / 'releases/*/sessions'), str(tmp_path / 'link-to-root'),
                str(legacy / 'releases' / '2')]
    result = audit(str(root), patterns, BAILEYS_CSHARP, ids=IDS, now=NOW)
    assert result['legacy_roots'] == [str(legacy / 'releases/1/sessions'), str(legacy / 'releases/2')]
    assert result['legacy_sessions'] == [] and result['legacy_only'] == []
    assert [s['name'] for s in result['sessions']] == ['current']
    assert result['problems'] == []


def test_legacy_symlinked_session_is_warned_not_followed(tmp_path, root, legacy):
    make_session(tmp_path, 'elsewhere')
    os.symlink(str(tmp_path / 'elsewhere'), str(legacy / 'netcoreapp' / 'elsewhere'))
    result = audit(str(root), [str(legacy / 'netcoreapp')], BAILEYS_CSHARP, ids=IDS, now=NOW)
    assert result['legacy_sessions'] == [] and result['legacy_only'] == []
    assert '%s: is a symlink; not followed (legacy session skipped)' % (legacy / 'netcoreapp' / 'elsewhere') \
        in result['problems']


def test_sessions_filter(root, legacy):
    for name in ('a', 'b', 'c'):
        make_session(root, name)
        make_session(legacy / 'netcoreapp', name + '-old')
    result = audit(str(root), [str(legacy / 'netcoreapp')], BAILEYS_CSHARP, ids=IDS, names=['c', 'a-old', 'zz'],
                   now=NOW)
    assert [s['name'] for s in result['sessions']] == ['c']
    assert [s['name'] for s in result['legacy_sessions']] == ['a-old']
    assert result['legacy_only'] == ['a-old']
    assert result['summary']['sessions'] == 1


# ----------------------------------------------------------------------------------------------------------
# the sessions root itself

def test_missing_sessions_root_is_a_problem_not_an_error(tmp_path, legacy):
    make_session(legacy / 'netcoreapp', 't')
    missing = str(tmp_path / 'nope')
    result = audit(missing, [str(legacy / 'netcoreapp')], BAILEYS_CSHARP, ids=IDS, now=NOW)
    assert result['exists'] is False and result['sessions'] == [] and result['sessions_root'] == missing
    assert result['problems'][0] == '%s: the sessions root does not exist; apply the session_storage role' % missing
    assert result['legacy_only'] == ['t']
    assert not os.path.lexists(missing)


def test_sessions_root_that_is_a_file_is_an_error(tmp_path):
    write(tmp_path / 'file', b'x')
    with pytest.raises(AuditError) as err:
        audit(str(tmp_path / 'file'), [], BAILEYS_CSHARP)
    assert str(tmp_path / 'file') in str(err.value) and 'Cannot open the sessions root' in str(err.value)


def test_sessions_root_through_a_symlink_is_followed(tmp_path, root):
    make_session(root, 't')
    os.symlink(str(root), str(tmp_path / 'current'))
    result = audit(str(tmp_path / 'current'), [], BAILEYS_CSHARP, ids=IDS, now=NOW)
    assert [s['path'] for s in result['sessions']] == [str(tmp_path / 'current' / 't')]


def test_audit_never_changes_anything(tmp_path, root, legacy):
    make_session(root, 'a')
    make_session(root, 'lost', creds=None)
    make_session(root, 'empty', creds=b'')
    os.mkfifo(str(root / 'a' / 'pipe'))
    os.symlink(str(legacy), str(root / 'a' / 'escape'))
    os.chmod(str(root / 'a' / 'a_creds.json'), 0o644)
    make_session(legacy / 'netcoreapp', 'old')
    make_session(legacy / 'releases/1/sessions', 'broken', creds=b'')
    mkdir(root / 'onboarding')
    time.sleep(0.01)
    before = tree_state(tmp_path)
    result = audit(str(root), [str(legacy / 'netcoreapp'), str(legacy / 'releases/*/sessions')], BAILEYS_CSHARP,
                   ids=IDS, now=NOW)
    assert result['problems']
    assert tree_state(tmp_path) == before


def test_sample_helper():
    assert audit_mod._sample(['a']) == 'a'
    assert audit_mod._sample(['a', 'b', 'c']) == 'a, b, c'
    assert audit_mod._sample(['a', 'b', 'c', 'd']) == 'a, b, c, ...'


def test_scale_300_sessions_of_20_files(root):
    """Not timed: only the counts are checked."""
    for i in range(300):
        path = mkdir(root / ('tenant-%03d' % i))
        write(os.path.join(str(path), 'tenant-%03d_creds.json' % i), CREDS)
        mkdir(os.path.join(str(path), 'pre-key'))
        mkdir(os.path.join(str(path), 'session'))
        for j in range(19):
            sub = 'pre-key' if j % 2 else 'session'
            write(os.path.join(str(path), sub, '%d.json' % j), b'x' * (j + 1))
    result = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)
    assert result['summary'] == dict(sessions=300, valid=300, with_problems=0, legacy=0, legacy_only=0, problems=0)
    expected_bytes = len(CREDS) + sum(range(1, 20))
    assert all(s['files'] == 20 and s['bytes'] == expected_bytes for s in result['sessions'])
    assert sum(s['files'] for s in result['sessions']) == 6000


# ----------------------------------------------------------------------------------------------------------
# what the client libraries read: BOM per layout, creds size, sessions of the other layout, backslash names

def make_node_session(root, name, creds=CREDS):
    path = mkdir(os.path.join(str(root), name))
    write(os.path.join(path, 'creds.json'), creds, mtime=NOW - 60)
    write(os.path.join(path, 'pre-key-1.json'), b'{}')
    return path


def test_a_bom_creds_file_is_valid_for_baileys_csharp_only(root):
    make_session(root, 'csharp', creds=b'\xef\xbb\xbf' + CREDS)
    info = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)['sessions'][0]
    assert info['creds_valid'] is True and info['problems'] == []
    node_root = mkdir(root / '..' / 'node')
    make_node_session(node_root, 'bom', creds=b'\xef\xbb\xbf' + CREDS)
    result = audit(str(node_root), [], BAILEYS_MULTI_FILE, ids=IDS, now=NOW)
    info = result['sessions'][0]
    assert info['creds_present'] is True and info['creds_valid'] is False
    assert info['creds_problem'].startswith('creds file starts with a UTF-8 byte order mark, which layout '
                                            'baileys_multi_file does not read')
    assert 'bom: ' + info['creds_problem'] in result['problems']


def test_a_creds_file_over_16_mib_is_reported_too_large_per_session(root):
    make_session(root, 'big', creds=json.dumps({'a': 'x' * (3 * 1024 * 1024)}).encode())
    make_session(root, 'huge', creds=json.dumps({'a': 'x' * (16 * 1024 * 1024)}).encode())
    sessions = by_name(audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)['sessions'])
    assert sessions['big']['creds_valid'] is True
    assert sessions['huge']['creds_valid'] is False
    assert sessions['huge']['creds_problem'].startswith('creds file is too large: over 16777216 bytes (16 MiB)')


def test_node_sessions_under_the_csharp_layout_are_a_problem_naming_the_layout(tmp_path, root, legacy):
    make_node_session(legacy / 'netcoreapp', 'n1')
    make_node_session(root, 'n2')
    result = audit(str(root), [str(legacy / 'netcoreapp')], BAILEYS_CSHARP, ids=IDS, now=NOW)
    mismatch = [p for p in result['problems'] if p.startswith('layout is baileys_csharp')]
    assert mismatch == ['layout is baileys_csharp, but the sessions root and the legacy roots hold no session of '
                        'that layout and 2 of layout baileys_multi_file (%s, %s): set layout: baileys_multi_file '
                        '(nothing of theirs is used with layout: baileys_csharp)'
                        % (root / 'n2', legacy / 'netcoreapp' / 'n1')]
    assert result['warnings'] == []
    # with the right layout: no such problem
    result = audit(str(root), [str(legacy / 'netcoreapp')], BAILEYS_MULTI_FILE, ids=IDS, now=NOW)
    assert not [p for p in result['problems'] if 'layout' in p] and result['warnings'] == []
    # the sessions root alone
    result = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)
    assert result['problems'][-1].startswith('layout is baileys_csharp, but the sessions root holds no session')


def test_mixed_roots_get_a_warning(root, legacy):
    make_session(root, 'c1')
    make_node_session(legacy / 'netcoreapp', 'n1')
    result = audit(str(root), [str(legacy / 'netcoreapp')], BAILEYS_CSHARP, ids=IDS, now=NOW)
    assert not [p for p in result['problems'] if 'layout' in p]
    assert result['warnings'] == ['the sessions root and the legacy roots hold sessions of layout baileys_csharp '
                                  'and also 1 of layout baileys_multi_file (%s): those are not used with layout: '
                                  'baileys_csharp; handle them with layout: baileys_multi_file'
                                  % (legacy / 'netcoreapp' / 'n1')]


def test_backslash_names_in_a_session_of_the_sessions_root_are_a_problem(root, legacy):
    path, _files, _bytes = make_session(root, 'fixed')
    write(os.path.join(path, 'pre-key\\7.json'), b'k')
    write(os.path.join(path, 'session\\123.0.json'), b's')
    write(os.path.join(path, 'fixed\\store.db'), b'db')
    write(os.path.join(str(root), 'fixed\\store.db'), b'db')
    write(os.path.join(str(root), 'fixed\\store-log.db'), b'db')
    write(os.path.join(str(root), 'other\\store.db'), b'db')   # no session "other": not attached to one
    make_session(root, 'clean')
    result = audit(str(root), [], BAILEYS_CSHARP, ids=IDS, now=NOW)
    sessions = by_name(result['sessions'])
    assert sessions['clean']['problems'] == []
    problems = sessions['fixed']['problems']
    assert sessions['fixed']['creds_valid'] is True and len(problems) == 2
    assert problems[0] == ('3 file name(s) with a backslash written by an older gateway build (fixed\\store.db, '
                           'pre-key\\7.json, session\\123.0.json): the gateway cannot find them (keys lost: '
                           'messages fail to decrypt); repair with session_migrate (normalize_names: true)')
    assert problems[1] == ('2 file(s) beside the session folder written by an older gateway build '
                           '(fixed\\store-log.db, fixed\\store.db): the gateway cannot find them (keys lost: '
                           'messages fail to decrypt); repair with session_migrate (normalize_names: true)')
    assert 'fixed: ' + problems[0] in result['problems']
    # in a legacy root the same names are expected (session_migrate normalises them): no such problem there
    old, _files, _bytes = make_session(legacy / 'netcoreapp', 'old')
    write(os.path.join(old, 'pre-key\\7.json'), b'k')
    write(os.path.join(str(legacy / 'netcoreapp'), 'old\\store.db'), b'db')
    result = audit(str(root), [str(legacy / 'netcoreapp')], BAILEYS_CSHARP, ids=IDS, now=NOW)
    assert by_name(result['legacy_sessions'])['old']['problems'] == []
    # the Node layout has no such names
    assert audit_mod.backslash_names_in(BAILEYS_MULTI_FILE, ['pre-key\\7.json']) == []
    assert audit_mod.sidecars_beside(BAILEYS_MULTI_FILE, ['a\\store.db'], {'a'}) == {}

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""session_backup's logic on real trees: the archive is a tar that tar reads, keeps what it must, is verified,
never follows what the service user planted, and copes with sessions that change while they are read."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tarfile
import threading
import time

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import archive as arc
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.backup import (
    BackupFailed, backup)

from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils.archivelib import (
    IS_ROOT, content_state, make_session, service_ids, tree_state)

TAR = shutil.which('tar')


@pytest.fixture
def root(tmp_path):
    path = tmp_path / 'web' / 'sessions'
    path.mkdir(parents=True)
    make_session(path, 'tenant-a')
    make_session(path, '7afd5398-97c3-11eb-a990-f23c917564d6', prekeys=40)
    time.sleep(arc.RACY_NS / 1e9 * 2)  # older than the racy window: the first read can succeed
    return path


def manifest_of(path):
    with tarfile.open(path) as tar:
        return json.load(tar.extractfile(arc.MANIFEST_NAME))


def test_archive_is_a_tar_that_tar_extracts_with_owners_modes_and_times(root, tmp_path):
    before = tree_state(root)
    result = backup(str(root), str(tmp_path / 'backups'))
    assert tree_state(root) == before, 'the backup changed the sessions root'
    path = result['archive']
    assert os.path.basename(path).startswith('sessions-') and path.endswith('.tar.gz')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(tmp_path / 'backups')).st_mode) == 0o700
    assert [t['name'] for t in result['tenants']] == ['7afd5398-97c3-11eb-a990-f23c917564d6', 'tenant-a']
    assert result['files'] == 42 + 7 and all(t['creds_valid'] for t in result['tenants'])

    # The checksum file works with sha256sum -c, and the digest is the file's.
    with open(path, 'rb') as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == result['sha256']
    check = subprocess.run(['sha256sum', '-c', os.path.basename(result['checksum_file'])],
                           cwd=str(tmp_path / 'backups'), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           check=False)
    assert check.returncode == 0, check.stdout

    # The manifest lists every file with the SHA-256 of the file on disk.
    manifest = manifest_of(path)
    files = [e for e in manifest['entries'] if e['type'] == 'file']
    assert len(files) == 49
    for entry in files:
        with open(os.path.join(str(root), entry['path']), 'rb') as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == entry['sha256'], entry['path']
    assert manifest['tenants']['tenant-a']['creds'] == 'tenant-a_creds.json'

    # GNU tar extracts it by hand, as the README's emergency command does, with owners, modes and times.
    if TAR is None:
        pytest.skip('tar is not installed')
    out = tmp_path / 'by-hand'
    out.mkdir()
    listing = subprocess.run([TAR, '-tvzf', path], stdout=subprocess.PIPE, check=True).stdout.decode()
    assert 'tenant-a/tenant-a_creds.json' in listing and 'drwxr-s---' in listing
    subprocess.run([TAR, '-xzpf', path, '--numeric-owner', '-C', str(out), 'tenant-a'], check=True)
    original, extracted = content_state(root / 'tenant-a'), content_state(out / 'tenant-a')
    if not IS_ROOT:  # only root can give files away; compare the rest
        original = dict((k, v[:2] + v[4:]) for k, v in original.items())
        extracted = dict((k, v[:2] + v[4:]) for k, v in extracted.items())
    assert extracted == original  # modification times to the nanosecond (from the pax headers)


def test_plain_tar_and_the_manifest_owner_names(root, tmp_path):
    result = backup(str(root), str(tmp_path / 'b'), compress=False, sessions=['tenant-a'])
    assert result['archive'].endswith('.tar') and tarfile.is_tarfile(result['archive'])
    entries = manifest_of(result['archive'])['entries']
    uid, gid = service_ids()
    assert {(e['uid'], e['gid']) for e in entries} == {(uid, gid)}
    assert {e['mode'] for e in entries if e['type'] == 'dir'} == {'2750'}
    assert {e['mode'] for e in entries if e['type'] == 'file'} == {'0640'}


def test_symlinks_fifos_devices_and_hard_links_are_reported_never_read(root, tmp_path):
    secret = tmp_path / 'shadow'
    secret.write_bytes(b'root:SECRET-HASH:19000:0:99999:7:::\n')
    tenant = root / 'tenant-a'
    os.symlink(str(secret), str(tenant / 'evil.json'))
    os.symlink(str(tmp_path), str(tenant / 'pre-key' / 'outside'))
    os.mkfifo(str(tenant / 'session' / 'blocks-forever'))
    os.link(str(secret), str(tenant / 'linked.json'))
    os.symlink(str(tmp_path), str(root / 'tenant-link'))
    result = backup(str(root), str(tmp_path / 'b'))
    reasons = dict((os.path.relpath(item['path'], str(root)), item['reason']) for item in result['skipped'])
    assert set(reasons) == {'tenant-a/evil.json', 'tenant-a/pre-key/outside', 'tenant-a/session/blocks-forever',
                            'tenant-a/linked.json', 'tenant-link'}
    assert 'symlink' in reasons['tenant-a/evil.json'] and 'FIFO' in reasons['tenant-a/session/blocks-forever']
    assert 'hard links' in reasons['tenant-a/linked.json']
    with tarfile.open(result['archive']) as tar:
        names = tar.getnames()
        data = b''.join(tar.extractfile(m).read() for m in tar.getmembers() if m.isreg())
    assert b'SECRET-HASH' not in data
    assert not any('evil' in n or 'outside' in n or 'blocks' in n or 'linked' in n or 'tenant-link' in n
                   for n in names)


def test_hidden_entries_and_unsafe_names_are_not_tenants(root, tmp_path):
    os.mkdir(str(root / '.staging-tenant-x-1234'))
    (root / '.session_migrate.lock').write_bytes(b'')
    (root / 'stray-file').write_bytes(b'x')
    result = backup(str(root), str(tmp_path / 'b'))
    assert [t['name'] for t in result['tenants']] == ['7afd5398-97c3-11eb-a990-f23c917564d6', 'tenant-a']
    assert [os.path.basename(s['path']) for s in result['skipped']] == ['stray-file']


def test_a_session_changed_while_it_is_read_is_read_again(root, tmp_path):
    target = root / 'tenant-a' / 'pre-key' / '0.json'
    reads = []

    def change_once(parts):
        reads.append(parts)
        if parts[-1] == '3.json' and len(reads) < 10:
            # the gateway rewrites a key file that was already read: in place, same size, mtime put back
            st = os.stat(str(target))
            with open(str(target), 'r+b') as handle:
                data = handle.read()
                handle.seek(0)
                handle.write(data.replace(b'"keyId": 0', b'"keyId": 9'))
            os.utime(str(target), ns=(st.st_atime_ns, st.st_mtime_ns))

    result = backup(str(root), str(tmp_path / 'b'), sessions=['tenant-a'], after_file=change_once)
    assert result['failed'] == []
    with tarfile.open(result['archive']) as tar:
        assert b'"keyId": 9' in tar.extractfile('tenant-a/pre-key/0.json').read()
    assert len([r for r in reads if r[-1] == '3.json']) == 2, 'the session must have been read exactly twice'


def test_a_session_that_keeps_changing_is_reported_and_the_others_are_kept(root, tmp_path):
    backups = tmp_path / 'b'
    first = backup(str(root), str(backups), keep=1)

    folder = str(root / 'tenant-a' / 'session')

    def always(parts):
        if parts[0] == 'tenant-a' and parts[-1] == '0.json':  # the gateway adds a session record each time
            with open(os.path.join(folder, 'new-%d.json' % len(os.listdir(folder))), 'wb') as handle:
                handle.write(b'{}')

    with pytest.raises(BackupFailed) as info:
        backup(str(root), str(backups), keep=1, retries=2, after_file=always)
    result = info.value.result
    assert [f['name'] for f in result['failed']] == ['tenant-a']
    assert 'read 3 times' in result['failed'][0]['msg'] and 'Stop the gateway' in str(info.value)
    assert [t['name'] for t in result['tenants']] == ['7afd5398-97c3-11eb-a990-f23c917564d6']
    manifest = manifest_of(result['archive'])
    assert list(manifest['tenants']) == ['7afd5398-97c3-11eb-a990-f23c917564d6']
    assert manifest['not_backed_up'] == ['tenant-a']
    # keep=1, but an incomplete backup never removes the complete one
    assert os.path.exists(first['archive']) and result['removed'] == []


def test_a_live_writer_never_gives_a_torn_file(root, tmp_path):
    """A thread rewrites a 64 KiB key file in place, all 'A' or all 'B' (one pwrite each, as a database page
    write), while backups run: each archived copy is one whole version, or the session is reported. (A writer
    that stops half-way through its own update leaves a torn file on disk; no backup can tell that from a
    finished write, which is why the playbook can stop the gateway.)"""
    path = str(root / 'tenant-a' / 'store.db')
    size = 64 * 1024
    with open(path, 'wb') as handle:
        handle.write(b'A' * size)
    stop = threading.Event()

    def writer():
        fill = b'B'
        fd = os.open(path, os.O_WRONLY)
        try:
            while not stop.is_set():
                os.pwrite(fd, fill * size, 0)
                fill = b'A' if fill == b'B' else b'B'
        finally:
            os.close(fd)

    thread = threading.Thread(target=writer)
    thread.start()
    outcomes = []
    try:
        for _run in range(6):
            try:
                result = backup(str(root), str(tmp_path / 'b'), sessions=['tenant-a'], retries=1, keep=0)
            except BackupFailed as exc:
                outcomes.append('reported')
                assert 'changed while it was being read' in str(exc)
                continue
            with tarfile.open(result['archive']) as tar:
                data = tar.extractfile('tenant-a/store.db').read()
            assert data in (b'A' * size, b'B' * size), 'a torn copy was archived'
            outcomes.append('whole')
    finally:
        stop.set()
        thread.join()
    assert len(outcomes) == 6


def test_backup_dir_rules(root, tmp_path):
    with pytest.raises(arc.BackupError, match='inside the sessions root'):
        backup(str(root), str(root / 'backups'))
    assert not (root / 'backups').exists()
    with pytest.raises(arc.BackupError, match='not an absolute path'):
        backup(str(root), 'backups')
    os.symlink(str(tmp_path), str(tmp_path / 'link'))
    with pytest.raises(arc.BackupError, match='is a symlink'):
        backup(str(root), str(tmp_path / 'link'))
    loose = tmp_path / 'loose'
    loose.mkdir(mode=0o755)
    os.chmod(str(loose), 0o755)
    result = backup(str(root), str(loose))
    assert stat.S_IMODE(os.stat(str(loose)).st_mode) == 0o700
    assert result['backup_dir_changes'] == ['chmod %s from 0755 to 0700' % loose]
    with pytest.raises(arc.BackupError, match='does not exist'):
        backup(str(tmp_path / 'missing'), str(tmp_path / 'b'))
    with pytest.raises(arc.BackupError, match='Invalid session name'):
        backup(str(root), str(tmp_path / 'b'), sessions=['../etc'])


@pytest.mark.skipif(not IS_ROOT, reason='giving a directory to another user needs root')
def test_a_backup_dir_owned_by_another_user_is_refused(root, tmp_path):
    other = tmp_path / 'other'
    other.mkdir(mode=0o700)
    uid, gid = service_ids()
    os.chown(str(other), uid, gid)
    with pytest.raises(arc.BackupError, match='owned by uid %d' % uid):
        backup(str(root), str(other))
    assert os.listdir(str(other)) == []


def test_retention_and_names_within_one_second(root, tmp_path):
    backups = tmp_path / 'b'
    written = [backup(str(root), str(backups), keep=2)['archive'] for _run in range(4)]
    assert len(set(written)) == 4
    left = sorted(n for n in os.listdir(str(backups)))
    assert left == sorted([os.path.basename(p) for p in written[-2:]]
                          + [os.path.basename(p) + '.sha256' for p in written[-2:]])
    os.mkdir(str(backups / 'replaced-x'))
    assert backup(str(root), str(backups), keep=0)['removed'] == []


def test_check_mode_writes_nothing_and_says_what_it_would_write(root, tmp_path):
    backups = tmp_path / 'b'
    before = tree_state(tmp_path)
    result = backup(str(root), str(backups), check_mode=True, want_diff=True)
    assert tree_state(tmp_path) == before
    assert not backups.exists()
    assert result['changed'] and result['archive'].startswith(str(backups) + '/sessions-')
    assert result['files'] == 49 and result['backup_dir_changes'] == ['create %s (owner root, mode 0700)' % backups]
    assert result['diff']['after'] == os.path.basename(result['archive']) + '\n'


def test_named_tenants_and_missing_ones(root, tmp_path):
    result = backup(str(root), str(tmp_path / 'b'), sessions=['tenant-a', 'tenant-gone'])
    assert [t['name'] for t in result['tenants']] == ['tenant-a']
    assert result['not_found'] == ['tenant-gone']
    assert os.path.basename(result['archive']).startswith('tenants-')


def test_backups_of_named_tenants_never_push_out_full_ones(root, tmp_path):
    backups = str(tmp_path / 'b')
    full = [backup(str(root), backups, keep=2)['archive'] for _run in range(2)]
    partial = [backup(str(root), backups, keep=2, sessions=['tenant-a'])['archive'] for _run in range(3)]
    assert all(os.path.exists(path) for path in full + partial[1:]) and not os.path.exists(partial[0])


def test_an_invalid_session_is_backed_up_and_marked(root, tmp_path):
    make_session(root, 'tenant-broken', creds=b'{"half":')
    result = backup(str(root), str(tmp_path / 'b'))
    states = dict((t['name'], t['creds_valid']) for t in result['tenants'])
    assert states == {'7afd5398-97c3-11eb-a990-f23c917564d6': True, 'tenant-a': True, 'tenant-broken': False}
    assert 'not JSON' in manifest_of(result['archive'])['tenants']['tenant-broken']['creds_problem']

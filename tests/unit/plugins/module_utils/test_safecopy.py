# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import os
import socket
import stat
import time

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import safecopy
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    BAILEYS_CSHARP, BAILEYS_MULTI_FILE)


def write(path, data, mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    if mtime is not None:
        os.utime(str(path), (mtime, mtime))


def plan_for(root, name, layout=BAILEYS_CSHARP, normalize=True):
    fd = os.open(str(root), os.O_RDONLY | os.O_DIRECTORY)
    try:
        return safecopy.scan_session(fd, str(root), name, layout, normalize)
    finally:
        os.close(fd)


def copy(root, name, dest, plan=None, **kwargs):
    plan = plan or plan_for(root, name)
    settings = safecopy.CopySettings(os.getuid(), os.getgid(), **kwargs)
    root_fd = os.open(str(root), os.O_RDONLY | os.O_DIRECTORY)
    dest_fd = os.open(str(dest), os.O_RDONLY | os.O_DIRECTORY)
    try:
        return plan, safecopy.copy_plan(plan, root_fd, name, dest_fd, '.staging-' + name, settings)
    finally:
        os.close(root_fd)
        os.close(dest_fd)


def tree(path):
    """{relative path: (kind, size, mtime_ns, mode)} of everything below ``path``."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(str(path)):
        for entry in dirnames + filenames:
            full = os.path.join(dirpath, entry)
            st = os.lstat(full)
            rel = os.path.relpath(full, str(path))
            result[rel] = (safecopy.kind_of(st.st_mode), st.st_size if stat.S_ISREG(st.st_mode) else 0,
                           st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    return result


def test_scan_normalises_backslash_names_and_brings_store_db_beside_the_dir(tmp_path):
    root = tmp_path / 'legacy'
    s = root / 's'
    write(s / 's_creds.json', '{"a":1}')
    write(s / 'pre-key\\7.json', 'k7')
    write(s / 'session\\a__b.json', 'sess')
    write(s / 'pre-key' / '8.json', 'k8')
    write(root / 's\\store.db', 'db')
    write(root / 's\\store-log.db', 'log')
    write(root / 's\\other.txt', 'not a store')
    write(root / 'sx\\store.db', 'other session')
    plan = plan_for(root, 's')
    targets = sorted(os.path.join(*(item.dst_dir + (item.dst_name,))) for item in plan.files)
    assert targets == ['pre-key/7.json', 'pre-key/8.json', 's_creds.json', 'session/a__b.json', 'store-log.db',
                       'store.db']
    assert plan.warnings == [] and plan.nbytes == sum(len(x) for x in (
        '{"a":1}', 'k7', 'sess', 'k8', 'db', 'log'))
    dest = tmp_path / 'dest'
    dest.mkdir()
    copy(root, 's', dest, plan=plan)
    got = tree(dest / '.staging-s')
    assert sorted(got) == ['pre-key', 'pre-key/7.json', 'pre-key/8.json', 's_creds.json', 'session',
                           'session/a__b.json', 'store-log.db', 'store.db']
    assert (dest / '.staging-s' / 'store.db').read_text() == 'db'
    assert (dest / '.staging-s' / 'session' / 'a__b.json').read_text() == 'sess'


def test_store_db_added_or_removed_beside_the_dir_is_seen_by_the_next_scan(tmp_path):
    root = tmp_path / 'legacy'
    write(root / 's' / 's_creds.json', '{"a":1}')
    write(root / 't' / 't_creds.json', '{"a":1}')

    def targets(name):
        return sorted(item.dst_name for item in plan_for(root, name).files)

    assert targets('s') == ['s_creds.json'] and targets('t') == ['t_creds.json']
    write(root / 's\\store.db', 'db')
    assert targets('s') == ['s_creds.json', 'store.db'] and targets('t') == ['t_creds.json']
    os.unlink(str(root / 's\\store.db'))
    assert targets('s') == ['s_creds.json']


def test_both_spellings_the_folder_wins_and_the_other_is_reported(tmp_path):
    root = tmp_path / 'legacy'
    s = root / 's'
    write(s / 's_creds.json', '{"a":1}')
    write(s / 'pre-key' / '7.json', 'folder')
    write(s / 'pre-key\\7.json', 'backslash')
    write(s / 'store.db', 'folder db')
    write(root / 's\\store.db', 'beside db')
    plan = plan_for(root, 's')
    dest = tmp_path / 'dest'
    dest.mkdir()
    copy(root, 's', dest, plan=plan)
    assert (dest / '.staging-s' / 'pre-key' / '7.json').read_text() == 'folder'
    assert (dest / '.staging-s' / 'store.db').read_text() == 'folder db'
    assert not (dest / '.staging-s' / 'pre-key\\7.json').exists()
    assert len(plan.warnings) == 2 and all('both spellings' in w for w in plan.warnings)
    assert plan.left_behind == {str(s / 'pre-key\\7.json'), str(root / 's\\store.db')}


def test_normalize_false_and_multi_file_copy_names_as_they_are(tmp_path):
    root = tmp_path / 'legacy'
    write(root / 's' / 's_creds.json', '{"a":1}')
    write(root / 's' / 'pre-key\\7.json', 'k')
    write(root / 's\\store.db', 'db')
    write(root / 'n' / 'creds.json', '{"a":1}')
    write(root / 'n' / 'pre-key-1.json', 'k')
    write(root / 'n' / 'app-state-sync-key-AAAA.json', 'k')
    names = sorted(i.dst_name for i in plan_for(root, 's', normalize=False).files)
    assert names == ['pre-key\\7.json', 's_creds.json']
    names = sorted(i.dst_name for i in plan_for(root, 'n', layout=BAILEYS_MULTI_FILE).files)
    assert names == ['app-state-sync-key-AAAA.json', 'creds.json', 'pre-key-1.json']


def test_backslash_name_clashing_with_a_file_keeps_its_literal_name(tmp_path):
    root = tmp_path / 'legacy'
    write(root / 's' / 's_creds.json', '{"a":1}')
    write(root / 's' / 'pre-key', 'a file named like the folder')
    write(root / 's' / 'pre-key\\7.json', 'k')
    plan = plan_for(root, 's')
    assert sorted(i.dst_name for i in plan.files) == ['pre-key', 'pre-key\\7.json', 's_creds.json']
    assert 'literal name' in plan.warnings[0]


def test_symlinks_fifos_sockets_are_reported_never_followed(tmp_path):
    root = tmp_path / 'legacy'
    s = root / 's'
    write(s / 's_creds.json', '{"a":1}')
    write(tmp_path / 'outside' / 'secret.json', 'secret')
    (s / 'link.json').symlink_to(tmp_path / 'outside' / 'secret.json')
    (s / 'pre-key').symlink_to(tmp_path / 'outside')
    os.mkfifo(str(s / 'fifo'))
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(s / 'sock'))
        plan = plan_for(root, 's')
    finally:
        sock.close()
    assert [i.dst_name for i in plan.files] == ['s_creds.json']
    kinds = sorted(w.split(': ')[1] for w in plan.warnings)
    assert kinds == ['FIFO not followed or copied', 'socket not followed or copied',
                     'symlink not followed or copied', 'symlink not followed or copied']


def test_copy_sets_modes_owner_and_preserves_mtimes_of_files_and_dirs(tmp_path):
    root = tmp_path / 'legacy'
    s = root / 's'
    write(s / 's_creds.json', '\ufeff{"a":1}', mtime=1500000000)
    write(s / 'pre-key' / '1.json', 'x' * 164, mtime=1500000100)
    write(s / 'session' / 'deep' / 'f.json', 'y' * 1350, mtime=1500000200)
    os.utime(str(s / 'session' / 'deep'), (1400000000, 1400000000))
    os.utime(str(s / 'pre-key'), (1400000001, 1400000001))
    os.utime(str(s), (1400000002, 1400000002))
    os.chmod(str(s / 'pre-key' / '1.json'), 0o666)
    dest = tmp_path / 'dest'
    dest.mkdir()
    copy(root, 's', dest, dir_mode=0o2750, file_mode=0o640)
    src, dst = tree(s), tree(dest / '.staging-s')
    assert sorted(src) == sorted(dst)
    for rel, (kind, size, mtime, mode) in dst.items():
        assert (kind, size, mtime) == src[rel][:3], rel
        assert mode == (0o2750 if kind == 'directory' else 0o640), rel
    top = os.stat(str(dest / '.staging-s'))
    assert top.st_mtime_ns == 1400000002 * 10 ** 9 and stat.S_IMODE(top.st_mode) == 0o2750
    assert (dest / '.staging-s' / 's_creds.json').read_bytes() == s.joinpath('s_creds.json').read_bytes()


@pytest.mark.parametrize('use_syncfs', [True, False])
def test_both_flush_strategies_give_the_same_copy(tmp_path, use_syncfs):
    if use_syncfs and not safecopy.syncfs_available():
        pytest.skip('syncfs(2) is not available here')
    root = tmp_path / 'legacy'
    for i in range(50):
        write(root / 's' / 'pre-key' / ('%d.json' % i), os.urandom(164))
    write(root / 's' / 's_creds.json', '{"a":1}')
    dest = tmp_path / 'dest'
    dest.mkdir()
    copy(root, 's', dest, use_syncfs=use_syncfs)
    for i in range(50):
        rel = os.path.join('pre-key', '%d.json' % i)
        assert (dest / '.staging-s' / rel).read_bytes() == (root / 's' / rel).read_bytes()


def test_hard_links_become_separate_files(tmp_path):
    root = tmp_path / 'legacy'
    write(root / 's' / 's_creds.json', '{"a":1}')
    os.link(str(root / 's' / 's_creds.json'), str(root / 's' / 'copy.json'))
    dest = tmp_path / 'dest'
    dest.mkdir()
    copy(root, 's', dest)
    a, b = os.stat(str(dest / '.staging-s' / 's_creds.json')), os.stat(str(dest / '.staging-s' / 'copy.json'))
    assert a.st_ino != b.st_ino and a.st_nlink == 1 and b.st_nlink == 1


def test_copy_hashes_and_verify_detects_a_mismatch(tmp_path):
    root = tmp_path / 'legacy'
    write(root / 's' / 's_creds.json', '{"a":1}')
    write(root / 's' / 'pre-key' / '1.json', 'one')
    dest = tmp_path / 'dest'
    dest.mkdir()
    plan, hashes = copy(root, 's', dest, hash_files=True)
    assert set(hashes) == {('s_creds.json',), ('pre-key', '1.json')}
    fd = os.open(str(dest / '.staging-s'), os.O_RDONLY | os.O_DIRECTORY)
    try:
        safecopy.verify_copy(plan, hashes, fd, 'staging')
        (dest / '.staging-s' / 'pre-key' / '1.json').write_text('ONE')
        with pytest.raises(safecopy.SessionError, match='SHA-256'):
            safecopy.verify_copy(plan, hashes, fd, 'staging')
        (dest / '.staging-s' / 'extra').write_text('x')
        with pytest.raises(safecopy.SessionError, match='file names'):
            safecopy.verify_copy(plan, hashes, fd, 'staging')
    finally:
        os.close(fd)


def test_file_changed_during_copy_fails_the_session(tmp_path):
    root = tmp_path / 'legacy'
    write(root / 's' / 's_creds.json', '{"a":1}')
    plan = plan_for(root, 's')
    write(root / 's' / 's_creds.json', '{"a":12}')
    dest = tmp_path / 'dest'
    dest.mkdir()
    with pytest.raises(safecopy.SessionError, match='changed while being migrated'):
        copy(root, 's', dest, plan=plan)


def test_session_dir_swapped_for_a_symlink_is_not_followed(tmp_path):
    root = tmp_path / 'legacy'
    write(root / 's' / 's_creds.json', '{"a":1}')
    plan = plan_for(root, 's')
    os.rename(str(root / 's'), str(tmp_path / 'moved'))
    (root / 's').symlink_to(tmp_path / 'moved')
    dest = tmp_path / 'dest'
    dest.mkdir()
    with pytest.raises(OSError) as exc:
        copy(root, 's', dest, plan=plan)
    assert exc.value.errno in (40, 20)  # ELOOP / ENOTDIR
    with pytest.raises(OSError):
        plan_for(root, 's')


def test_remove_verified_keeps_new_and_changed_files(tmp_path):
    root = tmp_path / 'legacy'
    s = root / 's'
    write(s / 's_creds.json', '{"a":1}')
    write(s / 'pre-key' / '1.json', 'one')
    write(s / 'session' / '1.json', 'sess')
    write(root / 's\\store.db', 'db')
    (s / 'link').symlink_to(tmp_path)
    plan = plan_for(root, 's')
    write(s / 'pre-key' / '2.json', 'new')
    write(s / 'session' / '1.json', 'changed!', mtime=1)
    fd = os.open(str(root), os.O_RDONLY | os.O_DIRECTORY)
    try:
        complete, warnings = safecopy.remove_verified(plan, fd)
    finally:
        os.close(fd)
    assert not complete
    assert sorted(tree(s)) == ['link', 'pre-key', 'pre-key/2.json', 'session', 'session/1.json']
    assert not (root / 's\\store.db').exists()
    assert any('2.json: appeared' in w for w in warnings) and any('changed after' in w for w in warnings)
    assert os.path.isdir(str(tmp_path))  # the symlink target is untouched


def test_remove_verified_removes_everything_when_unchanged(tmp_path):
    root = tmp_path / 'legacy'
    write(root / 's' / 's_creds.json', '{"a":1}')
    write(root / 's' / 'a' / 'b' / 'c.json', 'c')
    plan = plan_for(root, 's')
    fd = os.open(str(root), os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert safecopy.remove_verified(plan, fd) == (True, [])
    finally:
        os.close(fd)
    assert os.listdir(str(root)) == []


def test_rmtree_at_does_not_follow_symlinks(tmp_path):
    write(tmp_path / 'keep' / 'precious.json', 'x')
    write(tmp_path / 'dest' / '.staging-x' / 'a' / 'f', 'y')
    (tmp_path / 'dest' / '.staging-x' / 'a' / 'link').symlink_to(tmp_path / 'keep')
    fd = os.open(str(tmp_path / 'dest'), os.O_RDONLY | os.O_DIRECTORY)
    try:
        safecopy.rmtree_at(fd, '.staging-x', 'x')
    finally:
        os.close(fd)
    assert os.listdir(str(tmp_path / 'dest')) == []
    assert (tmp_path / 'keep' / 'precious.json').read_text() == 'x'


def test_lock_waits_then_fails_with_a_clear_message(tmp_path):
    holder = os.open(str(tmp_path / '.lock'), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        start = time.monotonic()
        with pytest.raises(safecopy.LockTimeout, match='locked by another session_migrate run.*1.0 seconds'):
            safecopy.acquire_lock(fd, '.lock', 1.0, 'the lock')
        assert 0.9 <= time.monotonic() - start < 5
        fcntl.flock(holder, fcntl.LOCK_UN)
        lock = safecopy.acquire_lock(fd, '.lock', 1.0, 'the lock')
        os.close(lock)
        assert safecopy.acquire_lock(fd, '.absent', 0, 'x', create=False) is None
        assert not (tmp_path / '.absent').exists()
    finally:
        os.close(fd)
        os.close(holder)

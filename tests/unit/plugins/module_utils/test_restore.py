# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""session_restore's logic on real trees: what comes back is exactly what was archived, a second run changes
nothing, newer sessions are protected, and corrupted or hostile archives are refused with nothing changed."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import json
import os
import shutil
import tarfile
import time

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import archive as arc
from ansible_collections.rubymanager.session_persistence.plugins.module_utils import restore as rst
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.backup import backup
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils.archivelib import (
    IS_ROOT, content_state, make_session, service_ids, tree_state)

TENANTS = ['7afd5398-97c3-11eb-a990-f23c917564d6', 'tenant-a', 'tenant-b']


@pytest.fixture
def world(tmp_path):
    """A sessions root with three tenants, its backup, and the places restore uses."""
    root = tmp_path / 'web' / 'sessions'
    root.mkdir(parents=True)
    for i, name in enumerate(TENANTS):
        make_session(root, name, prekeys=3 + i)
    time.sleep(arc.RACY_NS / 1e9 * 2)
    backups = tmp_path / 'backups'
    made = backup(str(root), str(backups))
    return {'root': root, 'backups': backups, 'state': tmp_path / 'state', 'archive': made['archive'],
            'original': dict((name, content_state(root / name)) for name in TENANTS), 'tmp': tmp_path}


def run(world, **kwargs):
    kwargs.setdefault('backup_dir', str(world['backups']))
    kwargs.setdefault('state_dir', str(world['state']))
    return rst.restore(str(world['root']), **kwargs)


def guarded(world):
    """Everything a restore could touch: the sessions root, the backup directory, the state directory."""
    return (tree_state(world['tmp'] / 'web'), tree_state(world['backups']), tree_state(world['state']))


def corrupt_creds(root, name):
    path = os.path.join(str(root), name, name + '_creds.json')
    with open(path, 'wb') as handle:
        handle.write(b'\x00\x00garbage')


def test_a_deleted_and_a_corrupted_tenant_come_back_exactly(world):
    root = world['root']
    shutil.rmtree(str(root / 'tenant-a'))
    corrupt_creds(root, 'tenant-b')
    untouched = tree_state(root / TENANTS[0])
    result = run(world, sessions=['tenant-a', 'tenant-b'])
    assert result['changed'] and result['archive'] == world['archive']
    restored = dict((item['name'], item) for item in result['restored'])
    assert sorted(restored) == ['tenant-a', 'tenant-b']
    assert restored['tenant-a']['previous'] == 'absent' and restored['tenant-a']['backup'] is None
    assert restored['tenant-b']['previous'].startswith('invalid (creds file is not')
    for name in ('tenant-a', 'tenant-b'):
        assert content_state(root / name) == world['original'][name], name
    assert tree_state(root / TENANTS[0]) == untouched
    assert sorted(os.listdir(str(root))) == TENANTS, 'no staging directory or creds file may be left over'

    # The corrupted one was saved first, as a verified archive that holds the corrupted creds.
    saved = restored['tenant-b']['backup']
    assert os.path.basename(saved).startswith('replaced-tenant-b-')
    verified = arc.verify_archive(saved)
    assert list(verified.tenants) == ['tenant-b'] and not verified.tenants['tenant-b']['creds_valid']
    with tarfile.open(saved) as tar:
        assert tar.extractfile('tenant-b/tenant-b_creds.json').read() == b'\x00\x00garbage'

    # A second run changes nothing (every tenant is identical to its archived copy).
    before = tree_state(world['tmp'])
    again = run(world)
    assert not again['changed'] and again['unchanged'] == TENANTS and again['restored'] == []
    assert tree_state(world['tmp']) == before


def test_owners_modes_setgid_and_times_are_restored(world):
    root = world['root']
    shutil.rmtree(str(root / 'tenant-a'))
    run(world, sessions=['tenant-a'])
    state = content_state(root / 'tenant-a')
    uid, gid = service_ids()
    assert state['.'][1] == 0o2750 and (state['.'][2], state['.'][3]) == ((uid, gid) if IS_ROOT else state['.'][2:4])
    assert state == world['original']['tenant-a']


@pytest.mark.skipif(not IS_ROOT, reason='giving files to another user needs root')
def test_owner_and_group_override(world):
    root = world['root']
    shutil.rmtree(str(root / 'tenant-a'))
    run(world, sessions=['tenant-a'], owner='nobody', group='nogroup')
    ids = {(v[2], v[3]) for v in content_state(root / 'tenant-a').values()}
    assert ids == {(65534, 65534)}


def test_a_newer_valid_session_is_refused_unless_forced(world):
    root = world['root']
    creds = root / 'tenant-a' / 'tenant-a_creds.json'
    creds.write_bytes(json.dumps({'me': {'id': 'tenant-a'}, 'newer': True}).encode())
    newer = content_state(root / 'tenant-a')
    with pytest.raises(rst.RestoreFailed) as info:
        run(world, sessions=['tenant-a'])
    assert 'newer than its copy in the archive' in str(info.value) and 'restore_force=true' in str(info.value)
    assert info.value.result['refused'][0]['name'] == 'tenant-a'
    assert content_state(root / 'tenant-a') == newer

    result = run(world, sessions=['tenant-a'], force=True)
    assert content_state(root / 'tenant-a') == world['original']['tenant-a']
    saved = result['restored'][0]['backup']
    with tarfile.open(saved) as tar:
        assert b'"newer": true' in tar.extractfile('tenant-a/tenant-a_creds.json').read()


def test_an_older_different_session_is_replaced_after_a_backup(world):
    root = world['root']
    os.unlink(str(root / 'tenant-a' / 'pre-key' / '1.json'))
    result = run(world, sessions=['tenant-a'])
    assert result['restored'][0]['previous'] == 'valid, differs from the archived copy and not newer than it'
    assert content_state(root / 'tenant-a') == world['original']['tenant-a']


def test_without_rename_exchange_the_result_is_the_same(world):
    root = world['root']
    corrupt_creds(root, 'tenant-b')
    run(world, sessions=['tenant-b'], use_exchange=False, use_syncfs=False)
    assert content_state(root / 'tenant-b') == world['original']['tenant-b']
    assert sorted(os.listdir(str(root))) == TENANTS


def test_check_mode_changes_nothing_and_tells_the_truth(world):
    root = world['root']
    shutil.rmtree(str(root / 'tenant-a'))
    corrupt_creds(root, 'tenant-b')
    before = tree_state(world['tmp'])
    result = run(world, check_mode=True, want_diff=True)
    assert tree_state(world['tmp']) == before
    assert not world['state'].exists(), 'check mode must not even create the state directory'
    assert result['changed'] and [r['name'] for r in result['restored']] == ['tenant-a', 'tenant-b']
    assert result['unchanged'] == [TENANTS[0]]
    diff = result['diff']
    assert 'tenant-a: absent\n' in diff['before'] and 'tenant-b: invalid' in diff['before']
    assert 'tenant-a: restored from %s' % world['archive'] in diff['after']
    real = run(world)
    assert [r['name'] for r in real['restored']] == ['tenant-a', 'tenant-b']


def test_the_newest_archive_is_used_by_default(world):
    root = world['root']
    time.sleep(1.1)
    (root / 'tenant-a' / 'pre-key' / 'added.json').write_bytes(b'{"late": 1}')
    time.sleep(arc.RACY_NS / 1e9 * 2)
    newer = backup(str(root), str(world['backups']))
    backup(str(root), str(world['backups']), sessions=['tenant-b'])  # a later backup of another tenant only
    shutil.rmtree(str(root / 'tenant-a'))
    result = run(world, sessions=['tenant-a'])
    assert result['archive'] == newer['archive'] != world['archive']
    assert (root / 'tenant-a' / 'pre-key' / 'added.json').read_bytes() == b'{"late": 1}'


def test_stale_staging_is_removed_and_symlinked_tenants_are_not_followed(world):
    root = world['root']
    stale = root / '.staging-deadbeef'
    stale.mkdir()
    (stale / '.creds.staged').write_bytes(b'{}')
    outside = world['tmp'] / 'outside'
    outside.mkdir()
    shutil.rmtree(str(root / 'tenant-a'))
    os.symlink(str(outside), str(root / 'tenant-a'))
    with pytest.raises(rst.RestoreFailed, match='not a directory'):
        run(world)
    assert not stale.exists()
    assert os.path.islink(str(root / 'tenant-a')) and os.listdir(str(outside)) == []


def test_unknown_tenant_and_missing_archive_are_refused_before_anything(world):
    before = tree_state(world['tmp'])
    with pytest.raises(arc.ArchiveError, match="tenant 'tenant-z' is not in it"):
        run(world, sessions=['tenant-a', 'tenant-z'])
    with pytest.raises(arc.BackupError, match='no archive'):
        run(world, backup_dir=str(world['tmp'] / 'web'))
    with pytest.raises(arc.BackupError, match='Invalid session name'):
        run(world, sessions=['..'])
    with pytest.raises(arc.BackupError, match='inside the sessions root'):
        run(world, state_dir=str(world['root'] / 'state'))
    assert tree_state(world['tmp']) == before


# ----------------------------------------------------------------------------------------------------------
# corrupted and hostile archives: refused with a clear message, nothing changed anywhere

def test_a_corrupted_archive_is_refused_and_nothing_changes(world):
    root = world['root']
    shutil.rmtree(str(root / 'tenant-a'))
    data = bytearray(open(world['archive'], 'rb').read())
    data[len(data) // 2] ^= 0xFF
    with open(world['archive'], 'wb') as handle:
        handle.write(bytes(data))
    before = tree_state(world['tmp'])
    with pytest.raises(arc.ArchiveError) as info:
        run(world)
    assert str(info.value).startswith('Archive %s is refused: ' % world['archive'])
    assert tree_state(world['tmp']) == before

    # Without the checksum file, the members are still checked against the manifest.
    os.unlink(world['archive'] + '.sha256')
    with pytest.raises(arc.ArchiveError):
        run(world)


def test_a_truncated_archive_is_refused(world):
    data = open(world['archive'], 'rb').read()
    with open(world['archive'], 'wb') as handle:
        handle.write(data[:len(data) * 2 // 3])
    os.unlink(world['archive'] + '.sha256')
    before = tree_state(world['tmp'])
    with pytest.raises(arc.ArchiveError, match='truncated or corrupted|not a readable'):
        run(world)
    assert tree_state(world['tmp']) == before


def build(path, members, manifest=None, tenants=('tenant-a',)):
    """Write a hand-made tar ``path``: ``members`` are TarInfo (with ``data`` for files); the manifest lists
    the same members unless one is given."""
    import hashlib
    entries = []
    with tarfile.open(str(path), 'w:gz', format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
            entry = {'path': info.name.rstrip('/'), 'type': 'dir' if info.isdir() else 'file',
                     'mode': '%04o' % info.mode, 'uid': info.uid, 'gid': info.gid, 'user': '', 'group': '',
                     'mtime_ns': int(info.mtime) * 10 ** 9}
            if info.isreg():
                entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
            entries.append(entry)
        if manifest is None:
            manifest = {'format': arc.MANIFEST_FORMAT, 'version': arc.MANIFEST_VERSION, 'entries': entries,
                        'tenants': dict((t, {'creds': t + '_creds.json', 'files': 1}) for t in tenants)}
        raw = json.dumps(manifest).encode()
        info = tarfile.TarInfo(arc.MANIFEST_NAME)
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return str(path)


def member(name, kind='file', mode=0o640, **extra):
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = 1700000000
    info.type = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'sym': tarfile.SYMTYPE,
                 'link': tarfile.LNKTYPE, 'chr': tarfile.CHRTYPE, 'fifo': tarfile.FIFOTYPE}[kind]
    for key, value in extra.items():
        setattr(info, key, value)
    return info


GOOD = [(member('tenant-a', 'dir', 0o2750), None), (member('tenant-a/tenant-a_creds.json'), b'{"me": 1}')]

HOSTILE = {
    'absolute path': (GOOD + [(member('/etc/cron.d/evil'), b'* * * * * root sh')], 'absolute path'),
    'dot-dot': (GOOD + [(member('tenant-a/../../escape.json'), b'{}')], '".." path component'),
    'symlink member': (GOOD + [(member('tenant-a/pre-key', 'sym', linkname='/etc'), None)], 'symbolic link'),
    'hard link member': (GOOD + [(member('tenant-a/shadow', 'link', linkname='/etc/shadow'), None)], 'hard link'),
    'device member': (GOOD + [(member('tenant-a/mem', 'chr', devmajor=1, devminor=1), None)], 'device or FIFO'),
    'fifo member': (GOOD + [(member('tenant-a/pipe', 'fifo'), None)], 'device or FIFO'),
    'hidden tenant': (GOOD + [(member('.staging-x', 'dir', 0o700), None)], 'not under a safe tenant name'),
    'reserved creds name': (GOOD + [(member('tenant-a/.creds.staged'), b'{}')], 'reserved'),
    'file as tenant': (GOOD + [(member('tenant-b'), b'{}')], 'file where a tenant directory'),
    'duplicate member': (GOOD + [(member('tenant-a/tenant-a_creds.json'), b'{"me": 2}')], 'appears twice'),
    'member of no tenant': (GOOD + [(member('tenant-c', 'dir', 0o2750), None)], 'belongs to no tenant'),
    'no parent directory': (GOOD + [(member('tenant-a/pre-key/1.json'), b'{}')], 'no directory entry'),
}


@pytest.mark.parametrize('case', sorted(HOSTILE))
def test_hostile_archives_are_refused_with_nothing_written(world, case):
    members, message = HOSTILE[case]
    path = build(world['tmp'] / 'hostile.tar.gz', members)
    shutil.rmtree(str(world['root'] / 'tenant-a'))
    before = tree_state(world['tmp'])
    with pytest.raises(arc.ArchiveError) as info:
        run(world, archive=path)
    assert message in str(info.value), str(info.value)
    assert tree_state(world['tmp']) == before
    assert not os.path.lexists('/etc/cron.d/evil')
    assert not (world['tmp'] / 'escape.json').exists() and not (world['tmp'] / 'web' / 'escape.json').exists()


def test_manifest_mismatches_are_refused(world):
    shutil.rmtree(str(world['root'] / 'tenant-a'))
    before = guarded(world)
    ok = build(world['tmp'] / 'ok.tar.gz', GOOD)
    assert run(world, archive=ok, check_mode=True)['restored'][0]['name'] == 'tenant-a'
    with tarfile.open(ok) as tar:
        manifest = json.load(tar.extractfile(arc.MANIFEST_NAME))
    cases = {
        'wrong hash': ('sha256', '0' * 64, 'does not match its manifest'),
        'wrong size': ('size', 3, 'does not match its manifest'),
        'wrong mode': ('mode', '0666', 'other owner or mode'),
    }
    for field, value, message in cases.values():
        bad = json.loads(json.dumps(manifest))
        bad['entries'][1][field] = value
        path = build(world['tmp'] / 'bad.tar.gz', GOOD, manifest=bad)
        with pytest.raises(arc.ArchiveError, match=message):
            run(world, archive=path)
    missing = json.loads(json.dumps(manifest))
    missing['entries'] = missing['entries'][:1]
    with pytest.raises(arc.ArchiveError, match='not in the manifest'):
        run(world, archive=build(world['tmp'] / 'bad.tar.gz', GOOD, manifest=missing))
    extra = json.loads(json.dumps(manifest))
    extra['entries'].append(dict(extra['entries'][1], path='tenant-a/gone.json'))
    with pytest.raises(arc.ArchiveError, match='missing from the archive'):
        run(world, archive=build(world['tmp'] / 'bad.tar.gz', GOOD, manifest=extra))
    with pytest.raises(arc.ArchiveError, match='no manifest'):
        with tarfile.open(str(world['tmp'] / 'plain.tar'), 'w') as tar:
            tar.addfile(member('tenant-a', 'dir'))
        run(world, archive=str(world['tmp'] / 'plain.tar'))
    with pytest.raises(arc.ArchiveError, match='not a readable tar'):
        (world['tmp'] / 'notes.tar.gz').write_bytes(b'hello, this is not an archive')
        run(world, archive=str(world['tmp'] / 'notes.tar.gz'))
    os.symlink(world['archive'], str(world['tmp'] / 'link.tar.gz'))
    with pytest.raises(arc.ArchiveError, match='is a symlink'):
        run(world, archive=str(world['tmp'] / 'link.tar.gz'))
    assert guarded(world) == before

# -*- coding: utf-8 -*-
"""After prepare (legacy sessions in the four old places), converge (storage role + session_migrate copy) and
side_effect (a verified move out of a release directory): every file arrived intact, owned and locked down,
the legacy copies are untouched, and the special cases (duplicate, invalid creds, backslash names) went right.

The manifest written by files/seed_legacy.py on the container says what each legacy copy must become.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

APP = '/home/RubyManager/web/whatsapp.rubymanager.app'
ROOT = APP + '/sessions'
LEGACY_ROOTS = [APP + '/netcoreapp/bin/Release/net8.0', APP + '/netcoreapp', APP + '/netcoreapp/publish', APP]
RELEASE = APP + '/releases/20240105120000'
MANIFEST = '/var/lib/sp-migrate-test/manifest.json'
STATE_DIR = '/var/lib/rubymanager/session_persistence'
LOCK = STATE_DIR + '/session_migrate.lock'

FULL = '7afd5398-97c3-11eb-a990-f23c917564d6'
DUP = '9e2a7c44-c6d1-11ec-9d64-0242ac120002'
INVALID = 'e1f3b5a7-d8c9-11ec-b909-0242ac120002'
MOVED = '4a7b9c1d-e2f3-11ec-8d3d-0242ac120003'
BLOCKED = 'b2c4d6e8-f1a3-11ec-8d3d-0242ac120005'

# Session name -> the legacy copy it must come from.
EXPECTED = {
    FULL: LEGACY_ROOTS[0] + '/' + FULL,
    '0b6e5c1a-9f21-11eb-a8b3-0242ac130003': LEGACY_ROOTS[1] + '/0b6e5c1a-9f21-11eb-a8b3-0242ac130003',
    '5f0c2d7e-a1b4-11eb-9439-0242ac130002': LEGACY_ROOTS[2] + '/5f0c2d7e-a1b4-11eb-9439-0242ac130002',
    'c8d4e6f2-b3a5-11ec-8d3d-0242ac130004': LEGACY_ROOTS[3] + '/c8d4e6f2-b3a5-11ec-8d3d-0242ac130004',
    DUP: LEGACY_ROOTS[1] + '/' + DUP,
    MOVED: RELEASE + '/' + MOVED,
}

# Lists every entry below a directory (symlinks not followed) as JSON: path -> type, owner, mode, size,
# mtime and SHA-256 of regular files. One call for the whole application directory keeps verify fast.
TREE_SCRIPT = r'''
import grp, hashlib, json, os, pwd, stat, sys
out = {}
for top in sys.argv[1:]:
    for dirpath, dirnames, filenames in os.walk(top):
        for path in [dirpath] + [os.path.join(dirpath, n) for n in filenames + dirnames]:
            st = os.lstat(path)
            info = {'type': 'dir' if stat.S_ISDIR(st.st_mode) else 'file' if stat.S_ISREG(st.st_mode) else 'other',
                    'user': pwd.getpwuid(st.st_uid).pw_name, 'group': grp.getgrgid(st.st_gid).gr_name,
                    'mode': stat.S_IMODE(st.st_mode), 'size': st.st_size, 'mtime_ns': st.st_mtime_ns}
            if stat.S_ISREG(st.st_mode):
                with open(path, 'rb') as handle:
                    info['sha256'] = hashlib.sha256(handle.read()).hexdigest()
            out[path] = info
print(json.dumps(out))
'''


@pytest.fixture(scope='module')
def manifest(host):
    return json.loads(host.file(MANIFEST).content_string)['copies']


@pytest.fixture(scope='module')
def tree(host):
    """Every entry below the application directory (legacy roots, releases and the sessions root)."""
    return json.loads(host.check_output('python3 -c %s %s', TREE_SCRIPT, APP))


def below(tree, top):
    """``{relative path: info}`` of the entries strictly below ``top``."""
    prefix = top + '/'
    return dict((path[len(prefix):], info) for path, info in tree.items() if path.startswith(prefix))


def test_dest_holds_exactly_the_migrated_sessions(tree):
    top = set(rel for rel in below(tree, ROOT) if '/' not in rel)
    assert top == set(EXPECTED), 'invalid, blocked or stray entries (staging, lock, backup) in the sessions root'


def test_no_creds_file_the_gateway_could_load_twice(tree):
    """The gateway loads every *_creds.json below its root: only <root>/<tenant>/<tenant>_creds.json exist."""
    creds = [path[len(ROOT) + 1:] for path in tree if path.startswith(ROOT + '/') and path.endswith('_creds.json')]
    assert sorted(creds) == sorted('%s/%s_creds.json' % (name, name) for name in EXPECTED)


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_every_file_arrived_identical_with_its_mtime(tree, manifest, name):
    expected = manifest[EXPECTED[name]]['files']
    got = dict((rel, info) for rel, info in below(tree, ROOT + '/' + name).items() if info['type'] != 'dir')
    assert sorted(got) == sorted(expected)
    for rel, want in expected.items():
        assert got[rel]['type'] == 'file', rel
        assert (got[rel]['size'], got[rel]['sha256']) == (want['size'], want['sha256']), rel
        assert got[rel]['mtime_ns'] == want['mtime_ns'], rel
        if name != MOVED:
            assert got[rel]['mtime_ns'] == tree[want['legacy']]['mtime_ns'], rel


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_directories_keep_their_mtimes(tree, manifest, name):
    for rel, mtime_ns in manifest[EXPECTED[name]]['dirs'].items():
        path = os.path.join(ROOT, name, rel) if rel else ROOT + '/' + name
        assert tree[path]['type'] == 'dir', path
        assert tree[path]['mtime_ns'] == mtime_ns, path


def test_backslash_names_became_folders(tree, manifest):
    dest = below(tree, ROOT)
    assert not [rel for rel in dest if '\\' in rel], 'a backslash name was copied literally'
    session = below(tree, ROOT + '/' + FULL)
    legacy_backslash = [info['legacy'] for info in manifest[EXPECTED[FULL]]['files'].values()
                        if '\\' in os.path.basename(info['legacy'])]
    assert len(legacy_backslash) == 20 + 1 + 1 + 2, 'the seed has pre-key\\1-20, one session\\, one ' \
        'sender-key-memory\\ and the two store files beside the folder'
    for key_id in range(1, 21):
        assert session['pre-key/%d.json' % key_id]['size'] == 164
    assert len([rel for rel in session if rel.startswith('pre-key/')]) == 320
    assert session['sender-key-memory']['type'] == 'dir'
    assert session['store.db']['type'] == 'file' and session['store-log.db']['type'] == 'file'
    assert session['store.db']['size'] == 32768 and session['store-log.db']['size'] == 8192


def test_realistic_content(tree):
    session = below(tree, ROOT + '/' + FULL)
    creds = session[FULL + '_creds.json']
    assert 2500 <= creds['size'] <= 3400
    assert len([rel for rel in session if rel.startswith('session/')]) >= 20
    assert 'session/27665245067.0.json' in session
    assert [rel for rel in session if rel.startswith('sender-key/') and '@g.us__' in rel]
    assert [rel for rel in session if rel.startswith('app-state-sync-key/')]
    assert [rel for rel in session if rel.startswith('app-state-sync-version/')]


def test_creds_keep_their_bom(host):
    assert host.file('%s/%s/%s_creds.json' % (ROOT, FULL, FULL)).content[:3] == b'\xef\xbb\xbf'


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_owner_group_and_modes(tree, name):
    for rel, info in below(tree, ROOT).items():
        if rel.split('/')[0] != name:
            continue
        assert (info['user'], info['group']) == ('www-data', 'www-data'), rel
        assert info['mode'] == (0o2750 if info['type'] == 'dir' else 0o640), '%s %o' % (rel, info['mode'])


def test_nothing_inside_the_root_is_world_accessible(tree):
    assert (tree[ROOT]['user'], tree[ROOT]['group'], tree[ROOT]['mode']) == ('www-data', 'www-data', 0o2755)
    exposed = ['%s %o' % (rel, info['mode']) for rel, info in below(tree, ROOT).items() if info['mode'] & 0o007]
    assert not exposed


def test_legacy_copies_untouched(tree, manifest):
    for source, copy in manifest.items():
        if source == EXPECTED[MOVED]:
            continue
        for rel, want in copy['files'].items():
            got = tree.get(want['legacy'])
            assert got is not None, want['legacy']
            assert (got['size'], got['sha256'], got['mtime_ns']) == (want['size'], want['sha256'], want['mtime_ns'])
            assert (got['user'], got['group'], got['mode']) == ('root', 'root', 0o644), rel
        for rel, mtime_ns in copy['dirs'].items():
            path = os.path.join(source, rel) if rel else source
            assert tree[path]['mtime_ns'] == mtime_ns, path


def test_invalid_tenant_not_migrated(tree, manifest):
    source = LEGACY_ROOTS[3] + '/' + INVALID
    assert manifest[source]['files'][INVALID + '_creds.json']['size'] == 0
    assert not [path for path in tree if path.startswith(ROOT + '/' + INVALID)]


def test_duplicate_came_from_the_first_root(tree, manifest):
    creds = DUP + '_creds.json'
    first = manifest[LEGACY_ROOTS[1] + '/' + DUP]['files'][creds]
    later = manifest[LEGACY_ROOTS[2] + '/' + DUP]['files'][creds]
    assert later['mtime_ns'] > first['mtime_ns'] and later['sha256'] != first['sha256'], 'seed: later copy is newer'
    assert tree['%s/%s/%s' % (ROOT, DUP, creds)]['sha256'] == first['sha256']


def test_moved_tenant_left_nothing_behind(tree, manifest):
    legacy = EXPECTED[MOVED]
    assert manifest[legacy]['files']['store.db']['legacy'] == legacy + '\\store.db'
    assert not [path for path in tree if path == legacy or path.startswith(legacy + '/')
                or path.startswith(legacy + '\\')], 'legacy copy (or its store.db beside it) not removed'
    # The move only took its own session: the other tenant of the release and the older release are there.
    assert tree[RELEASE + '/' + BLOCKED]['type'] == 'dir'
    assert tree[APP + '/releases/20231120090000/appsettings.json']['type'] == 'file'


def test_no_staging_leftovers_and_roots_bookkeeping_outside_the_sessions_root(host, tree):
    assert not [path for path in tree if os.path.basename(path).startswith(('.staging', '.replaced'))]
    assert not [path for path in tree if os.path.basename(path) == '.backup']
    state = host.file(STATE_DIR)
    assert state.is_directory and state.user == 'root' and state.mode == 0o700
    lock = host.file(LOCK)
    assert lock.is_file and lock.size == 0 and not lock.mode & 0o077
    assert host.run('flock --nonblock --exclusive %s true', LOCK).rc == 0, 'the lock is still held'


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_service_user_reads_the_creds(host, manifest, name):
    path = '%s/%s/%s_creds.json' % (ROOT, name, name)
    out = host.check_output('runuser -u www-data -- sha256sum %s', path)
    assert out.split()[0] == manifest[EXPECTED[name]]['files'][name + '_creds.json']['sha256']


def test_other_users_cannot_read_the_creds(host):
    result = host.run('runuser -u nobody -- cat %s', '%s/%s/%s_creds.json' % (ROOT, FULL, FULL))
    assert result.rc != 0 and 'Permission denied' in result.stderr

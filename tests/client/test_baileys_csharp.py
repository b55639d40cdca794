# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""BaileysCSharp sessions, judged by a C# reader that looks up creds and keys the way the gateway does
(File.ReadAllText, FileKeyStore's Path.Combine), run as the gateway's user with mono."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess

from conftest import GATEWAY_USER, files_below, sessions_root

BOM = b'\xef\xbb\xbf'
CREDS = json.dumps({'noiseKey': {'private': 'cHJpdg==', 'public': 'cHVi'}, 'registrationId': 4711,
                    'me': {'id': '27665245067:12@s.whatsapp.net'}, 'advSecretKey': 'x' * 2500}).encode()
# (FolderPrefix, id) of keys the gateway looks up, and the literal file name older builds wrote for each
KEYS = [('pre-key', '7', 'pre-key\\7.json'),
        ('session', '27665245067.0', 'session\\27665245067.0.json'),
        ('sender-key', '120363000000000001@g.us::27665245067::0',
         'sender-key\\120363000000000001@g.us__27665245067__0.json'),
        ('app-state-sync-key', 'AAAAAMh0/yk=', 'app-state-sync-key\\AAAAAMh0__yk=.json')]
LOOKUPS = [(prefix, key_id) for prefix, key_id, _name in KEYS]


def write(path, data):
    with open(path, 'wb') as handle:
        handle.write(data)


def old_build_session(root, name, creds=CREDS):
    """A session as builds with the literal-backslash key paths left it: key files in the session folder named
    ``pre-key\\7.json``, and the LiteDB store ``<root>/<name>\\store.db`` beside the folder."""
    path = os.path.join(root, name)
    os.makedirs(path)
    write(os.path.join(path, '%s_creds.json' % name), creds)
    for _prefix, _key_id, filename in KEYS:
        write(os.path.join(path, filename), b'{"public": "a2V5", "private": "c2VjcmV0"}')
    write(os.path.join(root, name + '\\store.db'), b'LiteDB store')
    return path


def chown_tree(path, user=GATEWAY_USER):
    subprocess.check_call(['chown', '-R', '%s:%s' % (user, user), path])


def test_a_legacy_session_with_a_bom_and_backslash_names_is_read_by_the_gateway_after_migration(
        csharp_reader, scratch, modules):
    legacy = os.path.join(scratch, 'netcoreapp')
    os.mkdir(legacy)
    old_build_session(legacy, 'tenant-1', creds=BOM + CREDS)
    dest = sessions_root(os.path.join(scratch, 'sessions'))
    result = modules.run('session_migrate', {'dest': dest, 'legacy_roots': [legacy], 'owner': GATEWAY_USER,
                                             'group': GATEWAY_USER})
    assert not result.get('failed'), result['_output']
    assert [m['name'] for m in result['migrated']] == ['tenant-1'] and result['invalid'] == []
    session = os.path.join(dest, 'tenant-1')
    assert not [name for name in files_below(session) if '\\' in name]
    with open(os.path.join(session, 'tenant-1_creds.json'), 'rb') as handle:
        assert handle.read() == BOM + CREDS   # copied as it is: the gateway reads it
    seen = csharp_reader.read(dest, 'tenant-1', LOOKUPS)
    assert seen['creds_found'] and seen['creds_valid'], seen
    assert seen['keys'] == dict(('%s/%s' % key, True) for key in LOOKUPS)
    assert seen['store_db'] is True
    info = modules.run('session_info', {'path': dest, 'legacy_roots': [legacy]})
    assert info['sessions'][0]['creds_valid'] is True and info['sessions'][0]['problems'] == []


def test_backslash_names_in_the_sessions_root_are_reported_and_the_gateway_cannot_read_them(
        csharp_reader, scratch, modules):
    dest = sessions_root(os.path.join(scratch, 'sessions'))
    old_build_session(dest, 'tenant-1')
    chown_tree(dest)
    seen = csharp_reader.read(dest, 'tenant-1', LOOKUPS)
    # the creds are found (no QR code), every key is lost: messages fail to decrypt
    assert seen['creds_valid'] is True and seen['store_db'] is False
    assert seen['keys'] == dict(('%s/%s' % key, False) for key in LOOKUPS)
    info = modules.run('session_info', {'path': dest})
    problems = info['sessions'][0]['problems']
    assert [p for p in problems if p.startswith('4 file name(s) with a backslash') and 'normalize_names' in p]
    assert [p for p in problems if p.startswith('1 file(s) beside the session folder') and 'tenant-1\\store.db' in p]


def test_session_migrate_repairs_backslash_names_in_the_sessions_root(csharp_reader, scratch, modules):
    dest = sessions_root(os.path.join(scratch, 'sessions'))
    old_build_session(dest, 'tenant-1')
    chown_tree(dest)
    nothing_left = os.path.join(scratch, 'netcoreapp')   # the legacy root, empty: all sessions are in dest
    os.mkdir(nothing_left)
    args = {'dest': dest, 'legacy_roots': [nothing_left], 'normalize_names': True, 'owner': GATEWAY_USER,
            'group': GATEWAY_USER}
    before = files_below(scratch)
    checked = modules.run('session_migrate', args, '--check', '--diff')
    assert not checked.get('failed'), checked['_output']
    assert checked['changed'] is True and files_below(scratch) == before   # --check tells, changes nothing
    result = modules.run('session_migrate', args)
    assert not result.get('failed'), result['_output']
    assert result['changed'] is True and [item['name'] for item in result['repaired']] == ['tenant-1']
    assert {'from': 'pre-key\\7.json', 'to': 'pre-key/7.json'} in result['repaired'][0]['renamed']
    assert result['repaired'][0]['renamed'] == checked['repaired'][0]['renamed']
    assert files_below(scratch) != before
    assert not [name for name in files_below(dest) if '\\' in name]
    seen = csharp_reader.read(dest, 'tenant-1', LOOKUPS)
    assert seen['creds_valid'] is True and seen['store_db'] is True
    assert seen['keys'] == dict(('%s/%s' % key, True) for key in LOOKUPS)
    info = modules.run('session_info', {'path': dest})
    assert info['sessions'][0]['problems'] == []
    assert modules.run('session_migrate', args)['changed'] is False

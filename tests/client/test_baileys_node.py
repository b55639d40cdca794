# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node.js Baileys (the npm package @whiskeysockets/baileys, libsignal 6.0.0) makes a session, session_migrate
moves it into the sessions root, and the library loads it back as the gateway's user and carries on talking."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil

from conftest import GATEWAY_USER, files_below, sessions_root

BOM = b'\xef\xbb\xbf'


def make_node_session(client, scratch, legacy, name='tenant-1'):
    """A tenant session made by the library in ``legacy/name``; the contact's own store stays in scratch."""
    contact = os.path.join(scratch, 'contact-' + name)
    state = os.path.join(scratch, 'state-%s.json' % name)
    client.run('create', os.path.join(legacy, name), contact, state)
    os.chmod(state, 0o644)  # the messages in flight, read by the gateway's user after the migration
    return contact, state


def migrate_args(dest, legacy_roots, **extra):
    return dict({'dest': dest, 'legacy_roots': legacy_roots, 'layout': 'baileys_multi_file',
                 'owner': GATEWAY_USER, 'group': GATEWAY_USER}, **extra)


def carry_on(client, session, state, contact):
    """Load ``session`` with the library as the gateway's user, read what was sent before, answer."""
    expected = client.run('creds', session)   # as root, only to have the creds' identity at hand
    out = client.run('continue', session, state, user=GATEWAY_USER)
    assert out['fresh'] is False, 'the library started with fresh creds (a QR code): %s' % out
    assert out['registrationId'] == expected['registrationId']
    assert out['appStateKey'] is True and out['colonSession'] is True and out['preKeys'] == 4
    assert out['decrypted'] == 'sent before, read after'
    assert out['groupDecrypted'] == 'group 2, read after'
    reply = '{"type": "%s", "ciphertext": "%s"}' % (out['reply']['type'], out['reply']['ciphertext'])
    heard = client.run('receive', contact, state, reply)
    assert heard['decrypted'] == 'reply after the move'
    return out


def test_a_migrated_node_session_carries_on_as_the_gateway_user(node_client, scratch, modules):
    legacy = os.path.join(scratch, 'legacy')
    contact, state = make_node_session(node_client, scratch, legacy)
    names = files_below(os.path.join(legacy, 'tenant-1'))
    # the ids the library had to encode in file names: '/' -> '__', ':' -> '-'
    assert 'app-state-sync-key-AAAAAMh0__yk=.json' in names
    assert 'session-4915100000009-12.0.json' in names
    assert 'sender-key-120363000000000001@g.us--4915100000002--0.json' in names
    assert 'pre-key-1.json' not in names and 'pre-key-5.json' in names   # pre-key 1 was used by the contact

    dest = sessions_root(os.path.join(scratch, 'sessions'))
    result = modules.run('session_migrate', migrate_args(dest, [legacy]))
    assert not result.get('failed'), result['_output']
    assert result['changed'] is True and [m['name'] for m in result['migrated']] == ['tenant-1']
    session = os.path.join(dest, 'tenant-1')
    assert files_below(session) == names
    st = os.stat(session)
    assert (st.st_uid, st.st_gid) != (0, 0) and st.st_mode & 0o7777 == 0o2750

    out = carry_on(node_client, session, state, contact)
    assert out['me'] == '4915100000001:3@s.whatsapp.net'
    # the library wrote as the gateway's user into the migrated session (its Signal session moved on)
    assert os.stat(os.path.join(session, 'session-4915100000002.0.json')).st_uid == st.st_uid
    again = modules.run('session_migrate', migrate_args(dest, [legacy]))
    assert again['changed'] is False and again['present'] == ['tenant-1']


def test_a_bom_creds_copy_never_wins_under_baileys_multi_file(node_client, scratch, modules):
    r1, r2 = os.path.join(scratch, 'r1'), os.path.join(scratch, 'r2')
    contact, state = make_node_session(node_client, scratch, r1)
    good = os.path.join(r1, 'tenant-1')
    bom = os.path.join(r2, 'tenant-1')
    shutil.copytree(good, bom)
    with open(os.path.join(good, 'creds.json'), 'rb') as handle:
        creds = handle.read()
    with open(os.path.join(bom, 'creds.json'), 'wb') as handle:
        handle.write(BOM + creds)
    os.utime(os.path.join(good, 'creds.json'), (1700000000, 1700000000))   # the BOM copy is the newer one
    # What the library does with a BOM: it silently starts with fresh creds (a QR code for the tenant).
    assert node_client.run('creds', bom)['fresh'] is True
    assert node_client.run('creds', good)['fresh'] is False

    dest = sessions_root(os.path.join(scratch, 'sessions'))
    info = modules.run('session_info', {'path': dest, 'legacy_roots': [r1, r2], 'layout': 'baileys_multi_file',
                                        'check_ownership': False})
    copies = dict((s['path'], s) for s in info['legacy_sessions'])
    assert copies[good]['creds_valid'] is True
    assert copies[bom]['creds_valid'] is False
    assert 'UTF-8 byte order mark' in copies[bom]['creds_problem']

    result = modules.run('session_migrate', migrate_args(dest, [r1, r2], prefer='newest'))
    assert not result.get('failed'), result['_output']
    assert [m['source'] for m in result['migrated']] == [good]
    assert [i['path'] for i in result['invalid']] == [bom]
    carry_on(node_client, os.path.join(dest, 'tenant-1'), state, contact)


def test_node_sessions_under_the_default_layout_are_a_problem_naming_the_layout(node_client, scratch, modules):
    legacy = os.path.join(scratch, 'legacy')
    make_node_session(node_client, scratch, legacy)
    dest = sessions_root(os.path.join(scratch, 'sessions'))
    info = modules.run('session_info', {'path': dest, 'legacy_roots': [legacy], 'check_ownership': False})
    assert not info.get('failed'), info['_output']
    assert [p for p in info['problems'] if 'set layout: baileys_multi_file' in p and legacy in p]


def test_session_migrate_refuses_node_sessions_under_the_default_layout(node_client, scratch, modules):
    legacy = os.path.join(scratch, 'legacy')
    contact, state = make_node_session(node_client, scratch, legacy)
    dest = sessions_root(os.path.join(scratch, 'sessions'))
    args = {'dest': dest, 'legacy_roots': [legacy], 'owner': GATEWAY_USER, 'group': GATEWAY_USER}
    result = modules.run('session_migrate', args)
    assert result.get('failed') is True, result['_output']
    assert 'set layout: baileys_multi_file' in result['msg']
    assert [n for n in os.listdir(dest) if not n.startswith('.')] == []
    # and what the message says works: the library carries on
    result = modules.run('session_migrate', dict(args, layout='baileys_multi_file'))
    assert [m['name'] for m in result['migrated']] == ['tenant-1']
    carry_on(node_client, os.path.join(dest, 'tenant-1'), state, contact)

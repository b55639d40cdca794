# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed BaileysCSharp-shaped WhatsApp sessions into legacy locations, as an old gateway build left them.

    seed_sessions.py APP_DIR TENANT:LOCATION[:OPTIONS] ...

LOCATION is one of assembly (APP_DIR/netcoreapp/bin/Release/net8.0), netcoreapp (APP_DIR/netcoreapp),
base (APP_DIR/netcoreapp/publish) and workdir (APP_DIR). OPTIONS, comma-separated: old (an older build's
backslash-named key files and a LiteDB store beside the folder), empty (an empty, invalid creds file),
keys=N (number of pre-keys, default 40). Content is deterministic; a creds file starts with a UTF-8 BOM.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

LOCATIONS = {
    'assembly': 'netcoreapp/bin/Release/net8.0',
    'netcoreapp': 'netcoreapp',
    'base': 'netcoreapp/publish',
    'workdir': '',
}


def write(path, data):
    """Write ``data`` (bytes) to ``path``, creating its directory."""
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent)
    with open(path, 'wb') as handle:
        handle.write(data)


def creds(tenant):
    """A creds document of about 3 KB, with a byte order mark, as the library writes it."""
    doc = {'noiseKey': {'private': 'A' * 44, 'public': 'B' * 44}, 'registrationId': 1234,
           'me': {'id': '27665245067:12@s.whatsapp.net', 'name': tenant},
           'advSecretKey': 'C' * 44, 'account': {'details': 'D' * 1800}, 'platform': 'smba'}
    return b'\xef\xbb\xbf' + json.dumps(doc, indent=2).encode('utf-8')


def seed(app_dir, tenant, location, options):
    """Write one session of ``tenant`` into ``location`` under ``app_dir``."""
    root = os.path.join(app_dir, LOCATIONS[location])
    session = os.path.join(root, tenant)
    keys = int(options.get('keys', 40))
    write(os.path.join(session, tenant + '_creds.json'), b'' if 'empty' in options else creds(tenant))
    for i in range(1, keys + 1):
        pre_key = json.dumps({'keyId': i, 'public': 'P' * 60, 'private': 'Q' * 60}).encode('utf-8')
        name = ('pre-key\\%d.json' % i) if 'old' in options and i % 2 else 'pre-key/%d.json' % i
        write(os.path.join(session, name), pre_key)
    write(os.path.join(session, 'session', '27665245067.0.json'), json.dumps({'record': 'R' * 1300}).encode('utf-8'))
    write(os.path.join(session, 'sender-key', '120363025246125888@g.us__27665245067.0.json'), b'{"senderKey":"S"}')
    write(os.path.join(session, 'app-state-sync-key', 'AAAAAK9x.json'), b'{"keyData":"K"}')
    write(os.path.join(session, 'app-state-sync-version', 'regular_high.json'), b'{"version":7}')
    if 'old' in options:
        write(os.path.join(root, tenant + '\\store.db'), b'LiteDB' + b'\0' * 8186)
        write(os.path.join(root, tenant + '\\store-log.db'), b'')


def main(argv):
    """Seed every TENANT:LOCATION[:OPTIONS] argument."""
    if len(argv) < 2:
        sys.exit(__doc__)
    for spec in argv[1:]:
        parts = spec.split(':')
        options = {}
        for opt in (parts[2].split(',') if len(parts) > 2 else []):
            key, dummy, value = opt.partition('=')
            options[key] = value or True
        seed(argv[0], parts[0], parts[1], options)


if __name__ == '__main__':
    main(sys.argv[1:])

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate a legacy root of BaileysCSharp-shaped sessions for the benchmark.

Each session is ``<root>/<name>/<name>_creds.json`` (about 3 KB, UTF-8 BOM, a JSON object) plus
``files - 1`` small JSON files spread over the key-store folders with realistic sizes (pre-key 164 B,
session record about 1.35 KB, ...). Content is deterministic: the same arguments give the same bytes.

    python benchmarks/gen_tree.py ROOT --sessions 200 --files 150
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import base64
import hashlib
import json
import os

UTF8_BOM = b'\xef\xbb\xbf'

# (folder, share of the key-store files, approximate size in bytes, file name pattern)
KEY_FOLDERS = (
    ('pre-key', 0.55, 164, '{i}.json'),
    ('session', 0.18, 1350, '{i}_1.0.json'),
    ('sender-key', 0.10, 620, '{i}--49{i:010d}_1--0.json'),
    ('sender-key-memory', 0.07, 70, '{i}@g.us.json'),
    ('app-state-sync-key', 0.07, 210, 'AAAAA{i:06d}.json'),
    ('app-state-sync-version', 0.03, 2100, 'regular_{i}.json'),
)


def session_name(index):
    return 'tenant-%05d' % index


def _blob(seed, size):
    """``size`` deterministic base64 characters derived from ``seed``."""
    out = []
    need = size * 3 // 4 + 3
    counter = 0
    while need > 0:
        chunk = hashlib.sha256(('%s:%d' % (seed, counter)).encode('ascii')).digest()
        out.append(chunk)
        need -= len(chunk)
        counter += 1
    return base64.b64encode(b''.join(out)).decode('ascii')[:size]


def _json_of_size(seed, size):
    """A JSON object of roughly ``size`` bytes."""
    head = json.dumps({'id': seed, 'data': ''}, separators=(',', ':'))
    return json.dumps({'id': seed, 'data': _blob(seed, max(8, size - len(head)))},
                      separators=(',', ':')).encode('ascii')


def creds_bytes(name):
    body = {
        'NoiseKey': {'Private': _blob(name + 'nk1', 44), 'Public': _blob(name + 'nk2', 44)},
        'SignedIdentityKey': {'Private': _blob(name + 'ik1', 44), 'Public': _blob(name + 'ik2', 44)},
        'SignedPreKey': {'KeyPair': {'Private': _blob(name + 'sp1', 44), 'Public': _blob(name + 'sp2', 44)},
                         'Signature': _blob(name + 'sig', 88), 'KeyId': 1},
        'RegistrationId': int(hashlib.sha256(name.encode('ascii')).hexdigest()[:6], 16) % 16380,
        'AdvSecretKey': _blob(name + 'adv', 44),
        'Me': {'ID': '49%010d:12@s.whatsapp.net' % (hash_int(name) % 10 ** 10), 'Name': name},
        'Account': {'Details': _blob(name + 'acd', 600), 'AccountSignature': _blob(name + 'acs', 88),
                    'DeviceSignature': _blob(name + 'dvs', 88)},
        'SignalIdentities': [{'Identifier': {'Name': name, 'DeviceID': 0}, 'IdentifierKey': _blob(name + 'sik', 44)}],
        'MyAppStateKeyId': _blob(name + 'ask', 12),
        'FirstUnuploadedPreKeyId': 31, 'NextPreKeyId': 31,
        'Platform': 'smba', 'Registered': True, 'PairingCode': None,
        'Padding': _blob(name + 'pad', 1200),
    }
    return UTF8_BOM + json.dumps(body, indent=2).encode('utf-8')


def hash_int(text):
    return int(hashlib.sha256(text.encode('ascii')).hexdigest()[:12], 16)


def plan_files(files):
    """``[(folder, count, size, pattern)]`` for ``files - 1`` key-store files (the creds file is the rest)."""
    rest = max(0, files - 1)
    counts = [int(rest * share) for _folder, share, _size, _pattern in KEY_FOLDERS]
    counts[0] += rest - sum(counts)
    return [(folder, count, size, pattern)
            for (folder, _share, size, pattern), count in zip(KEY_FOLDERS, counts)]


def write_session(root, name, files):
    """Write one session directory; returns ``(files, bytes)`` written."""
    top = os.path.join(root, name)
    os.mkdir(top)
    data = creds_bytes(name)
    with open(os.path.join(top, '%s_creds.json' % name), 'wb') as handle:
        handle.write(data)
    nfiles, nbytes = 1, len(data)
    for folder, count, size, pattern in plan_files(files):
        if not count:
            continue
        path = os.path.join(top, folder)
        os.mkdir(path)
        for i in range(1, count + 1):
            content = _json_of_size('%s/%s/%d' % (name, folder, i), size)
            with open(os.path.join(path, pattern.format(i=i)), 'wb') as handle:
                handle.write(content)
            nfiles += 1
            nbytes += len(content)
    return nfiles, nbytes


def generate(root, sessions, files):
    """Create ``root`` (must not exist) with ``sessions`` sessions of ``files`` files each."""
    os.makedirs(root)
    total_files = total_bytes = 0
    for index in range(sessions):
        nfiles, nbytes = write_session(root, session_name(index), files)
        total_files += nfiles
        total_bytes += nbytes
    return {'sessions': sessions, 'files_per_session': files, 'files': total_files, 'bytes': total_bytes}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('root', help='legacy root to create (must not exist)')
    parser.add_argument('--sessions', type=int, default=200)
    parser.add_argument('--files', type=int, default=150, help='files per session, creds file included')
    args = parser.parse_args()
    print(json.dumps(generate(args.root, args.sessions, args.files)))


if __name__ == '__main__':
    main()

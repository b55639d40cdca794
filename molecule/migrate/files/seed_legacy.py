# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed legacy BaileysCSharp sessions the way old deploys left them, and write a manifest for verify.

Run on the test container by prepare.yml: ``python3 seed_legacy.py '<config as JSON>'``. The config lists
directories to create (``dirs``), plain files (``files``: path, content), the session copies to create
(``copies``: name, legacy root, kind, seed) and where to write the manifest (``manifest``).
Everything is deterministic (seeded PRNG, fixed mtimes), owned by root and world-readable (0644 files,
0755 directories), as a careless ``cp -r`` by root leaves it.

Kinds: ``full`` (a busy tenant: ~3 KB creds with a BOM, 300 pre-keys, session records, sender keys,
app-state files, backslash-named files of an older build and ``<name>\\store.db`` / ``<name>\\store-log.db``
beside the session directory), ``small`` (creds plus a few key files, one backslash-named pre-key and a
store.db beside it), ``empty_creds`` (a session whose creds file is empty: not a session).

The manifest maps each legacy session directory to the files it should become in the sessions root, keyed
by the path relative to ``<dest>/<name>`` after the backslash names are normalised, with the legacy path,
size, SHA-256 and mtime of each, plus the mtimes of the directories that exist in the legacy copy.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import hashlib
import json
import os
import random
import sys

BOM = b'\xef\xbb\xbf'
# 2023-11-14T22:13:20Z: old enough that a copy that does not keep mtimes shows.
EPOCH_NS = 1700000000 * 10 ** 9
PHONE = '27665245067'
GROUPS = ('120363025246125486@g.us', '120363041887254012@g.us', '27829911234-1614592001@g.us')
APP_STATE_COLLECTIONS = ('critical_block', 'critical_unblock_low', 'regular', 'regular_high', 'regular_low')


class Seeder(object):
    """Writes one legacy session copy and records it."""

    def __init__(self, name, root, seed):
        self.name = name
        self.root = root
        self.session_dir = os.path.join(root, name)
        self.rng = random.Random('%s|%s|%d' % (name, root, seed))
        self.clock = EPOCH_NS + seed * 86400 * 10 ** 9
        self.files = {}
        self.dirs = {}

    def b64(self, nbytes):
        return base64.b64encode(bytes(self.rng.getrandbits(8) for _i in range(nbytes))).decode('ascii')

    def key_pair(self):
        return {'private': self.b64(32), 'public': self.b64(32)}

    def tick(self):
        self.clock += self.rng.randint(1, 3600) * 10 ** 9 + self.rng.randint(0, 10 ** 9 - 1)
        return self.clock

    def write(self, legacy_path, rel, data):
        """Write ``data`` at ``legacy_path`` (0644, root) and record it as ``<dest>/<name>/<rel>``."""
        parent = os.path.dirname(legacy_path)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        with open(legacy_path, 'wb') as handle:
            handle.write(data)
        os.chmod(legacy_path, 0o644)
        mtime = self.tick()
        os.utime(legacy_path, ns=(mtime, mtime))
        self.files[rel] = {'legacy': legacy_path, 'size': len(data), 'sha256': hashlib.sha256(data).hexdigest()}

    def put(self, rel, data):
        """A file inside the session directory at its own (already normalised) relative path."""
        self.write(os.path.join(self.session_dir, rel), rel, data)

    def put_backslash(self, folder, filename, data):
        """A file an older build wrote as ONE name ``<folder>\\<filename>`` directly in the session folder."""
        self.write(os.path.join(self.session_dir, folder + '\\' + filename), folder + '/' + filename, data)

    def put_sidecar(self, filename, data):
        """A LiteDB file ``<name>\\<filename>`` BESIDE the session directory, in the legacy root."""
        self.write(os.path.join(self.root, self.name + '\\' + filename), filename, data)

    # --- content -------------------------------------------------------------------------------------------

    def creds(self):
        target = self.rng.randint(2600, 3300)
        key_pair = self.key_pair
        device = self.rng.randint(1, 40)
        creds = {
            'noiseKey': key_pair(),
            'pairingEphemeralKeyPair': key_pair(),
            'signedIdentityKey': key_pair(),
            'signedPreKey': {'keyPair': key_pair(), 'signature': self.b64(64), 'keyId': 1},
            'registrationId': self.rng.randint(1, 16380),
            'advSecretKey': self.b64(32),
            'processedHistoryMessages': [],
            'nextPreKeyId': 331,
            'firstUnuploadedPreKeyId': 331,
            'accountSyncCounter': 1,
            'accountSettings': {'unarchiveChats': False},
            'deviceId': self.b64(16),
            'phoneId': '%08x-%04x-4%03x-a%03x-%012x' % (self.rng.getrandbits(32), self.rng.getrandbits(16),
                                                        self.rng.getrandbits(12), self.rng.getrandbits(12),
                                                        self.rng.getrandbits(48)),
            'identityId': self.b64(20),
            'registered': True,
            'backupToken': self.b64(20),
            'registration': {},
            'pairingCode': None,
            'me': {'id': '%s:%d@s.whatsapp.net' % (PHONE, device), 'name': 'RubyManager %s' % self.name[:8]},
            'account': {'details': self.b64(40), 'accountSignatureKey': self.b64(32),
                        'accountSignature': self.b64(64), 'deviceSignature': self.b64(64)},
            'signalIdentities': [{'identifier': {'name': '%s:%d@s.whatsapp.net' % (PHONE, device), 'deviceId': 0},
                                  'identifierKey': self.b64(33)}],
            'platform': 'smba',
            'lastAccountSyncTimestamp': 1699990000 + self.rng.randint(0, 9999),
            'myAppStateKeyId': 'AAAAA' + self.b64(3),
        }
        while True:
            text = json.dumps(creds, indent=2).encode('utf-8')
            if len(BOM) + len(text) >= target:
                return BOM + text
            creds['processedHistoryMessages'].append({
                'key': {'remoteJid': '%s@s.whatsapp.net' % PHONE, 'fromMe': True, 'id': self.b64(12)},
                'messageTimestamp': 1699990000 + self.rng.randint(0, 99999)})

    def pre_key(self):
        """A pre-key file of exactly 164 bytes."""
        text = '{"public":"%s","private":"%s"}' % (self.b64(33), self.b64(32))
        return (text[:-1] + ' ' * (164 - len(text)) + '}').encode('ascii')

    def session_record(self):
        target = self.rng.randint(1300, 1400)
        record = {'_sessions': {self.b64(33): {
            'registrationId': self.rng.randint(1, 16380),
            'currentRatchet': {'ephemeralKeyPair': {'pubKey': self.b64(33), 'privKey': self.b64(32)},
                               'lastRemoteEphemeralKey': self.b64(33), 'previousCounter': 0,
                               'rootKey': self.b64(32)},
            'indexInfo': {'baseKey': self.b64(33), 'baseKeyType': 2, 'closed': -1, 'used': 1699990000000,
                          'created': 1699990000000, 'remoteIdentityKey': self.b64(33)},
            '_chains': {}}}, 'version': 'v1'}
        chains = record['_sessions'][list(record['_sessions'])[0]]['_chains']
        text = json.dumps(record).encode('ascii')
        while len(text) < target - 120:
            chains[self.b64(33)] = {'chainKey': {'counter': self.rng.randint(0, 9), 'key': self.b64(32)},
                                    'chainType': 1, 'messageKeys': {}}
            text = json.dumps(record).encode('ascii')
        return text

    def sender_key(self):
        return json.dumps([{'senderKeyId': self.rng.randint(1, 2 ** 31), 'senderChainKey': {
            'iteration': self.rng.randint(0, 500), 'seed': self.b64(32)},
            'senderSigningKey': {'public': self.b64(33)}, 'senderMessageKeys': []}]).encode('ascii')

    def app_state_key(self):
        return json.dumps({'keyData': self.b64(32), 'fingerprint': {
            'rawId': self.rng.randint(1, 2 ** 31), 'currentIndex': 1, 'deviceIndexes': [0, 1]},
            'timestamp': str(1699990000000 + self.rng.randint(0, 99999))}).encode('ascii')

    def app_state_version(self):
        return json.dumps({'version': self.rng.randint(1, 900), 'hash': self.b64(128), 'indexValueMap': {
            self.b64(32): {'valueMac': self.b64(32)} for _i in range(self.rng.randint(1, 6))}}).encode('ascii')

    def litedb(self, size):
        header = b'\x00** This is a LiteDB file **\x00\x05'
        return header + bytes(self.rng.getrandbits(8) for _i in range(size - len(header)))

    # --- kinds ---------------------------------------------------------------------------------------------

    def seed_full(self):
        self.put('%s_creds.json' % self.name, self.creds())
        # An older build wrote pre-keys 1-20 as 'pre-key\<id>.json'; the current one writes folders.
        for key_id in range(1, 21):
            self.put_backslash('pre-key', '%d.json' % key_id, self.pre_key())
        for key_id in range(21, 321):
            self.put('pre-key/%d.json' % key_id, self.pre_key())
        jids = ['%s.0' % PHONE] + ['%s.%d' % (PHONE, dev) for dev in (12, 17)] + [
            '278%08d.0' % self.rng.randint(0, 10 ** 8 - 1) for _i in range(21)]
        for jid in jids:
            self.put('session/%s.json' % jid, self.session_record())
        self.put_backslash('session', '2782%07d.0.json' % self.rng.randint(0, 10 ** 7 - 1), self.session_record())
        for group in GROUPS:
            for member in ('%s.0' % PHONE, '27829911234.0', '27731234567.3'):
                self.put('sender-key/%s__%s.json' % (group, member), self.sender_key())
        # A key-store folder that only exists as backslash names: the migration creates it.
        self.put_backslash('sender-key-memory', '%s.json' % GROUPS[0], b'{"27829911234:0@s.whatsapp.net":true}')
        for _i in range(6):
            key_id = base64.urlsafe_b64encode(bytes([0, 0, 0, 0] + [self.rng.getrandbits(8) for _j in range(2)]))
            self.put('app-state-sync-key/%s.json' % key_id.decode('ascii'), self.app_state_key())
        for collection in APP_STATE_COLLECTIONS:
            self.put('app-state-sync-version/%s.json' % collection, self.app_state_version())
        self.put_sidecar('store.db', self.litedb(32768))
        self.put_sidecar('store-log.db', self.litedb(8192))

    def seed_small(self):
        self.put('%s_creds.json' % self.name, self.creds())
        self.put_backslash('pre-key', '1.json', self.pre_key())
        for key_id in range(2, 31):
            self.put('pre-key/%d.json' % key_id, self.pre_key())
        for jid in ('%s.0' % PHONE, '278%08d.0' % self.rng.randint(0, 10 ** 8 - 1)):
            self.put('session/%s.json' % jid, self.session_record())
        self.put('sender-key/%s__%s.0.json' % (GROUPS[1], PHONE), self.sender_key())
        self.put('app-state-sync-version/regular_high.json', self.app_state_version())
        self.put_sidecar('store.db', self.litedb(8192))

    def seed_empty_creds(self):
        self.put('%s_creds.json' % self.name, b'')
        for key_id in range(1, 6):
            self.put('pre-key/%d.json' % key_id, self.pre_key())

    def finish(self):
        """Give every directory of the copy a fixed mtime (deepest first) and record it."""
        tops = []
        for dirpath, _dirnames, _filenames in os.walk(self.session_dir):
            tops.append(dirpath)
        for dirpath in sorted(tops, key=lambda path: -path.count('/')):
            os.chmod(dirpath, 0o755)
            mtime = self.tick()
            os.utime(dirpath, ns=(mtime, mtime))
            rel = os.path.relpath(dirpath, self.session_dir)
            self.dirs['' if rel == '.' else rel] = os.lstat(dirpath).st_mtime_ns
        for info in self.files.values():
            info['mtime_ns'] = os.lstat(info['legacy']).st_mtime_ns
        return {'name': self.name, 'root': self.root, 'files': self.files, 'dirs': self.dirs}


def main():
    config = json.loads(sys.argv[1])
    os.umask(0o022)
    for path in config.get('dirs', []):
        if not os.path.isdir(path):
            os.makedirs(path, 0o755)
    for item in config.get('files', []):
        with open(item['path'], 'w') as handle:
            handle.write(item['content'])
    if not os.path.isdir(os.path.dirname(config['manifest'])):
        os.makedirs(os.path.dirname(config['manifest']), 0o700)
    manifest = {'copies': {}}
    for index, copy in enumerate(config['copies']):
        seeder = Seeder(copy['name'], copy['root'].rstrip('/'), copy.get('seed', index))
        getattr(seeder, 'seed_' + copy['kind'])()
        manifest['copies'][seeder.session_dir] = seeder.finish()
    tmp = config['manifest'] + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
    os.rename(tmp, config['manifest'])
    print('seeded %d legacy session copies, %d files' % (
        len(manifest['copies']), sum(len(copy['files']) for copy in manifest['copies'].values())))


if __name__ == '__main__':
    main()

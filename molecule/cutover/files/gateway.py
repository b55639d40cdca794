# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for the BaileysCSharp WhatsApp gateway (WhatsAppApi's WhatsAppServiceV2), run by systemd.

    gateway.py --build old|fixed [--ledger DIR] [--interval SECONDS]

At start it does what the real service does: it scans its sessions root recursively for ``*_creds.json``
(``Directory.GetFiles(root, "*_creds.json", SearchOption.AllDirectories)``) and restores every session found,
logging the real lines ("Successfully loaded existing credentials for session <t> from <path>", or "Failed to
deserialize credentials ..." and "Generating QR code ..."). It names the creds file it actually found (the real
service names <root>/<t>/<t>_creds.json), so a stray copy below the root shows up in the log.

- The old build keeps its sessions beside its program (the directory of this file), the way the gateway did
  before the fix; an older build's tenant there has backslash-named pre-key files and ``<t>\\store.db`` beside
  its folder, and it goes on writing them that way.
- The fixed build reads WHATSAPP_SESSIONS_ROOT (the fixed path when unset). It also serves QR scans: a file
  ``<ledger>/requests/<tenant>`` asks it to start a new tenant, which logs that it will create new credentials and
  a QR code, then saves the tenant's creds after the (simulated) scan.

While running, both write continuously, one write per tick over the restored tenants: a new pre-key file, a
rewritten Signal session file, an in-place page write to the LiteDB ``store.db`` (sometimes a new page), and now and
then the creds file. Every write is recorded after it is done in ``<ledger>/ledger.jsonl`` (outside the sessions),
with the file's SHA-256. The fixed build also records, before its first write, the SHA-256 of every file of every
session it restored ("loaded"). On SIGTERM it finishes the current write and its ledger line, then exits.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import hashlib
import json
import os
import random
import signal
import sys
import threading
import time

FIXED_ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'
PAGE = 4096
CREDS_SUFFIX = '_creds.json'


def log(message):
    """One log line on stdout (journald)."""
    sys.stdout.write(message + '\n')
    sys.stdout.flush()


def sha256(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class Ledger(object):
    """Append-only record of every write, outside the sessions."""

    def __init__(self, directory, build):
        self.path = os.path.join(directory, 'ledger.jsonl')
        self.build = build

    def record(self, **entry):
        entry.update(build=self.build, pid=os.getpid(), time=time.time())
        with open(self.path, 'a') as handle:
            handle.write(json.dumps(entry, sort_keys=True) + '\n')


class Session(object):
    """One restored tenant: where its files are and how this build names them."""

    def __init__(self, root, tenant, creds, build, rng):
        self.root, self.tenant, self.creds, self.rng = root, tenant, creds, rng
        self.dir = os.path.dirname(creds)
        names = os.listdir(self.dir)
        # an older build's tenant: pre-key\<id>.json files and <t>\store.db beside the folder
        self.backslash = build == 'old' and any('\\' in name for name in names)
        beside = os.path.join(os.path.dirname(self.dir), tenant + '\\store.db')
        self.store = beside if self.backslash and os.path.exists(beside) else os.path.join(self.dir, 'store.db')
        ids = [0]
        for name in names + (os.listdir(os.path.join(self.dir, 'pre-key'))
                             if os.path.isdir(os.path.join(self.dir, 'pre-key')) else []):
            stem = name.replace('pre-key\\', '')
            if stem.endswith('.json') and stem[:-5].isdigit():
                ids.append(int(stem[:-5]))
        self.next_key = max(ids) + 1
        self.writes = 0

    def files(self):
        """``{logical name: sha256}`` of every file of the session (the fixed layout's names)."""
        found = {}
        for dirpath, dirnames, filenames in os.walk(self.dir):
            for name in filenames:
                path = os.path.join(dirpath, name)
                found[os.path.relpath(path, self.dir)] = sha256(path)
        return found

    def physical(self, logical):
        if logical == 'store.db':
            return self.store
        if self.backslash and logical.startswith('pre-key/'):
            return os.path.join(self.dir, logical.replace('/', '\\'))
        return os.path.join(self.dir, logical)

    def write_one(self, ledger):
        """Do the next write and record it."""
        self.writes += 1
        kind = ('creds' if self.writes % 10 == 0 else
                ('pre-key', 'session', 'store-page')[self.writes % 3])
        if kind == 'pre-key':
            logical = 'pre-key/%d.json' % self.next_key
            data = json.dumps({'keyId': self.next_key, 'public': 'P' * 60,
                               'private': '%060x' % self.rng.getrandbits(240)}).encode('utf-8')
            self.next_key += 1
        elif kind == 'session':
            folder = os.path.join(self.dir, 'session')
            names = (sorted(os.listdir(folder)) if os.path.isdir(folder) else []) or ['27665245067.0.json']
            logical = 'session/' + names[self.writes % len(names)]
            data = json.dumps({'record': '%0400x' % self.rng.getrandbits(1600), 'n': self.writes}).encode('utf-8')
        elif kind == 'creds':
            logical = os.path.basename(self.creds)
            with open(self.creds, 'rb') as handle:
                doc = json.loads(handle.read().decode('utf-8-sig'))
            doc['lastPropHash'] = '%032x' % self.rng.getrandbits(128)
            data = json.dumps(doc).encode('utf-8')          # File.WriteAllText: no byte order mark
        else:
            logical = 'store.db'
        path = self.physical(logical)
        if kind == 'store-page':
            if not os.path.exists(path):
                with open(path, 'wb') as handle:
                    handle.write(b'LiteDB' + b'\0' * (2 * PAGE - 6))
            size = os.path.getsize(path)
            page = size // PAGE if self.writes % 5 == 0 else self.rng.randrange(max(1, size // PAGE))
            with open(path, 'r+b') as handle:             # in place, like LiteDB
                handle.seek(page * PAGE)
                handle.write(bytes(self.rng.getrandbits(8) for dummy in range(PAGE)))
        else:
            parent = os.path.dirname(path)
            if not os.path.isdir(parent):
                os.makedirs(parent)
            with open(path, 'wb') as handle:
                handle.write(data)
        ledger.record(event='write', kind=kind, tenant=self.tenant, logical=logical,
                      physical=os.path.relpath(path, self.root), sha256=sha256(path), size=os.path.getsize(path))
        if kind == 'creds':
            log('Successfully updated credentials for session %s at %s' % (self.tenant, self.creds))


def restore(root, build, ledger, rng):
    """What RestoreExistingSessionsAsync does: every *_creds.json below the root, recursively."""
    log('Scanning for existing WhatsApp sessions to restore...')
    sessions = []
    if not os.path.isdir(root):
        log('Base cache directory does not exist: %s' % root)
        return sessions
    log('Scanning for sessions in directory: %s' % root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        found.extend(os.path.join(dirpath, name) for name in sorted(filenames) if name.endswith(CREDS_SUFFIX))
    if not found:
        log('No existing WhatsApp sessions found to restore')
        return sessions
    log('Found %d existing WhatsApp sessions to restore' % len(found))
    for creds in found:
        tenant = os.path.basename(creds)[:-len(CREDS_SUFFIX)]
        log('Restoring WhatsApp session: %s' % tenant)
        log('Starting restoration for session: %s' % tenant)
        try:
            with open(creds, 'rb') as handle:
                doc = json.loads(handle.read().decode('utf-8-sig'))
            if not isinstance(doc, dict) or not doc:
                raise ValueError('not a JSON object')
        except (OSError, IOError, ValueError) as exc:
            log('Failed to deserialize credentials for session %s, creating new credentials (%s)' % (tenant, exc))
            log('Generating QR code for session %s (session time: 0.0min/10min)' % tenant)
            continue
        log('Successfully loaded existing credentials for session %s from %s' % (tenant, creds))
        log('Session %s initialized and added to active sessions' % tenant)
        log('Successfully restored session: %s' % tenant)
        sessions.append(Session(root, tenant, creds, build, rng))
    log('Session restoration completed. Active sessions: %d' % len(sessions))
    for session in sessions:
        ledger.record(event='loaded', tenant=session.tenant, creds=session.creds, files=session.files())
    return sessions


def new_tenant(root, tenant, build, ledger, rng):
    """StartSessionAsync for a tenant without creds: new credentials, a QR code, then the scan saves them."""
    creds = os.path.join(root, tenant, tenant + CREDS_SUFFIX)
    log('Starting session: %s' % tenant)
    if os.path.exists(creds):
        log('Session %s already has credentials at %s' % (tenant, creds))
        return None
    log('No existing credentials found for session %s, will create new ones' % tenant)
    log('Starting QR session for %s, will timeout after 10 minutes' % tenant)
    log('Generating QR code for session %s (session time: 0.0min/10min)' % tenant)
    if not os.path.isdir(os.path.dirname(creds)):
        os.makedirs(os.path.dirname(creds))
    with open(creds, 'wb') as handle:
        handle.write(json.dumps({'me': {'id': '27660000000:1@s.whatsapp.net', 'name': tenant},
                                 'noiseKey': {'private': 'N' * 44, 'public': 'M' * 44}}).encode('utf-8'))
    log('Auth_Update called for session %s - updating credentials' % tenant)
    log('Successfully updated credentials for session %s at %s' % (tenant, creds))
    session = Session(root, tenant, creds, build, rng)
    ledger.record(event='scanned', tenant=tenant, creds=creds, sha256=sha256(creds))
    return session


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--build', choices=['old', 'fixed'], required=True)
    parser.add_argument('--ledger', default='/var/lib/gw-ledger')
    parser.add_argument('--interval', type=float, default=0.1)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    if args.build == 'old':
        root = os.path.dirname(os.path.abspath(__file__))
    else:
        root = os.environ.get('WHATSAPP_SESSIONS_ROOT', FIXED_ROOT)
    rng = random.Random()
    ledger = Ledger(args.ledger, args.build)
    log('WhatsApp gateway stand-in (%s build) starting as %s, sessions root %s' % (args.build, os.getuid(), root))
    sessions = restore(root, args.build, ledger, rng)
    log('Application started. Press Ctrl+C to shut down.')
    requests = os.path.join(args.ledger, 'requests')
    tick = 0
    while not stop.is_set():
        if args.build == 'fixed' and os.path.isdir(requests):
            for tenant in sorted(os.listdir(requests)):
                os.unlink(os.path.join(requests, tenant))
                session = new_tenant(root, tenant, args.build, ledger, rng)
                if session is not None:
                    sessions.append(session)
        if sessions:
            sessions[tick % len(sessions)].write_one(ledger)
        tick += 1
        stop.wait(args.interval)
    ledger.record(event='stopped', writes=tick)
    log('Application is shutting down...')
    return 0


if __name__ == '__main__':
    sys.exit(main())

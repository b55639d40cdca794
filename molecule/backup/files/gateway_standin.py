# -*- coding: utf-8 -*-
"""Stand-in for the WhatsApp gateway's session loading: for each tenant, load <root>/<tenant>/<tenant>_creds.json
and print "<tenant>: restored" or "<tenant>: needs QR", as the service decides whether to show a QR code.

The fixed service reads the root from WHATSAPP_SESSIONS_ROOT, else the fixed path. With --old-behaviour it does
what the service did before the fix: the root is the directory the program itself sits in (its assembly
location), so moving the application loses every session. --scan TENANT simulates a successful QR scan: it
writes that tenant's creds file, as the service user would. --serve (how the systemd unit runs it) loads the
tenants given (every tenant directory of the root when none is given) once at start, prints one line per tenant
to the journal, then waits, as the service does between messages.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import json
import os
import sys
import time

FIXED_ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'


def sessions_root(old_behaviour):
    """Where the service looks for sessions."""
    if old_behaviour:
        return os.path.dirname(os.path.abspath(__file__))
    return os.environ.get('WHATSAPP_SESSIONS_ROOT', FIXED_ROOT)


def restored(root, tenant):
    """True when the tenant's creds file is a non-empty JSON object (a UTF-8 BOM allowed)."""
    try:
        with open(os.path.join(root, tenant, tenant + '_creds.json'), 'rb') as handle:
            data = handle.read()
        doc = json.loads(data.decode('utf-8-sig'))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and bool(doc)


def main():
    """Report every tenant, or record a QR scan."""
    parser = argparse.ArgumentParser()
    parser.add_argument('tenants', nargs='*')
    parser.add_argument('--old-behaviour', action='store_true')
    parser.add_argument('--scan')
    parser.add_argument('--serve', action='store_true')
    args = parser.parse_args()
    root = sessions_root(args.old_behaviour)
    if args.serve:
        tenants = args.tenants or sorted(name for name in os.listdir(root) if not name.startswith('.'))
        for tenant in tenants:
            print('%s: %s' % (tenant, 'restored' if restored(root, tenant) else 'needs QR'), flush=True)
        while True:
            time.sleep(3600)
    if args.scan:
        os.umask(0o027)  # as the gateway's unit sets it (UMask=0027): session files hold private keys
        os.makedirs(os.path.join(root, args.scan), exist_ok=True)
        with open(os.path.join(root, args.scan, args.scan + '_creds.json'), 'wb') as handle:
            handle.write(b'\xef\xbb\xbf' + json.dumps({'me': {'id': args.scan}}).encode('utf-8'))
        print('%s: QR scanned, session saved in %s' % (args.scan, root))
        return 0
    for tenant in args.tenants:
        print('%s: %s' % (tenant, 'restored' if restored(root, tenant) else 'needs QR'))
    return 0


if __name__ == '__main__':
    sys.exit(main())

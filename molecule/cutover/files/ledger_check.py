# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare what the old build wrote (its ledger) with a sessions tree; print the findings as JSON.

    ledger_check.py LEDGER --root SESSIONS_ROOT        after the cutover
    ledger_check.py LEDGER --physical DIR              against a copy of the old build's own folder

After the cutover, for every file the old build wrote, its last write must be, byte for byte (SHA-256), what the
fixed build found when it started (its "loaded" record), and, where the fixed build has not written it since,
what is in <root>/<tenant>/ now. With --physical the old build's last writes are compared by the paths it wrote
(relative to its folder) with DIR, for example a copy taken while it was running.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import hashlib
import json
import os
import sys


def sha256(path):
    try:
        with open(path, 'rb') as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except (IOError, OSError):
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('ledger')
    parser.add_argument('--root')
    parser.add_argument('--physical')
    args = parser.parse_args()
    with open(args.ledger) as handle:
        entries = [json.loads(line) for line in handle if line.strip()]
    old = [e for e in entries if e['build'] == 'old' and e['event'] == 'write']
    last = {}
    for e in old:
        last[(e['tenant'], e['logical'])] = e
    kinds = {}
    for e in old:
        kinds[e['kind']] = kinds.get(e['kind'], 0) + 1
    report = dict(old_writes=len(old), old_files=len(last), kinds=kinds, tenants=sorted(set(t for t, f in last)),
                  mismatched=[])
    if args.physical:
        for (tenant, logical), e in sorted(last.items()):
            if sha256(os.path.join(args.physical, e['physical'])) != e['sha256']:
                report['mismatched'].append('%s (%s)' % (e['physical'], tenant))
    else:
        loaded = {}
        for e in entries:
            if e['build'] == 'fixed' and e['event'] == 'loaded' and e['tenant'] not in loaded:
                loaded[e['tenant']] = e['files']
        rewritten = set((e['tenant'], e['logical']) for e in entries if e['build'] == 'fixed' and e['event'] == 'write')
        report.update(fixed_loaded=sorted(loaded), checked_in_root=0)
        for (tenant, logical), e in sorted(last.items()):
            if loaded.get(tenant, {}).get(logical) != e['sha256']:
                report['mismatched'].append('%s/%s: the fixed build started from other content' % (tenant, logical))
            if (tenant, logical) not in rewritten:
                report['checked_in_root'] += 1
                if sha256(os.path.join(args.root, tenant, logical)) != e['sha256']:
                    report['mismatched'].append('%s/%s: differs in the sessions root' % (tenant, logical))
    json.dump(report, sys.stdout, sort_keys=True)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())

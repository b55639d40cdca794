# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the gateway logged after a start, and what it means per tenant: restored, new (QR code) or failed.

The default patterns are the gateway's own log lines (BaileysCSharp ``WhatsAppServiceV2``):

* ``Successfully loaded existing credentials for session <t> from <creds file>``: the tenant's session was
  loaded. ``<creds file>`` must be in ``<sessions root>/<t>/``; a legacy path means an old build loaded its
  old folder.
* ``No existing credentials found for session <t>, will create new ones``, ``Failed to deserialize credentials
  for session <t>, creating new credentials``, ``Generating QR code for session <t> ...``, ``Starting QR session
  for <t>, ...``: the tenant gets new credentials and must scan a QR code.
* ``Successfully migrated session <t> from <legacy creds file> to <creds file>``: the gateway found the session
  only in a legacy folder and copied it itself (while it may still be written there): the deploy did not bring it.

Every pattern is a Python regular expression searched in each line, with a named group ``tenant`` (and ``path``
for the loaded and migrated lines). Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re
import time

_T = r'(?P<tenant>[^\s/]+)'
DEFAULT_LOADED_PATTERNS = (
    r'Successfully loaded existing credentials for session ' + _T + r' from (?P<path>/.*?)\s*$',
)
DEFAULT_NEW_PATTERNS = (
    r'No existing credentials found for session ' + _T + r', will create new ones',
    r'Failed to deserialize credentials for session ' + _T + r', creating new credentials',
    r'Generating QR code for session ' + _T,
    r'Starting QR session for ' + _T + r',',
)
DEFAULT_MIGRATED_PATTERNS = (
    r'Successfully migrated session ' + _T + r' from (?P<path>/.*?) to /',
)
LOADED, NEW, MIGRATED = 'loaded', 'new', 'migrated'
_GROUPS = {LOADED: ('tenant', 'path'), NEW: ('tenant',), MIGRATED: ('tenant', 'path')}


class PatternError(ValueError):
    """A pattern that does not compile or lacks a named group it needs."""


def compile_patterns(loaded, new, migrated):
    """``{kind: [compiled regex, ...]}``; raises PatternError naming the bad pattern and the fix."""
    compiled = {}
    for kind, patterns in ((LOADED, loaded), (NEW, new), (MIGRATED, migrated)):
        compiled[kind] = []
        for pattern in patterns:
            try:
                regex = re.compile(pattern)
            except re.error as exc:
                raise PatternError('The %s pattern %r is not a valid regular expression: %s.' % (kind, pattern, exc))
            missing = [g for g in _GROUPS[kind] if g not in regex.groupindex]
            if missing:
                groups = ', '.join('(?P<%s>...)' % g for g in missing)
                path_hint = ' and the creds file with (?P<path>...)' if 'path' in _GROUPS[kind] else ''
                raise PatternError('The %s pattern %r has no named group%s %s. Mark the tenant name with '
                                   '(?P<tenant>...)%s.' % (kind, pattern, 's' if len(missing) > 1 else '', groups,
                                                           path_hint))
            compiled[kind].append(regex)
    return compiled


def events(lines, compiled):
    """``(kind, tenant, path, line)`` for every line that matches a pattern, in log order (first match wins)."""
    found = []
    for line in lines:
        for kind in (LOADED, MIGRATED, NEW):
            match = next((m for m in (regex.search(line) for regex in compiled[kind]) if m), None)
            if match:
                found.append((kind, match.group('tenant'), match.groupdict().get('path'), line.strip()))
                break
    return found


def in_tenant_dir(path, root, tenant):
    """Whether the creds file ``path`` the gateway named is directly in ``<root>/<tenant>/``."""
    return os.path.dirname(os.path.normpath(path)) == os.path.normpath(os.path.join(root, tenant))


def decide(lines, expected, root, compiled, final=False, waited=None):
    """The verdict over the log ``lines``: which tenants were restored, which are new, which failed.

    ``expected`` are the tenants that had a valid session before the start. Such a tenant is restored when it
    logged loading its creds file from its directory in ``root`` and logged nothing that means new credentials;
    it fails when it logged new credentials (a QR code), loaded a creds file elsewhere, or was migrated by the
    gateway itself. Any tenant that loaded a creds file outside its directory in ``root`` fails too. Other tenants
    that logged new credentials are new (waiting for their first QR scan). An expected tenant with none of these
    lines is pending, or failed when ``final`` (after ``waited`` seconds, for the message).

    Returns a dict: restored, new, failed (``[{tenant, reason}]``), pending (lists sorted by tenant).
    """
    expected = set(expected)
    seen = {}
    for kind, tenant, path, line in events(lines, compiled):
        entry = seen.setdefault(tenant, {LOADED: [], NEW: [], MIGRATED: [], 'elsewhere': []})
        if kind == LOADED and not in_tenant_dir(path, root, tenant):
            entry['elsewhere'].append(path)
        else:
            entry[kind].append(path if kind != NEW else line)
    verdict = dict(restored=[], new=[], failed=[], pending=[])
    for tenant in sorted(expected | set(seen)):
        entry = seen.get(tenant, {LOADED: [], NEW: [], MIGRATED: [], 'elsewhere': []})
        reasons = []
        if entry['elsewhere']:
            reasons.append('loaded its credentials from %s, not from its directory %s in the sessions root (an old '
                           'build, or a stray copy, was loaded)' % (', '.join(sorted(set(entry['elsewhere']))),
                                                                    os.path.join(root, tenant)))
        if entry[MIGRATED]:
            reasons.append('the gateway copied it itself from %s: the deploy did not migrate it'
                           % ', '.join(sorted(set(entry[MIGRATED]))))
        if tenant in expected and entry[NEW]:
            reasons.append('it had a valid session before, but the gateway logged that it creates new credentials '
                           '(a QR code): "%s"' % entry[NEW][0])
        if reasons:
            verdict['failed'].append(dict(tenant=tenant, reason='; '.join(reasons)))
        elif tenant in expected:
            if entry[LOADED]:
                verdict['restored'].append(tenant)
            else:
                verdict['pending'].append(tenant)
        elif entry[NEW]:
            verdict['new'].append(tenant)
        elif entry[LOADED]:
            verdict['restored'].append(tenant)
    if final:
        within = '' if waited is None else ' within %d s' % waited
        for tenant in verdict['pending']:
            verdict['failed'].append(dict(tenant=tenant, reason='it had a valid session before, but the gateway '
                                          'logged nothing about loading its credentials%s' % within))
        verdict['failed'].sort(key=lambda f: f['tenant'])
        verdict['pending'] = []
    return verdict


def log_files(patterns):
    """The regular files the globs ``patterns`` name now, sorted, without duplicates."""
    found = set()
    for pattern in patterns:
        found.update(p for p in glob.glob(pattern) if os.path.isfile(p))
    return sorted(found)


def file_positions(patterns):
    """``{file: size}``: where every log file ends now (what a later read starts after)."""
    positions = {}
    for path in log_files(patterns):
        try:
            positions[path] = os.stat(path).st_size
        except OSError:
            continue
    return positions


def read_files(patterns, positions):
    """The lines written to the log files since ``positions`` (a file not in it, or now shorter, from its start)."""
    lines = []
    for path in log_files(patterns):
        try:
            with open(path, 'rb') as handle:
                size = os.fstat(handle.fileno()).st_size
                start = positions.get(path, 0)
                handle.seek(start if 0 <= start <= size else 0)
                data = handle.read()
        except (IOError, OSError):
            continue
        lines.extend(data.decode('utf-8', 'replace').splitlines())
    return lines


def watch(read_lines, expected, root, compiled, timeout, settle=0.0, unit_state=None, interval=1.0,
          clock=time.monotonic, sleep=time.sleep):
    """Read the log until every expected tenant has logged its outcome (then ``settle`` seconds more, for late QR
    lines), the unit stops running, or ``timeout`` seconds have passed.

    ``read_lines()`` returns every line logged since the start; ``unit_state()`` (optional) a dict with at least
    ``active_state`` and ``invocation_id``. Returns ``(verdict, lines, states)``: the final verdict (see
    decide), the last lines read and the unit states seen first and last.
    """
    begin = clock()
    decided_at = None
    first = last = None
    while True:
        lines = read_lines()
        verdict = decide(lines, expected, root, compiled)
        if unit_state is not None:
            last = unit_state()
            first = first or last
            if last.get('active_state') not in ('active', 'activating', 'reloading') \
                    or last.get('invocation_id') != first.get('invocation_id'):
                break
        now = clock()
        if not verdict['pending']:
            decided_at = now if decided_at is None else decided_at
            if now - decided_at >= settle:
                break
        if now - begin >= timeout:
            break
        sleep(interval)
    return decide(lines, expected, root, compiled, final=True, waited=clock() - begin), lines, (first, last)


def unit_problems(unit, first, last):
    """What is wrong with the unit's state during the check: not running at the end, or restarted meanwhile."""
    problems = []
    if last is None:
        return problems
    if last.get('active_state') != 'active':
        problems.append('service %s is %s (%s) after the start, not active: see journalctl -u %s'
                        % (unit, last.get('active_state') or 'unknown', last.get('sub_state') or '-', unit))
    elif first is not None and last.get('invocation_id') != first.get('invocation_id'):
        problems.append('service %s restarted while its log was being checked (invocation %s, then %s): it is '
                        'crash-looping or was restarted by someone else'
                        % (unit, first.get('invocation_id'), last.get('invocation_id')))
    return problems

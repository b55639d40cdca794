#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: gateway_log_check
short_description: Prove from the gateway's own log that every tenant restored its session after a start
version_added: 0.1.0
description:
  - Reads what the WhatsApp gateway logged since its last start - from journald for the current invocation of
    O(service_unit) (C(_SYSTEMD_INVOCATION_ID)), or from log files (O(log_files)) after the positions a previous
    call with O(mark_only) returned - and decides, per tenant, whether it was restored, is new, or failed.
  - A tenant in O(tenants) (one that had a valid session before the start) is B(restored) when the gateway logged
    loading its credentials (O(loaded_patterns)) from a creds file in its own directory C(<sessions_root>/<tenant>/)
    and logged nothing of O(new_patterns) (new credentials, a QR code) or O(migrated_patterns). It B(failed) when it
    logged any of those, or loaded a creds file elsewhere (an old build that came back and loaded its legacy
    folder), or logged nothing about its credentials before O(timeout). Any tenant that loaded a creds file outside
    its directory in the sessions root fails too. Other tenants that logged new credentials are B(new) - they wait
    for their first QR scan.
  - Waits until every tenant in O(tenants) has logged its outcome, then O(settle) seconds more for late QR lines,
    at most O(timeout) seconds. With O(service_unit) it also checks that the unit is still active at the end and
    was not restarted meanwhile.
  - Findings do not fail the module; they are returned in RV(failed) and RV(problems), and RV(ok) says whether
    there are none. The module fails only when it cannot do its job (a bad pattern, no journal for the unit).
author:
  - RubyManager maintainers (@rubymanager)
options:
  sessions_root:
    description:
      - The sessions root; a tenant's creds file must be directly in C(<sessions_root>/<tenant>/).
    type: path
    required: true
  tenants:
    description:
      - The tenants that had a valid session before the start; each must log that it loaded its credentials.
    type: list
    elements: str
    default: []
  service_unit:
    description:
      - The gateway's systemd unit (C(.service) is added when there is no suffix). Required with
        O(log_source=journald). With it the unit's state is checked too.
    type: str
  log_source:
    description:
      - C(journald) reads the journal of the unit's current invocation; C(files) reads O(log_files).
    type: str
    choices: [journald, files]
    default: journald
  log_files:
    description:
      - Globs of the gateway's log files, for example
        C(/home/RubyManager/web/whatsapp.rubymanager.app/netcoreapp/logs/whatsapp-*.log). Required with
        O(log_source=files).
    type: list
    elements: path
    default: []
  log_positions:
    description:
      - Where each log file ended before the start (RV(log_positions) of a call with O(mark_only)); only what was
        written after that is read. A file not listed, or now shorter, is read from its beginning.
    type: dict
    default: {}
  mark_only:
    description:
      - Only return RV(log_positions) (and the unit's state) and check nothing. Call it before starting the unit.
    type: bool
    default: false
  loaded_patterns:
    description:
      - Regular expressions of the line that says a tenant's existing credentials were loaded, with named groups
        C(tenant) and C(path) (the creds file).
    type: list
    elements: str
    default:
      - 'Successfully loaded existing credentials for session (?P<tenant>[^\s/]+) from (?P<path>/.*?)\s*$'
  new_patterns:
    description:
      - Regular expressions of lines that say a tenant gets new credentials (a QR code), with a named group
        C(tenant).
    type: list
    elements: str
    default:
      - 'No existing credentials found for session (?P<tenant>[^\s/]+), will create new ones'
      - 'Failed to deserialize credentials for session (?P<tenant>[^\s/]+), creating new credentials'
      - 'Generating QR code for session (?P<tenant>[^\s/]+)'
      - 'Starting QR session for (?P<tenant>[^\s/]+),'
  migrated_patterns:
    description:
      - Regular expressions of the line that says the gateway copied a session from a legacy folder itself, with
        named groups C(tenant) and C(path); such a tenant fails. C([]) to not look for it.
    type: list
    elements: str
    default:
      - 'Successfully migrated session (?P<tenant>[^\s/]+) from (?P<path>/.*?) to /'
  timeout:
    description:
      - Seconds to wait at most for every tenant in O(tenants) to log its outcome.
    type: int
    default: 120
  settle:
    description:
      - Seconds to keep reading once every tenant has logged its outcome, so that a QR code logged shortly after a
        tenant loaded its credentials is seen.
    type: int
    default: 5
attributes:
  check_mode:
    support: full
    description: The module only reads; it does the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  platform:
    platforms: posix
    support: full
    description: Linux hosts; journald needs C(journalctl) and C(systemctl).
notes:
  - The default patterns are the BaileysCSharp gateway's log lines (C(WhatsAppServiceV2)). A gateway that logs
    other words needs its own patterns; tenant names with whitespace need patterns that allow it.
seealso:
  - module: rubymanager.session_persistence.session_info
'''

EXAMPLES = r'''
- name: Prove from the journal that every tenant restored its session after the start
  rubymanager.session_persistence.gateway_log_check:
    sessions_root: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
    service_unit: whatsapp-gateway.service
    tenants: [7afd5398-97c3-11eb-a990-f23c917564d6, tenant-b]
    timeout: 180
  register: gateway_log

- name: Fail unless every tenant was restored
  ansible.builtin.assert:
    that: gateway_log.ok
    fail_msg: "{{ gateway_log.problems }}"

- name: With log files instead of journald, note where they end before the start
  rubymanager.session_persistence.gateway_log_check:
    sessions_root: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
    log_source: files
    log_files: [/home/RubyManager/web/whatsapp.rubymanager.app/netcoreapp/logs/whatsapp-*.log]
    mark_only: true
  register: log_mark

- name: Start the gateway
  ansible.builtin.systemd_service:
    name: whatsapp-gateway.service
    state: started

- name: Read only what it logged after the start
  rubymanager.session_persistence.gateway_log_check:
    sessions_root: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
    service_unit: whatsapp-gateway.service
    log_source: files
    log_files: [/home/RubyManager/web/whatsapp.rubymanager.app/netcoreapp/logs/whatsapp-*.log]
    log_positions: "{{ log_mark.log_positions }}"
    tenants: [7afd5398-97c3-11eb-a990-f23c917564d6]
'''

RETURN = r'''
ok:
  description: Whether every tenant in O(tenants) was restored, no tenant failed and the unit is active.
  returned: unless O(mark_only)
  type: bool
restored:
  description: Tenants that loaded their credentials from their directory in the sessions root.
  returned: unless O(mark_only)
  type: list
  elements: str
  sample: [7afd5398-97c3-11eb-a990-f23c917564d6]
new:
  description: Tenants not in O(tenants) that logged new credentials (waiting for their first QR scan).
  returned: unless O(mark_only)
  type: list
  elements: str
failed:
  description: Tenants that failed, each with the reason.
  returned: unless O(mark_only)
  type: list
  elements: dict
  contains:
    tenant:
      description: The tenant.
      type: str
    reason:
      description: Why, with the log line when there is one.
      type: str
  sample: [{tenant: tenant-b, reason: "it had a valid session before, but the gateway logged that it creates new
            credentials (a QR code): \"No existing credentials found for session tenant-b, will create new ones\""}]
problems:
  description: Every finding as a sentence (failed tenants, then the unit's state).
  returned: unless O(mark_only)
  type: list
  elements: str
unit:
  description: The unit's state at the end (O(service_unit) only).
  returned: when O(service_unit) is set
  type: dict
  contains:
    active_state:
      description: C(ActiveState).
      type: str
    sub_state:
      description: C(SubState).
      type: str
    invocation_id:
      description: C(InvocationID) of the run whose log was read.
      type: str
    main_pid:
      description: C(MainPID).
      type: str
    active_enter_timestamp_monotonic:
      description: C(ActiveEnterTimestampMonotonic), which changes with every start.
      type: str
lines_read:
  description: How many log lines were read in the end.
  returned: unless O(mark_only)
  type: int
seconds:
  description: How long the module waited.
  returned: unless O(mark_only)
  type: float
log_positions:
  description: Where each of O(log_files) ends now (file to size in bytes).
  returned: always
  type: dict
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.pyversion import python_problem
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.gatewaylog import (
    DEFAULT_LOADED_PATTERNS, DEFAULT_MIGRATED_PATTERNS, DEFAULT_NEW_PATTERNS, PatternError, compile_patterns,
    file_positions, read_files, unit_problems, watch)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.service import parse_show, unit_name

STATE_PROPERTIES = ('LoadState', 'ActiveState', 'SubState', 'InvocationID', 'MainPID', 'ActiveEnterTimestampMonotonic')


def unit_reader(module, unit):
    """A function returning the unit's state as a dict (snake_case keys)."""
    systemctl = module.get_bin_path('systemctl', required=True)

    def state():
        rc, out, err = module.run_command([systemctl, 'show', '--property=' + ','.join(STATE_PROPERTIES), '--', unit],
                                          environ_update=dict(LC_ALL='C'))
        if rc != 0:
            module.fail_json(msg='systemctl show %s failed: %s' % (unit, (err or out).strip() or 'rc=%d' % rc))
        props = parse_show(out)
        if props.get('LoadState') in (None, '', 'not-found'):
            module.fail_json(msg='The gateway unit %s does not exist on this host (LoadState=%s).'
                             % (unit, props.get('LoadState') or 'unknown'))
        return dict(active_state=props.get('ActiveState'), sub_state=props.get('SubState'),
                    invocation_id=props.get('InvocationID') or None, main_pid=props.get('MainPID'),
                    active_enter_timestamp_monotonic=props.get('ActiveEnterTimestampMonotonic'))
    return state


def journal_reader(module, unit, invocation_id):
    """A function returning the journal lines of ``unit``'s invocation ``invocation_id``."""
    journalctl = module.get_bin_path('journalctl', required=True)
    argv = [journalctl, '--no-pager', '--quiet', '--output=cat', '_SYSTEMD_INVOCATION_ID=%s' % invocation_id]

    def read():
        rc, out, err = module.run_command(argv, environ_update=dict(LC_ALL='C'))
        if rc != 0:
            module.fail_json(msg='journalctl could not read the log of %s (invocation %s): %s'
                             % (unit, invocation_id, (err or out).strip() or 'rc=%d' % rc))
        return out.splitlines()
    return read


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sessions_root=dict(type='path', required=True),
            tenants=dict(type='list', elements='str', default=[]),
            service_unit=dict(type='str'),
            log_source=dict(type='str', choices=['journald', 'files'], default='journald'),
            log_files=dict(type='list', elements='path', default=[]),
            log_positions=dict(type='dict', default={}),
            mark_only=dict(type='bool', default=False),
            loaded_patterns=dict(type='list', elements='str', default=list(DEFAULT_LOADED_PATTERNS)),
            new_patterns=dict(type='list', elements='str', default=list(DEFAULT_NEW_PATTERNS)),
            migrated_patterns=dict(type='list', elements='str', default=list(DEFAULT_MIGRATED_PATTERNS)),
            timeout=dict(type='int', default=120),
            settle=dict(type='int', default=5),
        ),
        required_if=[('log_source', 'journald', ('service_unit',)), ('log_source', 'files', ('log_files',))],
        supports_check_mode=True,
    )
    # First: on an older Python the modules would fail later with an obscure error.
    problem = python_problem('gateway_log_check')
    if problem:
        module.fail_json(msg=problem)
    params = module.params
    root = params['sessions_root'].rstrip('/') or '/'
    unit = unit_name(params['service_unit']) if params['service_unit'] else None
    if params['timeout'] < 0 or params['settle'] < 0:
        module.fail_json(msg='timeout (%d) and settle (%d) must be 0 or more seconds.'
                         % (params['timeout'], params['settle']))
    try:
        compiled = compile_patterns(params['loaded_patterns'], params['new_patterns'], params['migrated_patterns'])
    except PatternError as exc:
        module.fail_json(msg=str(exc))
    bad = [str(v) for v in params['log_positions'].values() if not str(v).isdigit()]
    if bad:
        module.fail_json(msg='log_positions must map each log file to a byte offset (a whole number); got %s. Pass '
                         'the log_positions a call with mark_only returned.' % ', '.join(bad))
    positions = dict((k, int(v)) for k, v in params['log_positions'].items())
    state = unit_reader(module, unit) if unit else None
    result = dict(changed=False, log_positions=file_positions(params['log_files']) if params['log_files'] else {})
    if params['mark_only']:
        if state is not None:
            result['unit'] = state()
        module.exit_json(**result)

    if params['log_source'] == 'journald':
        first = state()
        if not first['invocation_id']:
            module.fail_json(msg='%s has no current invocation (ActiveState=%s): it has not been started, so it has '
                             'logged nothing to check.' % (unit, first['active_state']), unit=first)
        read = journal_reader(module, unit, first['invocation_id'])
    else:
        def read():
            return read_files(params['log_files'], positions)
    began = time.monotonic()
    verdict, lines, (first, last) = watch(read, params['tenants'], root, compiled, params['timeout'],
                                          settle=params['settle'], unit_state=state)
    problems = ['%s: %s' % (f['tenant'], f['reason']) for f in verdict['failed']]
    if unit:
        problems.extend(unit_problems(unit, first, last))
        result['unit'] = last
    result.update(ok=not problems, restored=verdict['restored'], new=verdict['new'], failed=verdict['failed'],
                  problems=problems, lines_read=len(lines), seconds=round(time.monotonic() - began, 1))
    module.exit_json(**result)


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: session_info
short_description: Report on the WhatsApp Web gateway sessions of a host (read-only)
version_added: 0.1.0
description:
  - Lists the sessions under the sessions root O(path) and, optionally, under O(legacy_roots) (same layouts and
    globs as M(rubymanager.session_persistence.session_migrate)).
  - Per session it reports its name, where it is, whether its creds file is present and valid for O(layout), the
    creds file's age, the number of files and bytes, and the problems found, such as a wrong owner or group,
    world-readable files that other users can reach, a creds file missing while key folders exist, a stray creds
    file the gateway would load as a second session, or a session that exists in a legacy root but not in the
    sessions root.
  - Valid creds are a non-empty JSON object of at most 16 MiB; a larger creds file is reported as too large. A
    UTF-8 byte order mark at the start is valid for V(baileys_csharp) only (BaileysCSharp's C(File.ReadAllText)
    drops it; Node.js Baileys fails to parse it and starts with fresh creds, so under V(baileys_multi_file) such a
    creds file is invalid, with that reason).
  - For V(baileys_csharp), key files of a session in the sessions root named with a literal backslash
    (C(pre-key\7.json), written by older gateway builds; the gateway looks for C(pre-key/7.json)) and
    C(<name>\store.db) files beside a session folder are reported as problems of that session; in legacy roots
    such names are expected (M(rubymanager.session_persistence.session_migrate) normalises them).
  - When the sessions root and legacy roots hold sessions of the other layout and none of O(layout), a problem
    names the O(layout) value to use; when they hold both, a warning names the sessions of the other layout.
  - A world-readable path counts only when other users can traverse every directory from C(/) down to it; below
    a tenant directory with mode C(2750), or any other directory without C(o+x), nobody else can open it.
  - It never changes anything. Only metadata is read, plus each session's creds file to validate it.
author:
  - RubyManager maintainers (@rubymanager)
options:
  path:
    description:
      - The sessions root, for example C(/home/RubyManager/web/whatsapp.rubymanager.app/sessions).
      - A missing sessions root is reported as a problem, not as an error.
    type: path
    required: true
  legacy_roots:
    description:
      - Legacy locations to search as well, with shell-style globs. The sessions root itself is never treated
        as a legacy root.
    type: list
    elements: path
    default: []
  sessions:
    description:
      - Report only on these session names. By default every session is reported.
    type: list
    elements: str
  layout:
    description:
      - The on-disk layout of the sessions; see M(rubymanager.session_persistence.session_migrate).
    type: str
    choices: [baileys_csharp, baileys_multi_file]
    default: baileys_csharp
  creds_file:
    description:
      - Overrides the creds file name of the layout; C({name}) is replaced with the session name.
    type: str
  owner:
    description:
      - The user every path in the sessions root should belong to. Must exist.
    type: str
    default: www-data
  group:
    description:
      - The group every path in the sessions root should belong to. Must exist.
    type: str
    default: www-data
  check_ownership:
    description:
      - Report paths in the sessions root with another owner or group, and world-readable ones that other users
        can reach, as problems.
    type: bool
    default: true
  creds_only:
    description:
      - Read only each session's creds file and the names at the top of its folder, never the trees below. A
        fast inventory of which sessions exist and which have valid creds (such as the view before a
        deployment). RV(sessions[].files) and RV(sessions[].bytes) are then null, and nothing but the creds
        files is checked (no ownership, world-readable, special file, stray creds or backslash name checks;
        O(check_ownership) is ignored).
    type: bool
    default: false
  service_unit:
    description:
      - The gateway's systemd unit (C(.service) is added when there is no suffix). When set, the module reads
        the unit's settings with C(systemctl show) and reports, in RV(service), the user and group it runs as
        against O(owner) and O(group), whether its sandbox (C(ProtectSystem=), C(ProtectHome=),
        C(ReadWritePaths=), C(BindPaths=), ...) lets it write O(path), its working directory (a legacy location
        of the old gateway when it is one of O(legacy_roots)), and whether the C(session_storage) role's drop-in
        and the environment variable O(service_env_var) are in place. What is wrong is added to RV(problems).
    type: str
  service_env_var:
    description:
      - The environment variable that should tell the service where the sessions root is; empty to not check.
    type: str
    default: WHATSAPP_SESSIONS_ROOT
attributes:
  check_mode:
    support: full
    description: The module never changes anything, in check mode or not.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  platform:
    platforms: posix
    support: full
    description: Linux hosts.
notes:
  - Fast on thousands of sessions - one C(lstat) per path, no file contents read but the creds files.
seealso:
  - module: rubymanager.session_persistence.session_migrate
'''

EXAMPLES = r'''
- name: Report on the sessions and the legacy locations
  rubymanager.session_persistence.session_info:
    path: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
    legacy_roots:
      - /home/RubyManager/web/whatsapp.rubymanager.app/netcoreapp
      - /home/RubyManager/web/whatsapp.rubymanager.app/releases/*/
  register: sessions

- name: Fail when a session has a problem
  ansible.builtin.assert:
    that: sessions.problems | length == 0
    fail_msg: "{{ sessions.problems }}"
'''

RETURN = r'''
sessions_root:
  description: The sessions root (O(path)).
  returned: always
  type: str
  sample: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
exists:
  description: Whether the sessions root exists.
  returned: always
  type: bool
sessions:
  description: The sessions in the sessions root, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Session (tenant) name.
      type: str
      sample: 7afd5398-97c3-11eb-a990-f23c917564d6
    location:
      description: C(sessions_root) here, C(legacy) in RV(legacy_sessions).
      type: str
    path:
      description: The session directory.
      type: str
    creds_file:
      description: Path of the creds file.
      type: str
    creds_present:
      description: Whether the creds file exists.
      type: bool
    creds_valid:
      description:
        - Whether the creds file is valid for O(layout) - a non-empty JSON object of at most 16 MiB; a UTF-8
          byte order mark is allowed for V(baileys_csharp) only.
      type: bool
    creds_problem:
      description: Why the creds file is not valid, or null.
      type: str
    creds_age_seconds:
      description: Seconds since the creds file was last written, or null.
      type: int
    creds_mtime:
      description: Modification time of the creds file (UTC, ISO 8601), or null.
      type: str
    files:
      description: Number of regular files in the session directory, recursively; null with O(creds_only=true).
      type: int
    bytes:
      description: Total size of those files; null with O(creds_only=true).
      type: int
    problems:
      description: Problems found in this session.
      type: list
      elements: str
legacy_sessions:
  description: The sessions found in O(legacy_roots), one entry per copy, same keys as RV(sessions).
  returned: always
  type: list
  elements: dict
legacy_only:
  description:
    - Names of sessions that have a copy with a valid creds file in a legacy root but are not, with a valid creds
      file, in the sessions root; M(rubymanager.session_persistence.session_migrate) would migrate them.
  returned: always
  type: list
  elements: str
legacy_roots:
  description: The legacy roots that exist, globs expanded.
  returned: always
  type: list
  elements: str
problems:
  description: Every problem found, each prefixed with the session name or path.
  returned: always
  type: list
  elements: str
  sample: ["tenant-a: 3 world-readable path(s) (pre-key/1.json, pre-key/2.json, pre-key/3.json): session files hold private keys"]
service:
  description: What the gateway's unit can do with the sessions root; only when O(service_unit) is set.
  returned: when O(service_unit) is set
  type: dict
  contains:
    unit:
      description: The unit name.
      type: str
    found:
      description: Whether the unit exists.
      type: bool
    user:
      description: The user it runs as (C(root) when C(User=) is not set).
      type: str
    user_ok:
      description: Whether that is O(owner).
      type: bool
    can_write:
      description: Whether its sandbox lets it write the sessions root.
      type: bool
    sandbox:
      description: Why (or why not), from its sandbox settings.
      type: str
    working_directory:
      description: Its C(WorkingDirectory=), or null.
      type: str
    working_directory_is_legacy_root:
      description: Whether that is one of O(legacy_roots) (where the old gateway kept sessions).
      type: bool
    dropin_present:
      description: Whether the C(session_storage) role's drop-in C(50-session-storage.conf) is in place.
      type: bool
    env_var_ok:
      description: Whether O(service_env_var) is set to the sessions root in the unit's environment.
      type: bool
    umask:
      description: The unit's C(UMask=), or null when systemd does not report it.
      type: str
    umask_ok:
      description: Whether that umask keeps the files the service writes from being readable by other users.
      type: bool
  sample: {unit: whatsapp-gateway.service, found: true, user: www-data, user_ok: true, can_write: true,
           sandbox: ProtectHome=tmpfs, working_directory: /home/RubyManager/web/whatsapp.rubymanager.app,
           working_directory_is_legacy_root: true, dropin_present: true, env_var_ok: true, umask: '0027',
           umask_ok: true}
summary:
  description: Counts.
  returned: always
  type: dict
  contains:
    sessions:
      description: Sessions in the sessions root.
      type: int
    valid:
      description: Of those, with a valid creds file.
      type: int
    with_problems:
      description: Of those, with at least one problem.
      type: int
    legacy:
      description: Session copies found in legacy roots.
      type: int
    legacy_only:
      description: Sessions only in legacy roots.
      type: int
    problems:
      description: Length of RV(problems).
      type: int
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.pyversion import python_problem
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.audit import AuditError, audit
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    DEFAULT_LAYOUT, LAYOUT_NAMES, get_layout)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.migration import (
    SetupError, resolve_owner)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.names import check_session_name
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.service import (
    PROPERTIES, assess_unit, parse_show, unit_name)


def inspect_service(module, unit, result):
    """Add the gateway unit's report to ``result`` (and its problems), from ``systemctl show``."""
    params = module.params
    systemctl = module.get_bin_path('systemctl')
    if systemctl is None:
        result['problems'].append('service %s: systemctl is not installed on this host; cannot inspect the unit' % unit)
        return
    rc, out, err = module.run_command([systemctl, 'show', '--property=' + ','.join(PROPERTIES), '--', unit])
    if rc != 0:
        result['problems'].append('service %s: systemctl show failed (%s); is systemd running?'
                                  % (unit, (err or out).strip() or 'rc=%d' % rc))
        return
    report, problems = assess_unit(parse_show(out), unit, result['sessions_root'], params['owner'], params['group'],
                                   params['service_env_var'], result['legacy_roots'])
    result['service'] = report
    result['problems'].extend(problems)
    result['summary']['problems'] = len(result['problems'])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            legacy_roots=dict(type='list', elements='path', default=[]),
            sessions=dict(type='list', elements='str'),
            layout=dict(type='str', choices=list(LAYOUT_NAMES), default=DEFAULT_LAYOUT),
            creds_file=dict(type='str'),
            owner=dict(type='str', default='www-data'),
            group=dict(type='str', default='www-data'),
            check_ownership=dict(type='bool', default=True),
            creds_only=dict(type='bool', default=False),
            service_unit=dict(type='str'),
            service_env_var=dict(type='str', default='WHATSAPP_SESSIONS_ROOT'),
        ),
        supports_check_mode=True,
    )
    # First: on an older Python the modules would fail later with an obscure error.
    problem = python_problem('session_info')
    if problem:
        module.fail_json(msg=problem)
    params = module.params
    try:
        for name in params['sessions'] or []:
            check_session_name(name)
        check = params['check_ownership'] and not params['creds_only']
        ids = resolve_owner(params['owner'], params['group']) if check else None
        result = audit(params['path'], params['legacy_roots'], get_layout(params['layout']),
                       creds_file=params['creds_file'], ids=ids, names=params['sessions'],
                       creds_only=params['creds_only'])
    except (ValueError, SetupError, AuditError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='%s: %s' % (exc.filename or params['path'], exc.strerror or exc))
    for warning in result.pop('warnings'):
        module.warn(warning)
    if params['service_unit']:
        inspect_service(module, unit_name(params['service_unit']), result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()

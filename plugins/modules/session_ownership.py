#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: session_ownership
short_description: Re-own a sessions root and everything in it, never following symlinks
version_added: 0.1.0
description:
  - Makes O(path) and everything below it owned by O(owner) and O(group), as C(chown -R) does, but
    changes ownership only (never content or modes) and reports C(changed) only when something was re-owned.
  - The tree is walked through directory file descriptors opened with C(O_NOFOLLOW). Symlinks are re-owned
    themselves and never followed, so nothing outside O(path) is touched, even when an entry is swapped for a
    symlink while the module runs.
  - A regular file with more than one hard link is not re-owned, because its other name may be outside O(path)
    (for example a link to C(/etc/shadow)); it is reported in RV(left_alone) and as a warning.
  - The C(rubymanager.session_persistence.session_storage) role calls this module; use it directly to repair
    ownership after files were copied in by hand.
author:
  - RubyManager maintainers (@rubymanager)
options:
  path:
    description:
      - The sessions root. It must exist and must not be a symlink.
    type: path
    required: true
  owner:
    description:
      - User name, or numeric uid, that should own everything below O(path). It must exist on the host (a name is
        looked up first, then a numeric id); the same rule as session_migrate and the session_storage role.
    type: str
    required: true
  group:
    description:
      - Group name, or numeric gid, that everything below O(path) should belong to. It must exist on the host.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    description: Reports what would be re-owned and changes nothing.
  diff_mode:
    support: full
    description: Shows how many paths (and a sample of them) had another owner or group.
notes:
  - Setuid and setgid bits that the kernel clears when an executable file changes owner are put back.
  - In check mode a missing O(path) is not an error (an earlier task would create it); the module reports no change.
'''

EXAMPLES = r'''
- name: Make every session file owned by the service user again
  rubymanager.session_persistence.session_ownership:
    path: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
    owner: www-data
    group: www-data
'''

RETURN = r'''
path:
  description: The sessions root.
  returned: always
  type: str
  sample: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
checked:
  description: Number of paths examined, O(path) included.
  returned: always
  type: int
  sample: 1520
reowned:
  description: Number of paths re-owned (in check mode, that would be re-owned).
  returned: always
  type: int
  sample: 3
sample:
  description: Up to 20 of the re-owned paths, relative to O(path); directories end with C(/).
  returned: always
  type: list
  elements: str
  sample: [".", "tenant-a/", "tenant-a/tenant-a_creds.json"]
left_alone:
  description:
    - Paths left alone, with the reason.
    - Not called C(skipped), a key Ansible reserves for tasks that did not run.
  returned: always
  type: list
  elements: str
  sample: ["tenant-a/x.json: has 2 hard links, so it may also live outside the root; not re-owned"]
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.pyversion import python_problem
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.ownership import (
    OwnershipError, fix_ownership)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.rules import (
    RuleError, resolve_owner)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            owner=dict(type='str', required=True),
            group=dict(type='str', required=True),
        ),
        supports_check_mode=True,
    )
    # First: on an older Python the modules would fail later with an obscure error.
    problem = python_problem('session_ownership')
    if problem:
        module.fail_json(msg=problem)
    path = module.params['path']
    result = dict(changed=False, path=path, checked=0, reowned=0, sample=[], left_alone=[])
    try:
        uid, gid = resolve_owner(module.params['owner'], module.params['group'])
        if module.check_mode and not os.path.lexists(path):
            module.exit_json(msg='%s does not exist yet; nothing to re-own' % path, **result)
        report = fix_ownership(path, uid, gid, check_mode=module.check_mode)
    except (RuleError, OwnershipError) as exc:
        module.fail_json(msg=str(exc), **result)

    for line in report.skipped:
        module.warn(line)
    result.update(changed=report.reowned > 0, checked=report.checked, reowned=report.reowned,
                  sample=report.sample, left_alone=report.skipped)
    if module._diff and report.reowned:
        owner = '%s:%s' % (module.params['owner'], module.params['group'])
        listing = ''.join('  %s\n' % p for p in report.sample)
        more = '  ... and %d more\n' % (report.reowned - len(report.sample)) if report.reowned > len(report.sample) else ''
        result['diff'] = dict(
            before_header=path, after_header=path,
            before='%d path(s) not owned by %s:\n%s%s' % (report.reowned, owner, listing, more),
            after='all %d path(s) owned by %s\n' % (report.checked, owner),
        )
    module.exit_json(**result)


if __name__ == '__main__':
    main()

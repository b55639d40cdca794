#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: session_restore
short_description: Restore WhatsApp Web gateway sessions from a session_backup archive
version_added: 0.1.0
description:
  - Restores one, several or all tenants from an archive written by
    M(rubymanager.session_persistence.session_backup) into the sessions root O(dest).
  - The archive is verified against its manifest (every member's type, size, SHA-256, owner and mode) and
    against the checksum file beside it before anything is touched. A corrupted archive, or one with absolute
    paths, C(..), links, devices or members outside the tenants of its manifest, is refused and nothing changes.
  - A tenant identical to its archived copy is left alone, so a second run changes nothing. A tenant with valid
    creds that is newer than its archived copy is refused unless O(force). Any session that is replaced (also an
    invalid one) is first saved as a verified archive C(replaced-<tenant>-<time>.tar.gz) in O(backup_dir).
  - Each tenant is written into a hidden staging directory C(<dest>/.staging-<random>) (root-only until it is
    in place) with its creds file under the fixed name C(.creds.staged), flushed to disk, renamed to
    C(<dest>/<tenant>), and only then is its creds file renamed to its real name. At no moment does another
    creds file exist below O(dest).
author:
  - RubyManager maintainers (@rubymanager)
options:
  dest:
    description:
      - The sessions root, for example C(/home/RubyManager/web/whatsapp.rubymanager.app/sessions). It must exist.
    type: path
    required: true
  archive:
    description:
      - The archive to restore from. By default the newest C(sessions-*.tar.gz) (or C(.tar)) in O(backup_dir),
        an archive of every tenant; name C(tenants-*) archives (backups of named tenants) and C(replaced-*)
        archives (sessions a restore replaced) here.
      - An archive in another directory is verified the same way (with its C(.sha256) file when there is one).
    type: path
  backup_dir:
    description:
      - Where the newest archive is taken from, and where replaced sessions are saved.
    type: path
    default: /var/backups/rubymanager-sessions
  state_dir:
    description:
      - Root's own directory outside O(dest) (created owner root, mode 0700). The restore holds the lock
        C(session_migrate.lock) there, the one M(rubymanager.session_persistence.session_migrate) uses, so a
        restore and a migration never interleave. A C(.session_migrate.lock) of older versions in O(dest) is
        also held when it exists.
    type: path
    default: /var/lib/rubymanager/session_persistence
  sessions:
    description:
      - Names of the tenants to restore; each must be in the archive (checked before anything is touched).
        By default every tenant of the archive.
    type: list
    elements: str
  force:
    description:
      - Replace a tenant whose session has valid creds and is newer than its archived copy (its newest file is
        newer than the newest file of the copy). It is saved into O(backup_dir) first.
    type: bool
    default: false
  owner:
    description:
      - Owner of the restored files and directories. By default the owner recorded in the archive (by name
        when that user exists on the host, else by numeric id).
    type: str
  group:
    description:
      - Group of the restored files and directories. By default the group recorded in the archive.
    type: str
  lock_timeout:
    description: Seconds to wait for a migration or another restore holding the lock before failing.
    type: int
    default: 300
notes:
  - Modes and modification times come from the archive; setuid and sticky bits are never restored, and files
    never get the setgid bit.
  - A crash at any moment leaves each tenant as it was, restored, or (between the two final renames) without a
    creds file, plus at most C(.staging-*) directories; re-running the restore completes it and removes them.
  - Stop the gateway while restoring (the C(restore) playbook does it with C(restore_stop_service)); a running
    gateway keeps the old session in memory and may write it back.
attributes:
  check_mode:
    support: full
    description: Verifies the archive and reports what a real run would restore, replace, leave or refuse;
      changes nothing (not even O(state_dir) or the lock file).
  diff_mode:
    support: full
    description: One line per tenant, before (absent, invalid, valid...) and after.
  platform:
    support: full
    platforms: posix
    description: Needs C(flock), C(O_NOFOLLOW) and directory file descriptors (Linux, other POSIX systems).
'''

EXAMPLES = r'''
- name: Restore two tenants from the newest archive in /var/backups/rubymanager-sessions
  rubymanager.session_persistence.session_restore:
    dest: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
    sessions: [tenant-a, tenant-b]
    owner: www-data
    group: www-data

- name: Restore every tenant from a named archive, replacing newer sessions (they are saved first)
  rubymanager.session_persistence.session_restore:
    dest: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
    archive: /var/backups/rubymanager-sessions/sessions-20260101T120000Z.tar.gz
    force: true
'''

RETURN = r'''
archive:
  description: The archive used.
  returned: always
  type: str
  sample: /var/backups/rubymanager-sessions/sessions-20260101T120000Z.tar.gz
archive_sha256:
  description: SHA-256 of the archive file.
  returned: always
  type: str
archive_created:
  description: When the archive was written (UTC, from its manifest).
  returned: always
  type: str
  sample: '2026-01-01T12:00:00Z'
restored:
  description: Tenants restored (in check mode, that would be restored).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Tenant name.
      type: str
    previous:
      description: What was in O(dest) before (absent, an empty directory, invalid with the reason, valid...).
      type: str
    files:
      description: Number of files restored.
      type: int
    bytes:
      description: Number of bytes restored.
      type: int
    backup:
      description: The archive the replaced session was saved to; null when nothing was replaced.
      type: str
unchanged:
  description: Tenants identical to their archived copy, left alone.
  returned: always
  type: list
  elements: str
refused:
  description: Tenants with valid creds that are newer than their archived copy (see O(force)). The task fails
    when this is not empty.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Tenant name.
      type: str
    reason:
      description: Why.
      type: str
errors:
  description: Tenants that failed, with the path and the reason. The task fails when this is not empty.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Tenant name.
      type: str
    path:
      description: The path concerned.
      type: str
    msg:
      description: Path and reason.
      type: str
stale_staging:
  description: Staging directories of an interrupted earlier run, removed (or to be removed) by this run.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.pyversion import python_problem  # noqa: E402

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.archive import (  # noqa: E402
    DEFAULT_BACKUP_DIR, ArchiveError, BackupError)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.restore import (  # noqa: E402
    DEFAULT_STATE_DIR, LockTimeout, RestoreFailed, restore)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type='path', required=True),
            archive=dict(type='path'),
            backup_dir=dict(type='path', default=DEFAULT_BACKUP_DIR),
            state_dir=dict(type='path', default=DEFAULT_STATE_DIR),
            sessions=dict(type='list', elements='str'),
            force=dict(type='bool', default=False),
            owner=dict(type='str'),
            group=dict(type='str'),
            lock_timeout=dict(type='int', default=300),
        ),
        supports_check_mode=True,
    )
    # First: on an older Python the modules would fail later with an obscure error.
    problem = python_problem('session_restore')
    if problem:
        module.fail_json(msg=problem)
    params = module.params
    try:
        result = restore(params['dest'], archive=params['archive'], backup_dir=params['backup_dir'],
                         state_dir=params['state_dir'], sessions=params['sessions'], force=params['force'],
                         owner=params['owner'], group=params['group'], lock_timeout=params['lock_timeout'],
                         check_mode=module.check_mode, want_diff=module._diff)
    except (BackupError, ArchiveError, LockTimeout) as exc:
        module.fail_json(msg='%s; nothing was changed' % exc)
    except RestoreFailed as exc:
        module.fail_json(msg=str(exc), **_public(exc.result, module))
    except OSError as exc:
        module.fail_json(msg='%s: %s' % (exc.filename or params['dest'], exc.strerror or exc))
    module.exit_json(**_public(result, module))


def _public(result, module):
    for message in result.get('warnings', []):
        module.warn(message)
    return dict((key, value) for key, value in result.items() if key != 'warnings')


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: session_backup
short_description: Back up the WhatsApp Web gateway sessions into a verified tar archive
version_added: 0.1.0
description:
  - Writes one archive of the sessions root O(path) into O(backup_dir), named C(sessions-<UTC time>.tar.gz);
    with O(sessions), an archive of those tenants named C(tenants-<UTC time>.tar.gz).
  - The archive is a POSIX (pax) tar file, gzip-compressed by default, that C(tar) can list and extract by hand.
    It keeps owners and groups (ids and names), modes including the setgid bit, and modification times.
  - Its last member C(.rubymanager-manifest.json) lists the tenants and every file with its size and SHA-256.
    A checksum file C(<archive>.sha256) (the C(sha256sum) format) is written beside the archive.
  - Each session is read once and compared before and after (inode, size, mtime and ctime of every file and
    directory); a session that changed while it was read is read again (O(retries)), then reported and left
    out, and the task fails.
  - The archive is written under a temporary name, read back and verified against its manifest, flushed to
    disk and only then renamed into place. Old archives beyond O(keep) are removed afterwards.
  - Use M(rubymanager.session_persistence.session_restore) to restore from it.
author:
  - RubyManager maintainers (@rubymanager)
options:
  path:
    description:
      - The sessions root, for example C(/home/RubyManager/web/whatsapp.rubymanager.app/sessions).
    type: path
    required: true
  backup_dir:
    description:
      - Directory on the host that holds the archives. It is created when missing (owner root, mode 0700);
        an existing one must be a real directory owned by the user running the task, and group and other
        permissions are removed from it.
      - It must not be inside O(path), where the service user could read or replace the archives.
    type: path
    default: /var/backups/rubymanager-sessions
  sessions:
    description:
      - Names of the tenants to back up. By default every tenant directory of O(path).
      - Hidden entries of the sessions root (staging directories, lock files) are never backed up.
    type: list
    elements: str
  layout:
    description:
      - The on-disk layout, used to find each tenant's creds file (recorded in the manifest and checked to be
        valid JSON). See M(rubymanager.session_persistence.session_migrate).
    type: str
    choices: [baileys_csharp, baileys_multi_file]
    default: baileys_csharp
  creds_file:
    description:
      - Overrides the creds file name of the layout. C({name}) is replaced with the tenant name.
    type: str
  keep:
    description:
      - How many archives of the same kind to keep in O(backup_dir), this one included (C(sessions-*) archives
        of every tenant and C(tenants-*) archives of named tenants are counted apart, so a backup of a few
        tenants never removes a full one); older ones are removed with their checksum files. V(0) keeps every
        archive.
      - Nothing is removed when a session could not be backed up.
      - Archives written by M(rubymanager.session_persistence.session_restore) (C(replaced-*)) are never removed.
    type: int
    default: 7
  compress:
    description: Compress the archive with gzip (C(.tar.gz)); V(false) writes a plain C(.tar).
    type: bool
    default: true
  retries:
    description: How many more times a session that changed while it was read is read again.
    type: int
    default: 3
notes:
  - The sessions root is writable by the service user and the module runs as root. Nothing in it is followed;
    symlinks, FIFOs, sockets, devices and files with more than one hard link are listed under RV(skipped) and
    never read. Hidden entries at the top of the sessions root are not tenants and are left out.
  - Stop the gateway during the backup for a snapshot of all tenants at one moment (the C(backup) playbook
    does it with C(backup_stop_service)); without that, each tenant is still consistent on its own.
  - The archive holds every tenant's private keys. It is mode 0600 in a 0700 directory; keep any copy as
    secret as the sessions themselves.
  - 'Emergency restore by hand: C(tar -tvzf ARCHIVE) lists it; C(tar -xzpf ARCHIVE --numeric-owner -C /tmp/restore
    TENANT) extracts one tenant with its owners and modes.'
attributes:
  check_mode:
    support: full
    description: Reports the archive it would write (name, tenants, file count and bytes from metadata) and the
      archives the retention would remove; writes nothing, not even O(backup_dir).
  diff_mode:
    support: full
    description: Lists the archives in O(backup_dir) before and after.
  platform:
    support: full
    platforms: posix
    description: Needs C(O_NOFOLLOW) and directory file descriptors (Linux, other POSIX systems).
'''

EXAMPLES = r'''
- name: Back up every tenant into /var/backups/rubymanager-sessions, keeping 7 archives
  rubymanager.session_persistence.session_backup:
    path: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
  register: backup

- name: Back up two tenants into another directory, keeping every archive
  rubymanager.session_persistence.session_backup:
    path: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
    sessions: [tenant-a, 7afd5398-97c3-11eb-a990-f23c917564d6]
    backup_dir: /srv/backups/whatsapp
    keep: 0

- name: Show the archive
  ansible.builtin.debug:
    msg: "{{ backup.archive }} ({{ backup.files }} files of {{ backup.tenants | length }} tenants)"
'''

RETURN = r'''
archive:
  description: The archive written (in check mode, that would be written).
  returned: always
  type: str
  sample: /var/backups/rubymanager-sessions/sessions-20260101T120000Z.tar.gz
checksum_file:
  description: The C(sha256sum) file beside the archive.
  returned: always
  type: str
  sample: /var/backups/rubymanager-sessions/sessions-20260101T120000Z.tar.gz.sha256
sha256:
  description: SHA-256 of the archive file.
  returned: when not in check mode
  type: str
size:
  description: Size of the archive file in bytes.
  returned: when not in check mode
  type: int
backup_dir:
  description: The backup directory.
  returned: always
  type: str
backup_dir_changes:
  description: What was (or would be) done to O(backup_dir) itself, such as creating it or removing group and
    other permissions.
  returned: always
  type: list
  elements: str
tenants:
  description: The tenants in the archive.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Tenant name.
      type: str
    files:
      description: Number of files.
      type: int
    bytes:
      description: Number of bytes.
      type: int
    creds_valid:
      description: Whether its creds file is a non-empty JSON object (not in check mode).
      type: bool
files:
  description: Number of files in the archive.
  returned: always
  type: int
bytes:
  description: Number of bytes of those files (uncompressed).
  returned: always
  type: int
not_found:
  description: Tenants named in O(sessions) that are not in O(path).
  returned: always
  type: list
  elements: str
skipped:
  description: Entries not backed up (symlinks, special files, hard-linked files, unsafe names), with the reason.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The entry.
      type: str
    reason:
      description: Why it was left out.
      type: str
failed:
  description: Tenants that could not be read consistently (or at all) and are not in the archive. The task
    fails when this is not empty.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Tenant name.
      type: str
    path:
      description: What changed or could not be read.
      type: str
    msg:
      description: The reason.
      type: str
removed:
  description: Older archives removed by the retention (in check mode, that would be removed).
  returned: always
  type: list
  elements: str
stale_temp:
  description: Temporary files of an interrupted earlier backup, removed from O(backup_dir).
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.pyversion import python_problem  # noqa: E402

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.archive import (  # noqa: E402
    DEFAULT_BACKUP_DIR, ArchiveError, BackupError)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.backup import (  # noqa: E402
    DEFAULT_KEEP, BackupFailed, backup)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (  # noqa: E402
    DEFAULT_LAYOUT, LAYOUT_NAMES)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            backup_dir=dict(type='path', default=DEFAULT_BACKUP_DIR),
            sessions=dict(type='list', elements='str'),
            layout=dict(type='str', choices=list(LAYOUT_NAMES), default=DEFAULT_LAYOUT),
            creds_file=dict(type='str'),
            keep=dict(type='int', default=DEFAULT_KEEP),
            compress=dict(type='bool', default=True),
            retries=dict(type='int', default=3),
        ),
        supports_check_mode=True,
    )
    # First: on an older Python the modules would fail later with an obscure error.
    problem = python_problem('session_backup')
    if problem:
        module.fail_json(msg=problem)
    params = module.params
    try:
        result = backup(params['path'], backup_dir=params['backup_dir'], sessions=params['sessions'],
                        layout=params['layout'], creds_file=params['creds_file'], keep=params['keep'],
                        compress=params['compress'], retries=params['retries'], check_mode=module.check_mode,
                        want_diff=module._diff)
    except (BackupError, ArchiveError) as exc:
        module.fail_json(msg='%s; nothing was written' % exc)
    except BackupFailed as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except OSError as exc:
        module.fail_json(msg='%s: %s' % (exc.filename or params['path'], exc.strerror or exc))
    for item in result['skipped']:
        module.warn('%s: %s' % (item['path'], item['reason']))
    module.exit_json(**result)


if __name__ == '__main__':
    main()

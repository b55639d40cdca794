# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verified removal of legacy session files (``mode: move``): only what is still exactly what was copied.

Guarded by the crash tests: every fault point is reached through ``safecopy.fault_point`` (``fdlayer``).

Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import os
import stat

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import safecopy as fdlayer
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (
    SessionError, lstat_at, open_dir, os_error, same_file)


def remove_verified(plan, root_fd, last=None, dry_run=False):
    """Remove the legacy files of ``plan`` that are still exactly what was copied, then empty directories.

    ``last`` (the creds file name) is removed after everything else, so that a run interrupted half-way
    leaves a legacy directory that is still found (and finished) by the next run.
    Returns ``(fully_removed, warnings)``. Anything new or changed since the copy is kept and warned about.
    ``dry_run`` (check mode) removes nothing and returns what a real call would return.
    """
    warnings = []
    try:
        top = open_dir(plan.name, dir_fd=root_fd)
    except OSError as exc:
        raise os_error(exc, plan.source)
    by_dir = collections.defaultdict(dict)
    sidecars = []
    for item in plan.files:
        if item.src_dir is None:
            sidecars.append(item)
        else:
            by_dir[item.src_dir][item.src_name] = item
    final = by_dir[()].pop(last, None) if last is not None else None
    try:
        if os.fstat(top).st_ino != plan.dirs[0].st.st_ino:
            raise SessionError(plan.source, 'was replaced during the migration; legacy copy not removed')
        complete = _remove_dir(top, (), plan, by_dir, warnings, keep=last if final is not None else None,
                               dry_run=dry_run)
        for item in sidecars:
            path = plan.source_path(None, item.src_name)
            st = lstat_at(root_fd, item.src_name)
            if st is None or not same_file(st, item.st):
                warnings.append('%s: changed or vanished after it was copied; kept' % path)
                complete = False
                continue
            if not dry_run:
                fdlayer.fault_point('remove')
                os.unlink(item.src_name, dir_fd=root_fd)
        if final is not None:
            st = lstat_at(top, last)
            if st is not None and same_file(st, final.st):
                if not dry_run:
                    fdlayer.fault_point('remove')
                    os.unlink(last, dir_fd=top)
            elif st is not None:
                warnings.append('%s: changed after it was copied; kept in the legacy directory'
                                % plan.source_path((), last))
                complete = False
    finally:
        os.close(top)
    if complete and not dry_run:
        try:
            fdlayer.fault_point('remove')
            os.rmdir(plan.name, dir_fd=root_fd)
        except OSError as exc:
            warnings.append('%s: not removed (%s)' % (plan.source, exc.strerror))
            complete = False
    return complete, warnings


def _remove_dir(fd, rel, plan, by_dir, warnings, keep=None, dry_run=False):
    """Remove verified entries below ``fd``; True when the directory is now empty (except ``keep``)."""
    verified = by_dir.get(rel, {})
    empty = True
    with os.scandir(fd) as it:
        entries = sorted(it, key=lambda entry: entry.name)
    for entry in entries:
        if keep is not None and entry.name == keep:
            continue
        st = entry.stat(follow_symlinks=False)
        path = plan.source_path(rel, entry.name)
        if stat.S_ISDIR(st.st_mode):
            sub = open_dir(entry.name, dir_fd=fd)
            try:
                sub_empty = _remove_dir(sub, rel + (entry.name,), plan, by_dir, warnings, dry_run=dry_run)
            finally:
                os.close(sub)
            if sub_empty:
                if not dry_run:
                    fdlayer.fault_point('remove')
                    os.rmdir(entry.name, dir_fd=fd)
            else:
                empty = False
            continue
        item = verified.get(entry.name)
        if item is not None and same_file(st, item.st):
            if not dry_run:
                fdlayer.fault_point('remove')
                os.unlink(entry.name, dir_fd=fd)
            continue
        empty = False
        if item is None and path in plan.left_behind:
            continue  # already reported during the scan
        if item is None:
            warnings.append('%s: appeared after the copy was made; kept in the legacy directory' % path)
        else:
            warnings.append('%s: changed after it was copied; kept in the legacy directory' % path)
    return empty

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters through which the session_storage role applies the collection's rules, the same code the modules use
(plugins/module_utils): sessions root, modes, tenant names, owners and groups, and the gateway unit's sandbox.

The rules themselves live in module_utils (rules.py, names.py, service.py) and are unit-tested there; these
filters only adapt them to Jinja: a ``*_problem`` filter returns the message of the broken rule, or '' when the
value is fine, so that an ``assert`` task can show it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import names, rules, service


def root_problem(path, option='session_storage_root'):
    """Why ``path`` cannot be the sessions root (not a normalised absolute path, ``/``, top-level, inside a system
    directory), or ''."""
    return rules.normalised_root_problem(path, option) or ''


def mode_problem(value, option, kind='dir'):
    """Why ``value`` is not a valid mode for ``kind``: ``root`` (any octal mode: the root may be world-readable),
    ``dir`` or ``file`` (session directories and files, see ``rules.parse_mode``), or ''."""
    try:
        if kind == 'root':
            rules.octal_mode(value, option)
        else:
            rules.parse_mode(value, option, kind)
    except rules.RuleError as exc:
        return str(exc)
    return ''


def bad_session_names(value):
    """The entries of the list ``value`` that are not safe session (tenant) names, as strings."""
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError('bad_session_names expects a list of names, got %s' % type(value).__name__)
    return [str(name) for name in names.bad_names(value)]


def getent_problem(entries, value, what, option):
    """Why ``value`` (a name or numeric id, looked up with ansible.builtin.getent into ``entries``) is not an
    existing user (``what='owner'``) or group, or ''."""
    try:
        rules.getent_id(entries, value, what, option)
    except rules.RuleError as exc:
        return str(exc)
    return ''


def getent_id(entries, value, what):
    """The numeric id of ``value`` looked up with ansible.builtin.getent into ``entries``."""
    try:
        return rules.getent_id(entries, value, what)
    except rules.RuleError as exc:
        raise AnsibleFilterError(str(exc))


def unit_runs_as(props, entries, owner):
    """Whether the unit (``systemctl show`` properties) runs as ``owner``: its ``User=`` is the owner's name or
    uid (``entries``: the getent passwd facts of the owner)."""
    user = props.get('User') or ''
    if not user:
        return False
    try:
        uid = rules.getent_id(entries, owner, 'owner')
    except rules.RuleError:
        return False
    if user == str(owner) or user == str(uid):
        return True
    return any(name == user and item and int(item[1]) == uid for name, item in (entries or {}).items())


def service_unit(name):
    """The unit name with ``.service`` added when it has no suffix ('' stays '')."""
    return service.unit_name(name) if name else ''


def service_problem(value, what):
    """Why ``value`` is not usable as ``what``: ``unit`` (a service unit name), ``env_var`` (an environment
    variable name, '' allowed) or ``unit_path`` (a path a unit file can name), or ''."""
    check = dict(unit=service.unit_name_problem, env_var=service.env_var_problem,
                 unit_path=service.unit_path_problem)[what]
    return check(value) or ''


def systemctl_show_argv(unit):
    """The ``systemctl show`` command line that reads what the role needs of ``unit``."""
    return ['systemctl', 'show', '--no-pager', '-p', ','.join(service.ROLE_PROPERTIES), '--', unit]


def systemctl_show(text):
    """``systemctl show`` output as a dict."""
    return service.parse_show(text or '')


def dropin_plan(props, root, env_var=''):
    """The role's drop-in for a unit with properties ``props`` (see ``service.plan_dropin``)."""
    return service.plan_dropin(props, root, env_var or '')


def dropin_problem(props, root, env_var=''):
    """Why the unit (properties read after the drop-in was installed) still cannot write ``root``, or ''."""
    return service.dropin_problem(props, root, env_var or '') or ''


def restart_pending(props, dropin_changed, dropin_mtime=None):
    """Whether the running unit predates its drop-in (see ``service.restart_pending``)."""
    return service.restart_pending(props, bool(dropin_changed), dropin_mtime)


class FilterModule(object):
    """The collection's rules as filters."""

    def filters(self):
        return dict(
            root_problem=root_problem, mode_problem=mode_problem, bad_session_names=bad_session_names,
            getent_problem=getent_problem, getent_id=getent_id, unit_runs_as=unit_runs_as,
            service_unit=service_unit, service_problem=service_problem, systemctl_show_argv=systemctl_show_argv,
            systemctl_show=systemctl_show, dropin_plan=dropin_plan, dropin_problem=dropin_problem,
            restart_pending=restart_pending,
        )

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters through which the session_storage role applies the modules' rules."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import grp
import pwd

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.rubymanager.session_persistence.plugins.filter.session_rules import FilterModule
from ansible_collections.rubymanager.session_persistence.plugins.module_utils import rules

F = FilterModule().filters()


@pytest.mark.parametrize('root,expect', [
    ('sessions', "session_storage_root 'sessions' is not a normalised absolute path"),
    ('/home/RubyManager/../../etc/x', 'is not a normalised absolute path'),
    ('/', "session_storage_root '/' is the filesystem root"),
    ('/home', "session_storage_root '/home' is a top-level directory"),
    ('/var/', "session_storage_root '/var/' is a top-level directory"),
    ('/etc/whatsapp/sessions', 'inside the system directory /etc'),
    ('/usr/local/sessions', 'inside the system directory /usr'),
    ('/srv/a\x00b', 'is not a normalised absolute path'),
    (None, 'is not a normalised absolute path'),
])
def test_root_problem(root, expect):
    assert expect in F['root_problem'](root)


def test_good_root():
    assert F['root_problem']('/home/RubyManager/web/whatsapp.rubymanager.app/sessions') == ''
    assert F['root_problem']('/srv/whatsapp/sessions/') == ''


def test_modes_one_rule_with_session_migrate():
    assert "session_storage_mode is 'rwxr-xr-x', which is not an octal mode" in F['mode_problem'](
        'rwxr-xr-x', 'session_storage_mode', 'root')
    assert "session_storage_mode is '493', which is not an octal mode" in F['mode_problem'](
        493, 'session_storage_mode', 'root')
    assert F['mode_problem']('2755', 'session_storage_mode', 'root') == ''
    assert "session_storage_tenant_mode is '27500'" in F['mode_problem']('27500', 'session_storage_tenant_mode')
    # Tenant directories are session directories: the rule of session_migrate's dir_mode, word for word.
    for mode in ('2755', '2700', '0640', '2750', '2770', '0750'):
        try:
            rules.parse_mode(mode, 'dir_mode', 'dir')
            expected = ''
        except rules.RuleError as exc:
            expected = str(exc).replace('dir_mode', 'session_storage_tenant_mode')
        assert F['mode_problem'](mode, 'session_storage_tenant_mode') == expected
    assert 'gives permissions to others' in F['mode_problem']('2755', 'session_storage_tenant_mode')


def test_bad_session_names():
    names = ['ok', 'a/b', '..', '.staging', '', 'a\x00b', u'\u00e9' * 128, u'\u00e9' * 127, 7]
    assert F['bad_session_names'](names) == ['a/b', '..', '.staging', '', 'a\x00b', u'\u00e9' * 128, '7']
    with pytest.raises(AnsibleFilterError):
        F['bad_session_names']('not-a-list')


def test_owner_and_group_by_name_or_numeric_id():
    """What ansible.builtin.getent returns for a name, for a numeric key, and for an unknown key."""
    root = pwd.getpwuid(0)
    by_name = {root.pw_name: ['x', '0', '0', '', root.pw_dir, root.pw_shell]}
    assert F['getent_problem'](by_name, root.pw_name, 'owner', 'session_storage_owner') == ''
    assert F['getent_problem'](by_name, '0', 'owner', 'session_storage_owner') == ''  # getent 0 -> root's entry
    assert F['getent_id'](by_name, '0', 'owner') == 0
    group = grp.getgrgid(0).gr_name
    assert F['getent_problem']({group: ['x', '0', '']}, 0, 'group', 'session_storage_group') == ''
    assert "session_storage_owner 'no-such-user' does not exist" in F['getent_problem'](
        {'no-such-user': None}, 'no-such-user', 'owner', 'session_storage_owner')
    assert "session_storage_group '4242' does not exist" in F['getent_problem'](
        {'4242': None}, '4242', 'group', 'session_storage_group')
    with pytest.raises(AnsibleFilterError):
        F['getent_id']({'nope': None}, 'nope', 'owner')


def test_unit_runs_as_owner_by_name_or_uid():
    entries = {'www-data': ['x', '33', '33', 'www-data', '/var/www', '/usr/sbin/nologin']}
    assert F['unit_runs_as']({'User': 'www-data'}, entries, 'www-data')
    assert F['unit_runs_as']({'User': '33'}, entries, 'www-data')
    assert F['unit_runs_as']({'User': 'www-data'}, entries, '33')
    assert not F['unit_runs_as']({'User': 'nobody'}, entries, 'www-data')
    assert not F['unit_runs_as']({'User': ''}, entries, 'www-data')


@pytest.mark.parametrize('value,what,bad', [
    ('whatsapp-gateway', 'unit', False), ('gw@1.service', 'unit', False), ('../gw-plain.service', 'unit', True),
    ('system/gw-plain', 'unit', True), ('gw-plain.socket', 'unit', True), ('gw@.service', 'unit', True),
    ('gw plain', 'unit', True), ('WHATSAPP_SESSIONS_ROOT', 'env_var', False), ('', 'env_var', False),
    ('1ROOT', 'env_var', True), ('WHATSAPP-ROOT', 'env_var', True), ('/srv/what:sapp/sessions', 'unit_path', True),
    ('/srv/what sapp/sessions', 'unit_path', True), ('/srv/100%/sessions', 'unit_path', True),
    ('/srv/whatsapp/sessions', 'unit_path', False),
])
def test_service_problems(value, what, bad):
    assert (F['service_problem'](value, what) != '') is bad


def test_systemctl_show_round_trip():
    argv = F['systemctl_show_argv']('gw.service')
    assert argv[:2] == ['systemctl', 'show'] and argv[-1] == 'gw.service'
    assert 'ReadOnlyPaths' in argv[4] and 'InaccessiblePaths' in argv[4] and 'ActiveEnterTimestamp' in argv[4]
    props = F['systemctl_show']('LoadState=loaded\nProtectHome=read-only\nEnvironment=A=b C=d\n')
    assert props == {'LoadState': 'loaded', 'ProtectHome': 'read-only', 'Environment': 'A=b C=d'}
    root = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'
    plan = F['dropin_plan'](props, root, 'WHATSAPP_SESSIONS_ROOT')
    assert plan['access'] == 'read-write' and plan['problem'] is None
    assert F['dropin_problem'](props, root, '') != ''
    props.update(ReadWritePaths=root, Environment='WHATSAPP_SESSIONS_ROOT=' + root)
    assert F['dropin_problem'](props, root, 'WHATSAPP_SESSIONS_ROOT') == ''
    assert F['service_unit']('gw') == 'gw.service' and F['service_unit']('') == ''

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real gateway_log_check module, run the way Ansible runs it, over real log files. (journald is proved on
real systemd by the ``cutover`` Molecule scenario.)"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import yaml

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import gatewaylog
from ansible_collections.rubymanager.session_persistence.plugins.modules import gateway_log_check
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.modules.modrunner import ModuleRunner

RUNNER = ModuleRunner('gateway_log_check')
ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'


def loaded(tenant, root=ROOT):
    return 'Successfully loaded existing credentials for session %s from %s/%s/%s_creds.json' % (
        tenant, root, tenant, tenant)


def test_documentation_matches_the_argument_spec_and_the_gateway_wording():
    doc = yaml.safe_load(gateway_log_check.DOCUMENTATION)
    assert doc['module'] == 'gateway_log_check'
    options = doc['options']
    assert options['loaded_patterns']['default'] == list(gatewaylog.DEFAULT_LOADED_PATTERNS)
    assert options['new_patterns']['default'] == list(gatewaylog.DEFAULT_NEW_PATTERNS)
    assert options['migrated_patterns']['default'] == list(gatewaylog.DEFAULT_MIGRATED_PATTERNS)
    assert set(yaml.safe_load(gateway_log_check.RETURN)) == {'ok', 'restored', 'new', 'failed', 'problems', 'unit',
                                                             'lines_read', 'seconds', 'log_positions'}
    yaml.safe_load(gateway_log_check.EXAMPLES)


def test_mark_then_check_over_log_files(tmp_path):
    log = tmp_path / 'whatsapp-20260302.log'
    log.write_text(loaded('a', root='/old/netcoreapp') + '\n')     # what the old build logged before the stop
    args = dict(sessions_root=ROOT + '/', log_source='files', log_files=[str(tmp_path / 'whatsapp-*.log')])
    mark = RUNNER.run(tmp_path, dict(args, mark_only=True))
    assert mark['changed'] is False and mark['log_positions'] == {str(log): log.stat().st_size}
    assert 'ok' not in mark
    with open(str(log), 'a') as handle:
        handle.write('[INF] %s\n[INF] No existing credentials found for session n, will create new ones\n' % loaded('a'))
    result = RUNNER.run(tmp_path, dict(args, tenants=['a'], log_positions=mark['log_positions'], settle=0, timeout=5),
                        check=True)
    assert not result.get('failed'), result
    assert result['ok'] is True and result['restored'] == ['a'] and result['new'] == ['n'] and result['failed'] == []
    assert result['problems'] == [] and result['lines_read'] == 2 and 'unit' not in result
    # without the mark the old build's line is read too: it loaded a legacy folder
    result = RUNNER.run(tmp_path, dict(args, tenants=['a', 'b'], settle=0, timeout=1))
    assert result['ok'] is False and result['restored'] == []
    assert [f['tenant'] for f in result['failed']] == ['a', 'b']
    assert result['problems'][0].startswith('a: loaded its credentials from /old/netcoreapp/a/a_creds.json')
    assert result['problems'][1] == ('b: it had a valid session before, but the gateway logged nothing about loading '
                                     'its credentials within 1 s')


def test_bad_input_is_named(tmp_path):
    base = dict(sessions_root=ROOT, log_source='files', log_files=[str(tmp_path / '*.log')])
    result = RUNNER.run(tmp_path, dict(base, new_patterns=['QR (\\S+)']))
    assert result['failed'] and "The new pattern 'QR (\\\\S+)' has no named group (?P<tenant>...)" in result['msg']
    result = RUNNER.run(tmp_path, dict(base, log_positions={'/x.log': 'end'}))
    assert result['failed'] and 'log_positions must map each log file to a byte offset' in result['msg']
    result = RUNNER.run(tmp_path, dict(base, timeout=-1))
    assert result['failed'] and 'timeout (-1) and settle (5) must be 0 or more seconds' in result['msg']
    result = RUNNER.run(tmp_path, dict(sessions_root=ROOT))
    assert result['failed'] and 'log_source is journald but all of the following are missing: service_unit' in result['msg']


def test_through_ansible_playbook(tmp_path):
    log = tmp_path / 'gw.log'
    log.write_text(loaded('a') + '\n')
    result, output = RUNNER.run_ansible(tmp_path, dict(sessions_root=ROOT, log_source='files', log_files=[str(log)],
                                                       tenants=['a'], settle=0))
    assert result['ok'] is True and result['restored'] == ['a'], output

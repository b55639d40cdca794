# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report rules of the deploy and migrate playbooks (plugins/filter/report.py)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.rubymanager.session_persistence.plugins.filter.report import (
    FilterModule, report_document, report_totals, session_report, summary_lines)

ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'


def migrate_result(**kw):
    result = {'changed': True, 'migrated': [], 'present': [], 'not_found': [], 'invalid': [], 'duplicates': []}
    result.update(kw)
    return result


def info(sessions=(), legacy=(), legacy_only=(), problems=()):
    return {'sessions_root': ROOT, 'exists': True, 'problems': list(problems), 'legacy_only': list(legacy_only),
            'sessions': [dict(name=n, creds_present=p, creds_valid=v) for n, p, v in sessions],
            'legacy_sessions': [dict(name=n, creds_present=True, creds_valid=v) for n, v in legacy]}


def test_migrate_report_lists_and_counts_what_the_module_did():
    r = session_report(migrate_result(
        migrated=[{'name': 'a', 'source': '/old/a', 'dest': ROOT + '/a', 'files': 3, 'bytes': 300},
                  {'name': 'b', 'source': '/old/b', 'dest': ROOT + '/b', 'files': 2, 'bytes': 20}],
        present=['c'], not_found=['z'], invalid=[{'name': 'e', 'path': '/old/e', 'reason': 'creds file is empty'}],
        duplicates=[{'name': 'a', 'used': '/old/a', 'ignored': ['/older/a']}], removed=['/old/a']),
        kind='migrate', host='gw1', root=ROOT)
    assert r['host'] == 'gw1' and r['playbook'] == 'migrate' and r['sessions_root'] == ROOT
    assert [m['name'] for m in r['migrated']] == ['a', 'b']
    assert r['counts'] == {'migrated': 2, 'files_migrated': 5, 'bytes_migrated': 320, 'present': 1, 'not_found': 1,
                           'invalid': 1, 'duplicates': 1, 'removed': 1, 'lost': 0, 'new_tenants': 0, 'problems': 0,
                           'errors': 0, 'corrupt': 0, 'repaired': 0, 'skipped_sessions': 0, 'skipped_roots': 0}
    assert r['status'] == 'ok'
    json.dumps(r)  # what the playbook writes must be plain JSON


def test_deploy_report_finds_a_lost_tenant_and_new_tenants():
    before = info(sessions=[('kept', True, True)], legacy=[('moved', True), ('broken', False)])
    after = info(sessions=[('kept', True, True), ('fresh', False, False)], problems=['x: wrong owner'])
    r = session_report(migrate_result(not_found=['asked']), kind='deploy', host='gw1', before=before, after=after)
    # 'moved' had a valid legacy session before and is not in the root afterwards: lost.
    assert r['lost'] == ['moved']
    assert r['new_tenants'] == ['asked', 'fresh']
    assert r['problems'] == ['x: wrong owner'] and r['counts']['problems'] == 1
    assert r['status'] == 'failed'


def test_dry_run_counts_predicted_migrations_as_present():
    before = info(legacy=[('a', True)], legacy_only=['a'])
    after = info()
    skipped = {'changed': False, 'skipped': True, 'skip_reason': 'Conditional result was False'}
    r = session_report(skipped, kind='deploy', before=before, after=after, check_mode=True)
    assert r['migrated'] == [{'name': 'a', 'predicted': True}]
    assert r['lost'] == [] and r['status'] == 'ok' and r['check_mode'] is True
    assert r['ran']['migrate'] is False
    # The same facts without --check: the tenant is lost.
    real = session_report(skipped, kind='deploy', before=before, after=after, check_mode=False)
    assert real['lost'] == ['a'] and real['status'] == 'failed'


def test_a_task_that_did_not_run_gives_an_empty_report():
    r = session_report({}, kind='migrate', host='gw1')
    assert r['migrated'] == [] and r['ran']['migrate'] is False and r['status'] == 'ok'


def test_module_failure_is_reported():
    r = session_report({'failed': True, 'msg': '/srv/s: permission denied', 'migrated': []}, host='gw1')
    assert r['errors'] == ['/srv/s: permission denied'] and r['status'] == 'failed'


def test_totals_sum_hosts_and_name_those_not_ok():
    ok = session_report(migrate_result(migrated=[{'name': 'a', 'files': 2, 'bytes': 10}]), host='gw1')
    bad = session_report({'failed': True, 'msg': 'boom'}, host='gw2')
    t = report_totals([ok, bad], failed_hosts=['gw3'])
    assert t['hosts'] == 2 and t['migrated'] == 1 and t['bytes_migrated'] == 10 and t['errors'] == 1
    assert t['hosts_not_ok'] == ['gw2'] and t['hosts_failed'] == ['gw3'] and t['status'] == 'failed'
    assert report_totals({'gw1': ok})['status'] == 'ok'
    assert report_totals([])['hosts'] == 0


def test_document_keys_hosts_by_name():
    ok = session_report(migrate_result(), host='gw1')
    doc = report_document([ok], kind='deploy', check_mode=True, generated_at='2026-01-01T00:00:00Z')
    assert doc['report_version'] == 1 and doc['playbook'] == 'deploy' and doc['check_mode'] is True
    assert list(doc['hosts']) == ['gw1'] and doc['totals']['hosts'] == 1


@pytest.mark.parametrize('call, message', [
    (lambda: session_report({}, kind='cutover'), "kind is 'cutover'"),
    (lambda: session_report('oops'), 'must be the registered result of a task'),
    (lambda: session_report({}, before=['x']), 'before must be the registered result'),
    (lambda: report_totals('gw1'), 'expected a list of session_report results'),
    (lambda: report_totals([{'host': 'gw1'}]), 'is not a session_report result'),
])
def test_bad_input_names_the_value(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'session_report', 'report_totals', 'report_document', 'summary_lines'}


def test_a_lost_tenant_is_reported_with_the_cause_found_in_the_results():
    before = info(sessions=[('corrupted', True, True)], legacy=[('failed', True), ('corrupted', True)])
    after = info(sessions=[('corrupted', True, False)])
    after['sessions'][0]['creds_problem'] = 'creds file is not JSON (Expecting value: line 1 column 1)'
    migrate = migrate_result(errors=[{'name': 'failed', 'path': '/old/failed/x',
                                      'msg': '/old/failed/x: changed while being migrated'}],
                             corrupt=[{'name': 'corrupted', 'path': ROOT + '/corrupted/corrupted_creds.json',
                                       'reason': 'creds file is not JSON'}])
    r = session_report(migrate, kind='deploy', before=before, after=after, root=ROOT)
    assert r['lost'] == ['corrupted', 'failed']
    assert 'changed while being migrated' in r['lost_causes']['failed']
    assert 'not usable: creds file is not JSON' in r['lost_causes']['corrupted']
    assert 'corrupted_creds.json is corrupt' in r['lost_causes']['corrupted']
    assert r['counts']['corrupt'] == 1 and r['status'] == 'failed'
    # With no error anywhere the message says so instead of pointing at errors that do not exist.
    quiet = session_report(migrate_result(), kind='deploy', before=info(sessions=[('gone', True, True)]),
                           after=info(), root=ROOT)
    assert quiet['lost'] == ['gone'] and 'reported no error for it' in quiet['lost_causes']['gone']


def test_summary_lines_show_what_was_skipped_repaired_and_corrupt():
    migrate = migrate_result(
        migrated=[{'name': 'a', 'source': '/old/a', 'dest': ROOT + '/a', 'files': 3, 'bytes': 300,
                   'backup': '/var/lib/x/backup/a.1'}],
        skipped_sessions=[{'path': '/old/caf\\xe9', 'reason': 'its name is not valid UTF-8'}],
        skipped_roots=[{'path': '/old/missing', 'reason': 'does not exist'}],
        repaired=[{'name': 'r', 'renamed': [{'from': 'pre-key\\7.json', 'to': 'pre-key/7.json'}], 'backup': '/b'}],
        corrupt=[{'name': 'c', 'path': ROOT + '/c/c_creds.json', 'reason': 'creds file is not JSON'}],
        removed=['/old/a'])
    lines = summary_lines(session_report(migrate, kind='migrate', root=ROOT, check_mode=True), mode='move')
    text = '\n'.join(lines)
    assert lines[0].startswith('DRY RUN') and 'would migrate (1): a' in text
    assert '  a <- /old/a (3 files, 300 bytes), old one backed up to /var/lib/x/backup/a.1' in text
    assert 'legacy directory skipped: /old/caf\\xe9 (its name is not valid UTF-8)' in text
    assert 'legacy roots not searched (1): /old/missing (does not exist)' in text
    assert 'would repair r: 1 file name(s) normalised (pre-key\\7.json -> pre-key/7.json)' in text
    assert 'CORRUPT in the sessions root: %s/c/c_creds.json (creds file is not JSON)' % ROOT in text
    assert 'legacy copies that would be removed: /old/a' in text
    with pytest.raises(AnsibleFilterError):
        summary_lines({'not': 'a report'})

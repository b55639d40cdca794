# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Machine-readable reports of the deploy and migrate playbooks: one rule, in one place, unit-tested.

session_report builds one host's report from the results the playbook registered (session_migrate and, for
deploy, session_info before and after the run); report_totals adds the hosts' counts up, for the report file and
for set_stats (AWX/AAP job summaries). Documentation: session_report.yml and report_totals.yml beside this file.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

REPORT_VERSION = 1
KINDS = ('deploy', 'migrate')
# The counts every host report carries, in this order; report_totals sums them over the hosts.
COUNTS = ('migrated', 'files_migrated', 'bytes_migrated', 'present', 'not_found', 'invalid', 'duplicates',
          'removed', 'lost', 'new_tenants', 'problems', 'errors', 'corrupt', 'repaired', 'skipped_sessions',
          'skipped_roots')


def _dict(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError('session_report: %s must be the registered result of a task (a dict), not %s %r'
                                 % (what, type(value).__name__, value))
    return value


def _skipped(result):
    return bool(result.get('skipped')) or not result


def _valid_names(sessions):
    return set(s.get('name') for s in sessions or [] if s.get('creds_valid'))


def session_report(migrate, kind='migrate', host=None, before=None, after=None, check_mode=False, root=None):
    """One host's report.

    migrate: the registered result of session_migrate (may be skipped, or empty when the task did not run).
    before, after: registered results of session_info before and after the run (deploy only).
    In a dry run on a host whose sessions root did not exist, session_migrate is skipped and the sessions it
    would migrate are the valid legacy sessions session_info found before the run (its legacy_only list).
    """
    if kind not in KINDS:
        raise AnsibleFilterError("session_report: kind is %r; use one of %s" % (kind, ', '.join(KINDS)))
    migrate = _dict(migrate, 'the session_migrate result')
    before = _dict(before, 'before')
    after = _dict(after, 'after')

    if _skipped(migrate) and before and not _skipped(before):
        migrated = [{'name': n, 'predicted': True} for n in sorted(before.get('legacy_only') or [])]
    else:
        migrated = [dict((k, m.get(k)) for k in ('name', 'source', 'dest', 'files', 'bytes', 'backup') if k in m)
                    for m in migrate.get('migrated') or []]
    report = {
        'host': host,
        'playbook': kind,
        'check_mode': bool(check_mode),
        'sessions_root': root if root is not None else after.get('sessions_root', before.get('sessions_root')),
        'ran': {
            'migrate': not _skipped(migrate),
            'report_before': bool(before) and not _skipped(before),
            'report_after': bool(after) and not _skipped(after),
        },
        'migrated': migrated,
        'present': sorted(migrate.get('present') or []),
        'not_found': sorted(migrate.get('not_found') or []),
        'invalid': [dict((k, i.get(k)) for k in ('name', 'path', 'reason')) for i in migrate.get('invalid') or []],
        'duplicates': [dict((k, d.get(k)) for k in ('name', 'used', 'ignored')) for d in migrate.get('duplicates') or []],
        'removed': list(migrate.get('removed') or []),
        'errors': list(migrate.get('errors') or []) + ([migrate['msg']] if migrate.get('failed') and migrate.get('msg') else []),
        'problems': list(after.get('problems') or []),
        'corrupt': [dict((k, c.get(k)) for k in ('name', 'path', 'reason')) for c in migrate.get('corrupt') or []],
        'repaired': [dict((k, r.get(k)) for k in ('name', 'renamed', 'backup')) for r in migrate.get('repaired') or []],
        'recovered': list(migrate.get('recovered') or []),
        'skipped_sessions': list(migrate.get('skipped_sessions') or []),
        'skipped_roots': list(migrate.get('skipped_roots') or (before.get('skipped_roots') if before else None) or []),
        'lost': [],
        'lost_causes': {},
        'new_tenants': [],
    }
    if kind == 'deploy' and report['ran']['report_before'] and report['ran']['report_after']:
        existed = _valid_names(before.get('sessions')) | _valid_names(before.get('legacy_sessions'))
        present_now = _valid_names(after.get('sessions'))
        if check_mode:
            # In a dry run the sessions the migration would bring count as present.
            present_now |= set(m['name'] for m in migrated)
        report['lost'] = sorted(existed - present_now)
        report['lost_causes'] = dict((name, _lost_cause(name, migrate, after, report)) for name in report['lost'])
        without_creds = set(s.get('name') for s in after.get('sessions') or [] if not s.get('creds_present'))
        report['new_tenants'] = sorted(set(report['not_found']) | without_creds)
    report['counts'] = dict((c, len(report[c])) for c in COUNTS if c not in ('files_migrated', 'bytes_migrated'))
    report['counts']['files_migrated'] = sum(m.get('files') or 0 for m in migrated)
    report['counts']['bytes_migrated'] = sum(m.get('bytes') or 0 for m in migrated)
    report['status'] = 'failed' if report['lost'] or report['errors'] or migrate.get('failed') else 'ok'
    return report


def _lost_cause(name, migrate, after, report):
    """Why tenant ``name``, valid before the run, has no valid session in the sessions root after it: the real
    cause found in the results, never a guess."""
    causes = []
    for err in migrate.get('errors') or []:
        if err.get('name') == name:
            causes.append('the migration failed: %s' % err.get('msg'))
    for sess in after.get('sessions') or []:
        if sess.get('name') == name and sess.get('creds_problem'):
            causes.append('its creds in the sessions root are not usable: %s' % sess['creds_problem'])
    for item in report['corrupt']:
        if item['name'] == name:
            causes.append('%s is corrupt and no valid legacy copy replaced it' % item['path'])
    for item in report['invalid']:
        if item['name'] == name:
            causes.append('legacy copy %s is invalid: %s' % (item['path'], item['reason']))
    for item in report['skipped_sessions']:
        if str(item.get('path', '')).rstrip('/').rsplit('/', 1)[-1] == name:
            causes.append('legacy directory %s was skipped: %s' % (item['path'], item.get('reason')))
    if not report['ran']['migrate']:
        causes.append('session_migrate did not run (skipped by --tags or a condition)')
    if migrate.get('failed') and migrate.get('msg') and not migrate.get('errors'):
        causes.append('session_migrate failed: %s' % migrate['msg'])
    if not causes:
        causes.append('not in the sessions root after the run and the migration reported no error for it (was it '
                      'removed or changed while deploy ran? is the gateway still running?)')
    return '; '.join(causes)


def summary_lines(report, mode=None):
    """The readable summary of one host's ``session_report``: what the migrate and deploy playbooks print."""
    if not isinstance(report, dict) or 'counts' not in report:
        raise AnsibleFilterError('summary_lines: expected a session_report result, not %r' % (report,))
    check = report.get('check_mode')
    deploy = report.get('playbook') == 'deploy'
    lines = []
    if check:
        lines.append('DRY RUN (--check): nothing was changed; a real run would do this.')
    elif deploy:
        lines.append('Sessions root %s' % report.get('sessions_root'))
    else:
        lines.append('Migration into %s%s' % (report.get('sessions_root'), ' (mode %s)' % mode if mode else ''))
    migrated = report['migrated']
    lines.append('%s (%d): %s' % ('would migrate' if check else 'migrated', len(migrated),
                                  ', '.join(m['name'] for m in migrated) or '-'))
    for m in migrated:
        if m.get('source'):
            backup = ', old one backed up to %s' % m['backup'] if m.get('backup') else ''
            fields = (m['name'], m['source'], m.get('files'), m.get('bytes'), backup)
            lines.append('  %s <- %s (%s files, %s bytes)%s' % fields)
    lines.append('already present, kept (%d): %s' % (len(report['present']), ', '.join(report['present']) or '-'))
    if deploy:
        lines.append('new tenants, waiting for their first QR scan (%d): %s'
                     % (len(report['new_tenants']), ', '.join(report['new_tenants']) or '-'))
    else:
        lines.append('not found in any legacy root (%d): %s' % (len(report['not_found']),
                                                                ', '.join(report['not_found']) or '-'))
    lines.append('invalid legacy copies skipped (%d): %s' % (len(report['invalid']), ', '.join(
        '%s (%s)' % (i['path'], i['reason']) for i in report['invalid']) or '-'))
    for d in report['duplicates']:
        lines.append('duplicate: %s taken from %s, ignored %s' % (d['name'], d['used'], ', '.join(d['ignored'])))
    for c in report['corrupt']:
        lines.append('CORRUPT in the sessions root: %s (%s)' % (c['path'], c['reason']))
    for r in report['repaired']:
        lines.append('%s %s: %d file name(s) normalised (%s)' % ('would repair' if check else 'repaired', r['name'],
                                                                 len(r.get('renamed') or []), ', '.join(
            '%s -> %s' % (x['from'], x['to']) for x in (r.get('renamed') or [])[:3])))
    for r in report['recovered']:
        lines.append('interrupted run %s: %s' % (r.get('action'), r.get('name')))
    for item in report['skipped_sessions']:
        lines.append('legacy directory skipped: %s (%s)' % (item.get('path'), item.get('reason')))
    if report['skipped_roots']:
        lines.append('legacy roots not searched (%d): %s' % (len(report['skipped_roots']), ', '.join(
            '%s (%s)' % (item.get('path'), item.get('reason')) for item in report['skipped_roots'])))
    if report['ran']['migrate'] and (report['removed'] or mode == 'move'):
        lines.append('%s: %s' % ('legacy copies that would be removed' if check else 'legacy copies removed',
                                 ', '.join(report['removed']) or '-'))
    for err in report['errors']:
        lines.append('ERROR: %s' % (err.get('msg') if isinstance(err, dict) else err))
    if deploy:
        lines.append('problems (%d): %s' % (len(report['problems']), ' | '.join(report['problems']) or '-'))
    return lines


def report_totals(reports, failed_hosts=None):
    """Totals over host reports (a list, or a dict host -> report): every count summed, the number of hosts,
    the hosts whose report is not ok, and the hosts that failed before they could report."""
    if isinstance(reports, dict):
        reports = list(reports.values())
    if not isinstance(reports, list):
        raise AnsibleFilterError('report_totals: expected a list of session_report results, not %s'
                                 % type(reports).__name__)
    totals = dict((c, 0) for c in COUNTS)
    not_ok = []
    for r in reports:
        if not isinstance(r, dict) or 'counts' not in r:
            raise AnsibleFilterError('report_totals: %r is not a session_report result' % (r,))
        for c in COUNTS:
            totals[c] += r['counts'].get(c, 0)
        if r.get('status') != 'ok':
            not_ok.append(r.get('host'))
    failed = sorted(failed_hosts or [])
    totals['hosts'] = len(reports)
    totals['hosts_not_ok'] = sorted(h for h in not_ok if h is not None)
    totals['hosts_failed'] = failed
    totals['status'] = 'ok' if not not_ok and not failed else 'failed'
    return totals


def report_document(reports, kind='migrate', check_mode=False, failed_hosts=None, generated_at=None):
    """The report file: per-host reports keyed by host, plus totals."""
    if isinstance(reports, list):
        reports = dict((r.get('host'), r) for r in reports)
    return {
        'report_version': REPORT_VERSION,
        'playbook': kind,
        'check_mode': bool(check_mode),
        'generated_at': generated_at,
        'totals': report_totals(list(reports.values()), failed_hosts),
        'hosts': reports,
    }


class FilterModule(object):
    """Reports of the deploy and migrate playbooks."""

    def filters(self):
        return {
            'session_report': session_report,
            'report_totals': report_totals,
            'report_document': report_document,
            'summary_lines': summary_lines,
        }

#!/usr/bin/python3
"""Count the results of every TAP file in the given directories.

usage: tap-summary.py [--none-ok] [DIR...]

Each DIR/<suite>.tap is one suite; DIR/<suite>.exit, when present, is the
suite's exit status (143: killed by its time limit). A suite whose plan does
not match its results, or that exited non-zero, counts one more failure.
Prints one line per suite, the failed tests with their diagnostics, and last
"N passed, N failed, N skipped". Exits 1 on any failure or if nothing ran
(with --none-ok, nothing run is no failure: the caller had nothing to run).
"""
import glob
import os
import re
import sys

RESULT = re.compile(r'^(ok|not ok)\s+(\d+)\s*(?:- )?(.*?)\s*$')
PLAN = re.compile(r'^1\.\.(\d+)')
SKIP = re.compile(r'#\s*SKIP\b\s*(.*)$', re.I)


def parse(path):
    results = []
    plan = None
    with open(path, errors='replace') as f:
        for line in f:
            line = line.rstrip('\n')
            m = RESULT.match(line)
            if m:
                skip = SKIP.search(m.group(3))
                results.append({'ok': m.group(1) == 'ok', 'name': m.group(3),
                                'skip': skip.group(1) if skip else None, 'diag': []})
                continue
            m = PLAN.match(line)
            if m:
                plan = int(m.group(1))
            elif line.startswith('#') and results:
                results[-1]['diag'].append(line)
    return results, plan


def main():
    args = sys.argv[1:]
    none_ok = args[:1] == ['--none-ok']
    passed = failed = skipped = 0
    failures = []
    for d in args[none_ok:]:
        for path in sorted(glob.glob(os.path.join(d, '*.tap'))):
            suite = os.path.basename(path)[:-4]
            results, plan = parse(path)
            s_pass = sum(1 for r in results if r['ok'] and not r['skip'])
            s_skip = sum(1 for r in results if r['skip'])
            s_fail = [r for r in results if not r['ok']]
            extra = []
            if plan is None:
                extra.append('no TAP plan: the suite stopped before its end')
            elif plan != len(results):
                extra.append(f'TAP plan says {plan} tests, {len(results)} reported')
            exit_path = os.path.join(d, suite + '.exit')
            if os.path.exists(exit_path):
                with open(exit_path) as f:
                    rc = f.read().strip()
                if rc == '143':
                    extra.append('the suite was killed by its time limit')
                elif rc != '0' and not s_fail:
                    extra.append(f'the suite exited with status {rc} with no failed test')
            passed += s_pass
            skipped += s_skip
            failed += len(s_fail) + len(extra)
            print(f'  {suite}: {s_pass} passed, {len(s_fail) + len(extra)} failed, {s_skip} skipped')
            for r in results:
                if r['skip']:
                    print(f"    skipped: {r['name']}")
                elif r['ok'] and r['diag']:
                    print(f"    note on '{r['name']}': " + '; '.join(d.lstrip('# ') for d in r['diag']))
            for r in s_fail:
                failures.append((suite, r['name'], r['diag']))
            for e in extra:
                failures.append((suite, e, []))
    for suite, name, diag in failures:
        print(f'FAILED {suite}: {name}')
        for d in diag[:80]:
            print('    ' + d[1:].lstrip(' ') if d.startswith('# ') else '    ' + d)
    print(f'{passed} passed, {failed} failed, {skipped} skipped')
    if passed + failed == 0 and not none_ok:
        print('tap-summary: no test ran', file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

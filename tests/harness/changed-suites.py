#!/usr/bin/python3
"""What a change can affect: the guest suites and host checks of the test
command that need to run again after the files changed since a base.

usage: changed-suites.py [--base REF] [--build DIR] [--quiet]

Changed: every file that differs between the merge base of HEAD and REF
and the working tree, with the files git does not track and does not
ignore. REF by default: the branch's upstream, else origin/main, else
main; on main itself that leaves the uncommitted changes.

Each path goes through RULES, first match wins; a path no rule names
affects everything. "built" is computed from the CMake build in DIR (the
ninja graph and the headers each object included): the suites that run a
program or the Python module built from the file. Without DIR, "built"
counts as every suite.

Prints the names to run, one a line, in the test command's order (guest
suites of tests/suites/list, then host checks); nothing when nothing can
be affected. Says on stderr what each path affects (not with --quiet).
"""
import argparse
import fnmatch
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITES_DIR = os.path.join(TOP, 'tests', 'suites')
HOST_CHECKS = ('checkpatch', 'compile-check', 'ctest', 'debs')
SHOW_PATHS = 30

# (pattern, what to run, why). A pattern ending in / is a directory and
# everything below it; any other is a path or an fnmatch pattern. What to
# run: suite or host check names, "guests" (every guest suite), "all"
# (every guest suite and host check), "self" (tests/suites/X: X) or
# "built" (see the module's doc); an empty list runs nothing.
RULES = (
    ('kernel/', ['all'], 'the kernel every guest boots, the series'),
    ('tests/harness/tap-summary.py', ['all'], 'how every result is counted'),
    ('tests/harness/ctest2tap.py', ['ctest'], 'how the host tests are run'),
    ('tests/harness/build-packages', ['debs', 'packages'], 'the package build'),
    ('tests/harness/', ['guests'], 'the harness every suite runs in'),
    ('scripts/test', ['all'], 'the test command'),
    ('scripts/setup-host', ['all'], 'the host packages'),
    ('.ci/', ['all'], 'CI'),
    ('tests/suites/list', ['guests'], 'the suite list'),
    ('*CMakeLists.txt', ['guests', 'ctest', 'debs'], 'the build'),
    ('debian/', ['debs', 'packages'], 'the Debian packages'),
    ('tests/c/pkg_user.c', ['ctest', 'packages'], 'compiled against the installed files'),
    ('tests/suites/durations', [], 'only how suites are spread over the guests'),
    ('tests/suites/*', ['self'], 'the suite itself'),
    ('tests/py/p2pmr_tests/', ['pyverbs'], 'the pyverbs test cases'),
    ('tests/py/run_pyverbs_tests.py', ['pyverbs'], 'the pyverbs runner'),
    ('tests/py/rdma_lib_test.py', ['rdma-lib', 'packages'], 'the binding checks'),
    ('tests/py/iommufd_test.py', ['iommufd-dma'], 'the iommufd binding checks'),
    ('libibverbs/man/', ['ctest', 'debs'], 'manual pages: ctest checks every symbol has one'),
    ('libibverbs/', ['built', 'ctest', 'debs', 'packages'], 'libp2pmr, its tool and its binding'),
    ('tests/c/', ['built'], 'test programs'),
    ('tests/host/', ['ctest'], 'the host tests'),
    ('kernel-headers/', ['ctest', 'debs', 'packages'], 'uAPI headers checked by ctest, built into the packages; the test command builds against the kernel tree\'s'),
    ('docs/', [], 'documentation'),
    ('*.md', [], 'documentation'),
    ('providers/', [], 'the rdma-core series, not run by the test command'),
    ('perftest-patches/', [], 'the perftest series, not run by the test command'),
    ('scripts/hw-check', ['hw-check'], 'the command for real hardware, run by its suite'),
    ('scripts/', [], 'not run by the test command'),
)

# How a suite names what the build makes: bin/X as $P2PMR_BIN/X, the
# Python module by its directory (PYTHONPATH=.../cmake/python).
PYTHON_TARGET = 'python-p2pmr'


def git(*args):
    return subprocess.run(['git', '-C', TOP, *args], check=True, text=True,
                          stdout=subprocess.PIPE).stdout.split('\n')


def has_commit(ref):
    return subprocess.run(['git', '-C', TOP, 'rev-parse', '--verify', '-q', ref + '^{commit}'],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def base_commit(ref):
    """(merge base of HEAD and REF, the ref it came from)."""
    refs = [ref] if ref else ['@{upstream}', 'origin/main', 'main']
    for r in refs:
        if has_commit(r):
            return git('merge-base', 'HEAD', r)[0], r
    if ref:
        sys.exit(f'changed-suites: no commit {ref}')
    return git('rev-parse', 'HEAD')[0], 'HEAD'


def changed_paths(base):
    paths = git('diff', '--name-only', '--no-renames', base, '--')
    paths += git('ls-files', '--others', '--exclude-standard')
    return sorted(set(p for p in paths if p))


def list_suites():
    with open(os.path.join(SUITES_DIR, 'list')) as f:
        return [w for w in (line.split('#', 1)[0].strip() for line in f) if w]


def rule_for(path):
    for pattern, what, why in RULES:
        if pattern.endswith('/') and path.startswith(pattern) or fnmatch.fnmatch(path, pattern):
            return what, why
    return ['all'], 'no rule names it'


class Build:
    """Which files each program (and the Python module) is made of, from
    the ninja graph of a CMake build, and which suites run it."""

    def __init__(self, build_dir):
        self.dir = os.path.abspath(build_dir)
        self.files = {}
        targets = [t for t in self.ninja('-t', 'targets', 'all')]
        programs = [t.split(':')[0] for t in targets if re.match(r'bin/[^/:]+:', t)]
        for target in programs + [PYTHON_TARGET]:
            inputs = [i for i in self.ninja('-t', 'inputs', target) if i]
            objects = [i for i in inputs if i.endswith('.o')]
            headers = [l.strip() for l in self.ninja('-t', 'deps', *objects)
                       if l.startswith(' ')] if objects else []
            self.files[target] = {os.path.relpath(os.path.join(build_dir, f), TOP)
                                  for f in inputs + headers}

    def ninja(self, *args):
        return subprocess.run(['ninja', '-C', self.dir, *args], check=True, text=True,
                              stdout=subprocess.PIPE).stdout.split('\n')

    def targets_of(self, path):
        return sorted(t for t, files in self.files.items() if path in files)


def runs(suite, target):
    """The suite's script runs the program or uses the module."""
    with open(os.path.join(SUITES_DIR, suite), errors='replace') as f:
        text = f.read()
    if target == PYTHON_TARGET:
        return 'cmake/python' in text
    return re.search(r'P2PMR_BIN\}?/' + re.escape(target[len('bin/'):]) + r'(?![\w-])', text)


def affected(path, suites, build):
    """(names, why) for one changed path."""
    what, why = rule_for(path)
    names = set()
    for w in what:
        if w == 'all':
            names.update(suites, HOST_CHECKS)
        elif w == 'guests':
            names.update(suites)
        elif w == 'self':
            name = os.path.basename(path)
            if name in suites:
                names.add(name)
            else:
                why += ', not run by the test command'
        elif w == 'built' and build is None:
            names.update(suites)
            why += ' (no build to look into: every suite)'
        elif w == 'built':
            targets = build.targets_of(path)
            names.update(s for s in suites for t in targets if runs(s, t))
            why += ': ' + (' '.join(t.replace('bin/', '') for t in targets) or 'in no program')
        else:
            names.add(w)
    return names, why


def describe(names, suites):
    """NAMES in the test command's order, "every guest suite" for all of them."""
    words = [s for s in suites if s in names]
    if words and len(words) == len(suites):
        words = ['every guest suite']
    words += [h for h in HOST_CHECKS if h in names]
    return ' '.join(words) or 'nothing'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--base', metavar='REF')
    ap.add_argument('--build', metavar='DIR')
    ap.add_argument('--quiet', action='store_true')
    args = ap.parse_args()
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))

    base, ref = base_commit(args.base)
    paths = changed_paths(base)
    suites = list_suites()
    build = None
    if args.build and os.path.exists(os.path.join(args.build, 'build.ninja')):
        build = Build(args.build)
    say(f'changed-suites: {len(paths)} path(s) changed since {ref} (merge base {base[:12]})')
    names = set()
    for i, path in enumerate(paths):
        n, why = affected(path, suites, build)
        names |= n
        if i < SHOW_PATHS:
            say(f'  {path}: {describe(n, suites)} ({why})')
    if len(paths) > SHOW_PATHS:
        say(f'  ... and {len(paths) - SHOW_PATHS} more')
    for name in suites + list(HOST_CHECKS):
        if name in names:
            print(name)
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Run the p2pmr pyverbs tests (tests/py/p2pmr_tests) and print TAP on
stdout: one line per test method, the plan last. Test output, failure
tracebacks and progress go to stderr.

usage: run_pyverbs_tests.py [options] [TEST...]
  TEST            unittest names below p2pmr_tests, e.g. test_revoke or
                  test_traffic.KeyTest.test_wrong_rkey_write (default: all)
  --ib-dev NAME   RDMA device (P2PMR_IBDEV; default the first)
  --gid-index N   GID index (P2PMR_GID_INDEX; default 0)
  --vfio-device PCI  device bound to vfio-pci (P2PMR_VFIO_DEVICE)
  --bar N         its BAR (P2PMR_VFIO_BAR; default 2)
  --bar-file PATH host file behind the BAR (P2PMR_IVSHMEM_FILE)
  --strict        a skipped test is a failure (CI, where nothing may be missing)
  --list          print the test ids and descriptions, run nothing

Needs Debian's pyverbs (/usr/bin/python3) and the p2pmr module on
PYTHONPATH (build/cmake/python). Exit status 0 when no test failed.
"""
import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = 'p2pmr_tests'


def describe(test):
    """'Class.method: first line of the docstring'."""
    doc = (test._testMethodDoc or '').strip().splitlines()
    name = '%s.%s' % (type(test).__name__, test._testMethodName)
    return '%s: %s' % (name, doc[0].strip()) if doc else name


def tests_of(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from tests_of(item)
        else:
            yield item


class TapResult(unittest.TestResult):
    """One TAP line per test method, written when it ends; subtest failures
    fail their test."""

    def __init__(self, tap, log, strict):
        super().__init__()
        self.tap, self.log, self.strict = tap, log, strict
        self.count = 0
        self.failed = 0

    def startTest(self, test):
        super().startTest(test)
        self._problems = []
        self._skip = None
        self._start = time.monotonic()
        self.log.write('--- %s (%s)\n' % (describe(test), test.id()))
        self.log.flush()

    def _problem(self, kind, test, err):
        text = self._exc_info_to_string(err, test)
        self._problems.append('%s: %s' % (kind, text))
        self.log.write('--- %s %s:\n%s' % (test.id(), kind, text))

    def addError(self, test, err):
        super().addError(test, err)
        if not isinstance(test, unittest.TestCase):
            # a class or module fixture failed: no test of it started
            self.count += 1
            self.failed += 1
            self.tap.write('not ok %d - %s\n' % (self.count, str(test).replace('#', '\\#')))
            self.log.write('--- %s:\n%s' % (test, self._exc_info_to_string(err, test)))
            return
        self._problem('error', test, err)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._problem('failure', test, err)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._problem('failure' if issubclass(err[0], test.failureException) else 'error',
                          subtest, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._skip = reason

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._problems.append('unexpected success')

    def stopTest(self, test):
        super().stopTest(test)
        self.count += 1
        desc = describe(test).replace('#', '\\#')
        took = time.monotonic() - self._start
        if self._skip is not None and not self._problems:
            if self.strict:
                self.failed += 1
                line = 'not ok %d - %s (skipped, not allowed with --strict: %s)' % (
                    self.count, desc, self._skip)
            else:
                line = 'ok %d - %s # SKIP %s' % (self.count, desc, self._skip)
        elif self._problems:
            self.failed += 1
            line = 'not ok %d - %s' % (self.count, desc)
        else:
            line = 'ok %d - %s' % (self.count, desc)
        self.tap.write(line + '\n')
        self.tap.flush()
        for problem in self._problems:
            for text in problem.rstrip().splitlines()[-1:]:
                self.tap.write('# %s\n' % text)
        self.log.write('--- %s (%.1f s)\n' % (line, took))
        self.log.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('tests', nargs='*')
    parser.add_argument('--ib-dev')
    parser.add_argument('--gid-index')
    parser.add_argument('--vfio-device')
    parser.add_argument('--bar')
    parser.add_argument('--bar-file')
    parser.add_argument('--strict', action='store_true')
    parser.add_argument('--list', action='store_true')
    args = parser.parse_args()
    for opt, var in (('ib_dev', 'P2PMR_IBDEV'), ('gid_index', 'P2PMR_GID_INDEX'),
                     ('vfio_device', 'P2PMR_VFIO_DEVICE'), ('bar', 'P2PMR_VFIO_BAR'),
                     ('bar_file', 'P2PMR_IVSHMEM_FILE')):
        if getattr(args, opt) is not None:
            os.environ[var] = getattr(args, opt)

    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    if args.tests:
        suite = loader.loadTestsFromNames(['%s.%s' % (PACKAGE, t) for t in args.tests])
    else:
        suite = loader.discover(os.path.join(HERE, PACKAGE), top_level_dir=HERE)
    if loader.errors:
        for err in loader.errors:
            sys.stderr.write(err)
        print('Bail out! the tests could not be loaded (see above)')
        return 1
    if args.list:
        for test in tests_of(suite):
            print('%s\t%s' % (test.id(), describe(test)))
        return 0

    # TAP on the real stdout; whatever the tests print goes to stderr.
    tap = os.fdopen(os.dup(sys.stdout.fileno()), 'w')
    sys.stdout.flush()
    sys.stdout = sys.stderr
    result = TapResult(tap, sys.stderr, args.strict)
    suite.run(result)
    tap.write('1..%d\n' % result.count)
    tap.flush()
    sys.stderr.write('--- %d tests, %d failed, %d skipped\n'
                     % (result.count, result.failed, len(result.skipped)))
    return 1 if result.failed else 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/python3
"""Spread guest suites over guests that run at once, so that all finish
together, by the durations recorded in tests/suites/durations; or record
the durations a run measured.

usage: split-suites.py [--durations FILE] [--guests N] [--pair SUITE]...
                       [--preload SECONDS]... SUITE...
       split-suites.py --seconds [--durations FILE] SUITE...
       split-suites.py --record [--durations FILE] CONSOLE...

Split: the longest suite first, each to the guest with the least to do
(a suite with no recorded duration counts as DEFAULT_SECONDS). Prints one
line per guest: the seconds expected, then its suites in the order given
(the order of tests/suites/list). A guest with nothing to do gets "0".
Guests of a variant run on the cores of the split's guests once those are
done: --preload gives the seconds of each (--seconds: of its suites, with
a guest's boot), so that the guests that get them get less to do.
The pair-* suites run first in the first two guests, the server and the
client: --pair names each; both of those guests carry their seconds.

Record: reads the "suite X: done in Ns" progress lines of guest consoles
(build/guest/out/guest*/console.log, or a saved terminal log of the test
command) and writes FILE again with those numbers (the mean where several
runs had a suite), keeping its comments and the suites no run had.
"""
import argparse
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DURATIONS = os.path.join(TOP, 'tests', 'suites', 'durations')
DEFAULT_SECONDS = 60
# A guest's boot, KUnit and kmemleak scans, besides its suites.
GUEST_SECONDS = 35
# run-suites prints "suite X: done in Ns" or "suite X: exit status N after Ns".
DONE = re.compile(r'p2pmr: \[\d+s\] suite (\S+): (?:done in|exit status \d+ after) (\d+)s')


def read_durations(path):
    """{suite: seconds} from FILE ("suite seconds" lines, # comments)."""
    durations = {}
    with open(path) as f:
        for line in f:
            words = line.split('#', 1)[0].split()
            if len(words) == 2 and words[1].isdigit():
                durations[words[0]] = int(words[1])
            elif words:
                sys.exit(f'{path}: not "SUITE SECONDS": {line.strip()}')
    return durations


def split(suites, durations, guests, preload=(), pair=0):
    """[(seconds, [suite...])] for each guest, suites in the given order.

    @preload: seconds of work some guests' cores carry besides (guests of a
    variant that run after them), given to the least loaded first.
    @pair: seconds of the pair suites, which the first two guests carry.
    """
    load = [0] * guests
    for g in range(min(guests, 2) if pair else 0):
        load[g] += pair
    for seconds in sorted(preload, reverse=True):
        load[load.index(min(load))] += seconds
    where = {}
    for suite in sorted(suites, key=lambda s: -durations.get(s, DEFAULT_SECONDS)):
        guest = load.index(min(load))
        where[suite] = guest
        load[guest] += durations.get(suite, DEFAULT_SECONDS)
    return [(load[g], [s for s in suites if where[s] == g]) for g in range(guests)]


def measured(consoles):
    """{suite: mean seconds} over the progress lines of CONSOLE files."""
    runs = {}
    for path in consoles:
        with open(path, errors='replace') as f:
            for line in f:
                m = DONE.search(line)
                if m:
                    runs.setdefault(m.group(1), []).append(int(m.group(2)))
    return {s: round(sum(t) / len(t)) for s, t in runs.items()}


def record(path, new):
    """Write FILE again with the NEW durations, comments and order kept."""
    lines = []
    with open(path) as f:
        for line in f:
            words = line.split('#', 1)[0].split()
            if words and words[0] in new:
                line = f'{words[0]:<15} {new.pop(words[0])}\n'
            lines.append(line)
    lines.extend(f'{s:<15} {t}\n' for s, t in sorted(new.items()))
    with open(path, 'w') as f:
        f.writelines(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--durations', default=DURATIONS)
    ap.add_argument('--guests', type=int, default=2)
    ap.add_argument('--record', action='store_true')
    ap.add_argument('--preload', type=int, action='append', default=[], metavar='SECONDS',
                    help='a guest of a variant that runs after the split (repeat for each)')
    ap.add_argument('--pair', action='append', default=[], metavar='SUITE',
                    help='a pair suite, run in the first two guests (repeat for each)')
    ap.add_argument('--seconds', action='store_true',
                    help='print the seconds of the SUITEs together, one guest\'s worth')
    ap.add_argument('names', nargs='+', metavar='SUITE|CONSOLE')
    args = ap.parse_args()
    if args.record:
        new = measured(args.names)
        if not new:
            sys.exit('split-suites: no "suite X: done in Ns" line in ' + ' '.join(args.names))
        record(args.durations, dict(new))
        print(' '.join(f'{s} {t}' for s, t in sorted(new.items())) + f' -> {args.durations}')
        return 0
    durations = read_durations(args.durations)
    if args.seconds:
        print(GUEST_SECONDS + sum(durations.get(s, DEFAULT_SECONDS) for s in args.names))
        return 0
    unknown = [s for s in args.names + args.pair if s not in durations]
    if unknown:
        print(f'split-suites: no duration recorded for {" ".join(unknown)} in {args.durations}:'
              f' counted as {DEFAULT_SECONDS} s each (--record sets it)', file=sys.stderr)
    for seconds, suites in split(args.names, durations, max(args.guests, 1), args.preload,
                                   sum(durations.get(s, DEFAULT_SECONDS) for s in args.pair)):
        print(seconds, *suites)
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""libp2pmr's symbols agree everywhere: the version script, the header, the
man pages, the built library and the project version.

usage: check_symbols.py --map libp2pmr.map --header p2pmr.h --man DIR
                        --library libp2pmr.so --version X.Y.Z

Checks that every symbol of the map is declared in the header and every
function of the header is in the map; that every symbol has a page in DIR
(SYMBOL.3, itself or a .so link) whose NAME section lists it; that every
page another page refers to exists (in DIR, or in DIR/../manN when DIR is
an installed man3); that the library exports exactly the
map's symbols, each at its node; that the newest node is P2PMR_X.Y.
Prints TAP; exit status 0 when every check held.
"""
import argparse
import os
import re
import subprocess
import sys


class Tap:
    def __init__(self):
        self.n = self.failed = 0

    def check(self, ok, what, detail=''):
        self.n += 1
        print('%sok %d - %s' % ('' if ok else 'not ', self.n, what))
        if not ok:
            self.failed += 1
            for line in str(detail).splitlines() or ['']:
                print('# ' + line)
        return ok

    def done(self):
        print('1..%d' % self.n)
        return 1 if self.failed else 0


def map_nodes(path):
    """[(node, [symbols])] in the order of the file, comments dropped."""
    text = re.sub(r'/\*.*?\*/', '', open(path).read(), flags=re.S)
    nodes = []
    for name, body in re.findall(r'([\w.]+)\s*\{(.*?)\}', text, flags=re.S):
        body = re.sub(r'\b(global|local)\s*:', '', body)
        nodes.append((name, [s for s in re.split(r'[\s;]+', body) if s and s != '*']))
    return nodes


def header_functions(path):
    """Names of the functions p2pmr.h declares."""
    text = re.sub(r'/\*.*?\*/', '', open(path).read(), flags=re.S)
    return set(re.findall(r'\b(p2pmr_\w+)\s*\(', text))


def page_text(man_dir, page, seen=()):
    """The troff of @page (SYMBOL.3), following .so links."""
    path = os.path.join(man_dir, page)
    if not os.path.exists(path) or page in seen:
        return None
    text = open(path).read()
    m = re.match(r'\.so\s+(?:man\d/)?(\S+)\s*$', text)
    return page_text(man_dir, m.group(1), seen + (page,)) if m else text


def name_section(text):
    m = re.search(r'^\.SH NAME\n(.*?)^\.SH', text, flags=re.S | re.M)
    return re.findall(r'\b(p2pmr_\w+|libp2pmr)\b', m.group(1).split('\\-')[0]) if m else []


def exported(library):
    """{symbol: version node} of the library's defined dynamic symbols."""
    out = subprocess.run(['objdump', '-T', library], stdout=subprocess.PIPE, check=True)
    symbols = {}
    for line in out.stdout.decode().splitlines():
        f = line.split()
        if len(f) >= 7 and f[2] in ('DF', 'DO') and f[3] not in ('*UND*', '*ABS*'):
            symbols[f[-1]] = f[-2].strip('()')
    return symbols


def main():
    p = argparse.ArgumentParser()
    for opt in ('--map', '--header', '--man', '--library', '--version'):
        p.add_argument(opt, required=True)
    args = p.parse_args()
    tap = Tap()

    nodes = map_nodes(args.map)
    node_of = {s: n for n, syms in nodes for s in syms}
    symbols = [s for _, syms in nodes for s in syms]
    tap.check(nodes and len(symbols) == len(set(symbols)),
              'the map has version nodes and lists each symbol once',
              'nodes %s' % [n for n, _ in nodes])

    declared = header_functions(args.header)
    tap.check(set(symbols) <= declared, 'every symbol of the map is declared in p2pmr.h',
              'not declared: %s' % sorted(set(symbols) - declared))
    tap.check(declared <= set(symbols), 'every function p2pmr.h declares is in the map',
              'not exported: %s' % sorted(declared - set(symbols)))

    missing, unnamed = [], []
    for sym in symbols:
        text = page_text(args.man, sym + '.3')
        if text is None:
            missing.append(sym)
        elif sym not in name_section(text):
            unnamed.append(sym)
    tap.check(not missing, 'every symbol has a man page (SYMBOL.3)',
              'no page: %s' % ', '.join(missing))
    tap.check(not unnamed, "the page of every symbol names it in NAME",
              'not in NAME: %s' % ', '.join(unnamed))

    pages = set(os.listdir(args.man))
    broken = set()
    for page in pages:
        text = page_text(args.man, page) or ''
        for name, section in re.findall(r'\.BR\s+((?:lib)?p2pmr\w*)\s+\((\d)\)', text):
            page_ref = '%s.%s' % (name, section)
            # the source's one directory, or an installed man/manN/ layout
            if page_ref not in pages and not os.path.exists(
                    os.path.join(args.man, os.pardir, 'man' + section, page_ref)):
                broken.add('%s(%s) in %s' % (name, section, page))
    tap.check(not broken, 'every libp2pmr page a page refers to exists',
              'missing: %s' % ', '.join(sorted(broken)))

    lib = exported(args.library)
    tap.check(set(lib) == set(symbols), 'the library exports exactly the map\'s symbols',
              'only in the library: %s\nonly in the map: %s'
              % (sorted(set(lib) - set(symbols)), sorted(set(symbols) - set(lib))))
    wrong = ['%s@%s' % (s, lib[s]) for s in lib if s in node_of and lib[s] != node_of[s]]
    tap.check(not wrong, 'each symbol is exported at its node of the map', ', '.join(wrong))

    major, minor = args.version.split('.')[:2]
    newest = nodes[-1][0] if nodes else None
    tap.check(newest == 'P2PMR_%s.%s' % (major, minor),
              'the newest node goes with the project version %s' % args.version,
              'newest node %s' % newest)
    return tap.done()


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""`cmake --install` into a DESTDIR lays out what a user of libp2pmr needs,
and what it laid out works from there.

usage: install_test.py --build DIR --source DIR --python INTERPRETER
                       --prefix P --libdir L --includedir I --mandir M
                       --bindir B --version X.Y.Z

Installs the build DIR into DIR/install-test (DESTDIR) and checks: the
library with its soname links, the header, the pkg-config file (its
version, and flags that point into the DESTDIR: it is relocatable), a man
page for every symbol of the version script (check_symbols.py on the
installed pages and library), the tool's and the overview's pages, the
tool (no run path into the build tree; it runs with the installed
library), the Python module where INTERPRETER looks for modules of the
prefix (site_dir.py), importable from there with the installed library;
nothing else installed; and tests/c/pkg_user.c compiled through
pkg-config against the installed files, its call reaching the installed
library (whose message names the device it could not open).
Prints TAP; exit status 0 when every check held.
"""
import argparse
import os
import shutil
import subprocess
import sys

from check_symbols import Tap

HERE = os.path.dirname(os.path.abspath(__file__))
MISSING_PCI = '0000:ff:1f.7'


def run(cmd, env=None, **kw):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False, **kw)


def ldd_path(binary, soname, env):
    """Where the loader finds @soname for @binary, or the ldd output."""
    out = run(['ldd', binary], env=env).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == soname and len(f) >= 3:
            return f[2]
    return out


def main():
    p = argparse.ArgumentParser()
    for opt in ('--build', '--source', '--python', '--prefix', '--libdir', '--includedir',
                '--mandir', '--bindir', '--version'):
        p.add_argument(opt, required=True)
    args = p.parse_args()
    tap = Tap()

    destdir = os.path.join(args.build, 'install-test')
    shutil.rmtree(destdir, ignore_errors=True)
    res = run(['cmake', '--install', args.build], env={'DESTDIR': destdir})
    if not tap.check(res.returncode == 0, 'cmake --install into a DESTDIR', res.stdout):
        return tap.done()

    def inst(*parts):
        """A path below the prefix, in the DESTDIR."""
        return os.path.join(destdir + args.prefix, *parts)

    def rel(path):
        return os.path.relpath(path, destdir + args.prefix)

    major = args.version.split('.')[0]
    libdir = inst(args.libdir)
    real = os.path.join(libdir, 'libp2pmr.so.' + args.version)
    soname = 'libp2pmr.so.' + major
    tap.check(os.path.isfile(real) and not os.path.islink(real),
              'the library is %s' % rel(real))
    links = {soname: os.path.basename(real), 'libp2pmr.so': soname}
    bad = ['%s -> %s' % (name, os.readlink(os.path.join(libdir, name))
                         if os.path.islink(os.path.join(libdir, name)) else 'not a link')
           for name, to in links.items()
           if not (os.path.islink(os.path.join(libdir, name)) and
                   os.readlink(os.path.join(libdir, name)) == to)]
    tap.check(not bad, 'libp2pmr.so -> %s -> %s' % (soname, os.path.basename(real)),
              '\n'.join(bad))
    dyn = run(['objdump', '-p', real]).stdout
    tap.check('SONAME               %s' % soname in dyn, 'the soname is %s' % soname,
              [line for line in dyn.splitlines() if 'SONAME' in line])

    header = inst(args.includedir, 'p2pmr.h')
    tap.check(os.path.isfile(header) and
              open(header).read() == open(os.path.join(args.source, 'libibverbs', 'p2pmr.h')).read(),
              'p2pmr.h is %s, the same as libibverbs/p2pmr.h' % rel(header))

    pcdir = os.path.join(libdir, 'pkgconfig')
    pc_env = {'PKG_CONFIG_PATH': pcdir}
    res = run(['pkg-config', '--modversion', 'p2pmr'], env=pc_env)
    tap.check(res.returncode == 0 and res.stdout.strip() == args.version,
              'pkg-config finds p2pmr %s in %s' % (args.version, rel(pcdir)), res.stdout)
    res = run(['pkg-config', '--cflags', '--libs', 'p2pmr'], env=pc_env)
    flags = [f[:2] + os.path.normpath(f[2:]) for f in res.stdout.split()]
    tap.check(res.returncode == 0 and '-I' + inst(args.includedir) in flags and
              '-L' + libdir in flags,
              'pkg-config flags point into the DESTDIR (the .pc file is relocatable)', res.stdout)

    man3 = inst(args.mandir, 'man3')
    res = run([sys.executable, os.path.join(HERE, 'check_symbols.py'),
               '--map', os.path.join(args.source, 'libibverbs', 'libp2pmr.map'),
               '--header', header, '--man', man3, '--library', real,
               '--version', args.version])
    tap.check(res.returncode == 0,
              'check_symbols.py on the installed pages and library: a page for every symbol',
              res.stdout)
    src_man = os.path.join(args.source, 'libibverbs', 'man')
    pages = {}
    for page in sorted(os.listdir(src_man)):
        path = inst(args.mandir, 'man' + page.rsplit('.', 1)[1], page)
        pages[rel(path)] = path
    missing = [r for r, path in pages.items() if not os.path.isfile(path)]
    tap.check(not missing, 'every page of libibverbs/man is installed (%d, p2pmr.1 and '
              'libp2pmr.7 among them)' % len(pages), 'missing: %s' % missing)

    tool = inst(args.bindir, 'p2pmr')
    dyn = run(['readelf', '-d', tool]).stdout
    tap.check(os.access(tool, os.X_OK) and 'RPATH' not in dyn and 'RUNPATH' not in dyn,
              'the tool is %s, with no run path' % rel(tool),
              [line for line in dyn.splitlines() if 'PATH' in line])
    lib_env = {'LD_LIBRARY_PATH': libdir}
    found = ldd_path(tool, soname, lib_env)
    tap.check(found == os.path.join(libdir, soname),
              'the tool loads the installed %s' % soname, found)
    res = run([tool, '--help'], env=lib_env)
    tap.check(res.returncode == 0 and 'usage' in res.stdout.lower(),
              'the installed tool runs (p2pmr --help)', res.stdout)

    res = run([args.python, os.path.join(args.source, 'libibverbs', 'python', 'site_dir.py'),
               args.prefix])
    site = res.stdout.strip()
    pydir = destdir + site if os.path.isabs(site) else inst(site)
    module = os.path.join(pydir, 'p2pmr')
    tap.check(res.returncode == 0 and os.path.isfile(os.path.join(module, '__init__.py')),
              'the Python module is in %s, where %s looks for modules of %s' %
              (rel(module), args.python, args.prefix), res.stdout)
    sys_path = run([args.python, '-c', 'import sys; print("\\n".join(sys.path))']).stdout
    under = [d for d in sys_path.splitlines() if d.startswith(args.prefix.rstrip('/') + '/')]
    if under:
        target = os.path.join(args.prefix, site) if not os.path.isabs(site) else site
        tap.check(target in under, '%s is on the sys.path of %s' % (target, args.python),
                  'its entries under %s: %s' % (args.prefix, under))
    config = {}
    cfg = os.path.join(module, '_config.py')
    if os.path.isfile(cfg):
        exec(open(cfg).read(), config)
    want = os.path.join(args.prefix, args.libdir, os.path.basename(real))
    tap.check(config.get('LIBRARY') == want and config.get('SONAME') == soname,
              "the installed module's _config.py names %s and %s" % (want, soname),
              'LIBRARY %s, SONAME %s' % (config.get('LIBRARY'), config.get('SONAME')))
    probe = ('import p2pmr, sys\n'
             'print(p2pmr.__file__)\n'
             'print([l.split()[-1] for l in open("/proc/self/maps") if "libp2pmr.so" in l][0])\n')
    res = run([args.python, '-c', probe],
              env={'PYTHONPATH': pydir, 'LD_LIBRARY_PATH': libdir, 'P2PMR_LIB': ''})
    out = res.stdout.split()
    tap.check(res.returncode == 0 and len(out) == 2 and out[0].startswith(module + '/') and
              os.path.realpath(out[1]) == real,
              'the installed module imports and loads the installed library', res.stdout)

    py_src = os.path.join(args.source, 'libibverbs', 'python', 'p2pmr')
    expected = {rel(real), rel(os.path.join(libdir, soname)),
                rel(os.path.join(libdir, 'libp2pmr.so')), rel(header),
                rel(os.path.join(pcdir, 'p2pmr.pc')), rel(tool), rel(cfg)} | set(pages)
    expected |= {rel(os.path.join(module, f)) for f in os.listdir(py_src) if f.endswith('.py')}
    got = set()
    for root, _, files in os.walk(destdir):
        got.update(rel(os.path.join(root, f)) for f in files)
    tap.check(got == expected, 'nothing else is installed (%d files)' % len(expected),
              'unexpected: %s\nmissing: %s' % (sorted(got - expected), sorted(expected - got)))

    user = os.path.join(destdir, 'pkg-user')
    flags = run(['pkg-config', '--cflags', '--libs', 'p2pmr', 'libibverbs'], env=pc_env)
    res = run(['cc', '-Wall', '-Wextra', '-Werror', '-o', user,
               os.path.join(args.source, 'tests', 'c', 'pkg_user.c')] + flags.stdout.split())
    if tap.check(flags.returncode == 0 and res.returncode == 0,
                 'tests/c/pkg_user.c compiles with `pkg-config --cflags --libs p2pmr libibverbs`',
                 flags.stdout + res.stdout):
        found = ldd_path(user, soname, lib_env)
        tap.check(found == os.path.join(libdir, soname),
                  'the program loads the installed %s' % soname, found)
        res = run([user, MISSING_PCI, '2'], env=lib_env)
        tap.check(res.returncode == 1 and MISSING_PCI in res.stdout,
                  "the program runs: libp2pmr's message names the missing device %s" % MISSING_PCI,
                  'exit status %d: %s' % (res.returncode, res.stdout))
    if not tap.failed:
        shutil.rmtree(destdir, ignore_errors=True)
    return tap.done()


if __name__ == '__main__':
    sys.exit(main())

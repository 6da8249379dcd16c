#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Where the Python interpreter running this looks for modules installed
under PREFIX: its purelib directory for that prefix, as its own sysconfig
schemes say.

usage: site_dir.py PREFIX

Prints the directory relative to PREFIX (absolute when it is not below
it). Debian's python3 has its own schemes: deb_system
(/usr/lib/python3/dist-packages, where dh_python3 and python3-* packages
put modules) for PREFIX /usr, posix_local (/usr/local/lib/python3.X/
dist-packages) for /usr/local; other interpreters and prefixes take the
interpreter's preferred scheme (lib/python3.X/site-packages).
"""
import os
import sys
import sysconfig


def purelib(prefix):
    schemes = sysconfig.get_scheme_names()
    prefix = os.path.normpath(prefix)
    if prefix == '/usr' and 'deb_system' in schemes:
        scheme, base = 'deb_system', prefix
    elif prefix == '/usr/local' and 'posix_local' in schemes:
        # posix_local appends "local" to the base itself
        scheme, base = 'posix_local', '/usr'
    else:
        scheme = (sysconfig.get_preferred_scheme('prefix')
                  if hasattr(sysconfig, 'get_preferred_scheme') else 'posix_prefix')
        if scheme == 'posix_local':
            scheme = 'posix_prefix'
        base = prefix
    return sysconfig.get_path('purelib', scheme, vars={'base': base, 'platbase': base})


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: site_dir.py PREFIX')
    prefix = os.path.normpath(sys.argv[1])
    path = os.path.normpath(purelib(prefix))
    if path.startswith(prefix.rstrip('/') + '/'):
        path = os.path.relpath(path, prefix)
    print(path)


if __name__ == '__main__':
    main()

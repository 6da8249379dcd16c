#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""The p2pmr Python module on the host, no RDMA device needed: it loads the
build tree's library, defines none of pyverbs' constants and no test
helpers, refuses what is not a pyverbs PD, and knows the layout of the
pyverbs PD installed here (Debian's python3-pyverbs 44): a newer pyverbs
shows up here first, not as a failed registration in the guest.

usage: python_test.py PYTHON-DIR   (build/cmake/python); run it with the
interpreter pyverbs is for (/usr/bin/python3).
Prints TAP; exit status 0 when every check held.
"""
import os
import sys

sys.path.insert(0, sys.argv[1])
import p2pmr  # noqa: E402

results = []


def check(what, cond, detail=''):
    results.append((what, cond, detail))


public = set(p2pmr.__all__)
check('the module exports its own objects only', public ==
      {'Device', 'DmaBuf', 'DmaBufMR', 'BarInfo', 'BarMapping', 'last_error'},
      'got %s' % sorted(public))
check('no verbs constants of its own (they are pyverbs\')',
      not [n for n in dir(p2pmr) if n.startswith(('ACCESS_', 'IBV_'))])
check('no config-space helpers on Device (tests/py/p2pmr_tests/vfio_config.py has them)',
      not [n for n in dir(p2pmr.Device) if 'config' in n or 'decode' in n])
check('the build tree\'s copy loads the build tree\'s library',
      os.path.realpath(p2pmr._lib._name).startswith(
          os.path.realpath(os.path.join(sys.argv[1], '..'))), p2pmr._lib._name)
try:
    import pyverbs.pd
except ImportError as err:
    results.append(('the pyverbs PD layout # SKIP pyverbs does not import in %s (%s): '
                    'python3-pyverbs is for /usr/bin/python3, configure with '
                    '-DPython3_EXECUTABLE=/usr/bin/python3' % (sys.executable, err), True, ''))
else:
    check('the pyverbs PD is laid out as p2pmr expects (rdma-core 44)',
          pyverbs.pd.PD.__basicsize__ == p2pmr._PYVERBS44_PD_SIZE,
          'PD is %d bytes, p2pmr knows %d' % (pyverbs.pd.PD.__basicsize__,
                                              p2pmr._PYVERBS44_PD_SIZE))
    try:
        p2pmr.DmaBufMR(object(), 0)
        check('DmaBufMR refuses what is not a pyverbs PD', False, 'it was taken')
    except TypeError as err:
        check('DmaBufMR refuses what is not a pyverbs PD, naming pyverbs.pd.PD',
              'pyverbs.pd.PD' in str(err), str(err))

for n, (what, cond, detail) in enumerate(results, 1):
    print('%s %d - %s' % ('ok' if cond else 'not ok', n, what))
    if not cond and detail:
        print('# ' + detail)
print('1..%d' % len(results))
sys.exit(0 if all(c for _, c, _ in results) else 1)

#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""The p2pmr.iommufd Python binding against the kernel (tests/suites/iommufd-dma).

usage: iommufd_test.py host PCI       IOAS, bind, attach, map host memory,
                                      unmap, and the errnos raised
       iommufd_test.py map-file PCI BAR
                                      a memfd and the BAR's dma-buf by fd
PCI is a device bound to vfio-pci that nothing else holds. Exit status 0
when every check held, 1 when one did not.
"""
import errno
import mmap
import os
import sys
import ctypes

from p2pmr.iommufd import Iommufd, MAP_READABLE, MAP_WRITEABLE


def expect_errno(err, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        if e.errno != err:
            raise AssertionError('%s: %s, expected %s' % (fn.__name__, e, errno.errorcode[err]))
        print('%s: %s as expected: %s' % (fn.__name__, errno.errorcode[err], e.strerror))
        return
    raise AssertionError('%s succeeded, expected %s' % (fn.__name__, errno.errorcode[err]))


def buffer_address(buf):
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def check_host(pci):
    with Iommufd() as ictx:
        ioas = ictx.alloc_ioas()
        dev = ictx.bind(pci)
        ictx.attach(dev, ioas)
        buf = mmap.mmap(-1, 1 << 20)
        addr = buffer_address(buf)
        iova = ictx.map(ioas, addr, 1 << 20)
        print('1 MiB of host memory at IOVA %#x' % iova)
        expect_errno(errno.EEXIST, ictx.map, ioas, addr, 4096, MAP_READABLE, iova)
        expect_errno(errno.EINVAL, ictx.map, ioas, addr, 4096, 0x40)
        expect_errno(errno.ENOENT, ictx.unmap, ioas, iova, 4096)
        ictx.unmap(ioas, iova, 1 << 20)
        expect_errno(errno.EBUSY, ictx.destroy_ioas, ioas)
        expect_errno(errno.ENOENT, ictx.attach, dev, ioas + 1000)
        other = ictx.alloc_ioas()
        ictx.destroy_ioas(other)
        expect_errno(errno.ENOENT, ictx.destroy_ioas, other)
        del buf
    print('closed: devices first, then the iommufd')


def check_map_file(pci, bar):
    with Iommufd() as ictx:
        ioas = ictx.alloc_ioas()
        dev = ictx.bind(pci)
        ictx.attach(dev, ioas)
        fd = os.memfd_create('iommufd-test')
        os.ftruncate(fd, 1 << 20)
        iova = ictx.map_file(ioas, fd, 0, 1 << 20, MAP_READABLE | MAP_WRITEABLE)
        print('memfd at IOVA %#x' % iova)
        ictx.unmap(ioas, iova, 1 << 20)
        os.close(fd)
        with dev.export_dmabuf(bar, [(0, 1 << 20)]) as buf:
            iova = ictx.map_file(ioas, buf, 0, 1 << 20)
            print('BAR %d dma-buf at IOVA %#x' % (bar, iova))
            expect_errno(errno.EEXIST, ictx.map_file, ioas, buf, 0, 4096,
                         MAP_READABLE, iova)
            ictx.unmap(ioas, iova, 1 << 20)
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == 'host':
        check_host(argv[2])
        return 0
    if len(argv) == 4 and argv[1] == 'map-file':
        return check_map_file(argv[2], int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv))
    except (AssertionError, OSError) as err:
        print('iommufd_test.py: %s' % err, file=sys.stderr)
        sys.exit(1)

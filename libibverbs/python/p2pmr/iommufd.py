# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""iommufd from Python: devices sharing I/O address spaces (p2pmr_iommufd_open(3)).

    from p2pmr.iommufd import Iommufd, MAP_READABLE, MAP_WRITEABLE

    with Iommufd() as ictx:
        ioas = ictx.alloc_ioas()
        nvme = ictx.bind('0000:06:00.0')        # a p2pmr.Device
        ictx.attach(nvme, ioas)
        bar = ictx.bind('0000:03:00.0')
        buf = bar.export_dmabuf(2, [(0, 1 << 20)])
        iova = ictx.map_file(ioas, buf, 0, 1 << 20)   # the BAR, for DMA
        ...                                      # the NVMe DMAs to iova
        ictx.unmap(ioas, iova, 1 << 20)

Failures raise OSError(errno, message), as the rest of the module.
"""
import ctypes

from . import Device, _check, _Closing, _fd_of, _lib

__all__ = ['Iommufd', 'MAP_FIXED_IOVA', 'MAP_WRITEABLE', 'MAP_READABLE']

# enum p2pmr_ioas_map_flags (p2pmr.h), IOMMU_IOAS_MAP's values
MAP_FIXED_IOVA = 1 << 0
MAP_WRITEABLE = 1 << 1
MAP_READABLE = 1 << 2


def _declare(lib):
    c = ctypes
    protos = {
        'p2pmr_iommufd_open': (c.c_int, [c.POINTER(c.c_void_p)]),
        'p2pmr_iommufd_close': (c.c_int, [c.c_void_p]),
        'p2pmr_iommufd_fd': (c.c_int, [c.c_void_p]),
        'p2pmr_ioas_alloc': (c.c_int, [c.c_void_p, c.POINTER(c.c_uint32)]),
        'p2pmr_ioas_destroy': (c.c_int, [c.c_void_p, c.c_uint32]),
        'p2pmr_ioas_map': (c.c_int, [c.c_void_p, c.c_uint32, c.c_void_p, c.c_uint64,
                                     c.c_uint32, c.POINTER(c.c_uint64)]),
        'p2pmr_ioas_map_file': (c.c_int, [c.c_void_p, c.c_uint32, c.c_int, c.c_uint64,
                                          c.c_uint64, c.c_uint32, c.POINTER(c.c_uint64)]),
        'p2pmr_ioas_unmap': (c.c_int, [c.c_void_p, c.c_uint32, c.c_uint64, c.c_uint64]),
        'p2pmr_device_bind_iommufd': (c.c_int, [c.c_char_p, c.c_void_p,
                                                c.POINTER(c.c_void_p)]),
        'p2pmr_device_attach_ioas': (c.c_int, [c.c_void_p, c.c_uint32]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


_declare(_lib)


class _BoundDevice(Device):
    """A Device opened by Iommufd.bind(): the VFIO cdev bound to that iommufd."""

    def __init__(self, pci_addr, ictx):
        self._dev = None
        handle = ctypes.c_void_p()
        _check(_lib.p2pmr_device_bind_iommufd(pci_addr.encode(), ictx, ctypes.byref(handle)))
        self._dev = handle
        self.pci_addr = pci_addr


class Iommufd(_Closing):
    """An open /dev/iommu. Devices bound to it (bind()) are closed by close()
    first, then the context."""

    def __init__(self):
        self._ictx = None
        self._devices = []
        handle = ctypes.c_void_p()
        _check(_lib.p2pmr_iommufd_open(ctypes.byref(handle)))
        self._ictx = handle

    @property
    def fd(self):
        return _lib.p2pmr_iommufd_fd(self._ictx)

    def alloc_ioas(self):
        """A new, empty I/O address space; its id."""
        ioas = ctypes.c_uint32()
        _check(_lib.p2pmr_ioas_alloc(self._ictx, ctypes.byref(ioas)))
        return ioas.value

    def destroy_ioas(self, ioas):
        _check(_lib.p2pmr_ioas_destroy(self._ictx, ioas))

    def bind(self, pci_addr):
        """The device at pci_addr (bound to vfio-pci) by its VFIO cdev, bound
        to this iommufd: a p2pmr.Device (BARs, dma-bufs) for attach()."""
        dev = _BoundDevice(pci_addr, self._ictx)
        self._devices.append(dev)
        return dev

    @staticmethod
    def attach(dev, ioas):
        """Attach a device from bind() to an IOAS of this iommufd."""
        _check(_lib.p2pmr_device_attach_ioas(dev._dev, ioas))

    def map(self, ioas, addr, length, flags=MAP_READABLE | MAP_WRITEABLE, iova=None):
        """Map host memory [addr, addr + length) (an int address, e.g. of a
        ctypes buffer or an mmap); the IOVA, given (FIXED_IOVA) or picked."""
        value = ctypes.c_uint64(iova or 0)
        if iova is not None:
            flags |= MAP_FIXED_IOVA
        _check(_lib.p2pmr_ioas_map(self._ictx, ioas, addr, length, flags, ctypes.byref(value)))
        return value.value

    def map_file(self, ioas, file, start, length, flags=MAP_READABLE | MAP_WRITEABLE,
                 iova=None):
        """Map bytes [start, start + length) of a memfd or BAR dma-buf (a
        DmaBuf, anything with fileno(), or an fd); the IOVA. ENOTTY: the
        kernel has no IOMMU_IOAS_MAP_FILE."""
        value = ctypes.c_uint64(iova or 0)
        if iova is not None:
            flags |= MAP_FIXED_IOVA
        _check(_lib.p2pmr_ioas_map_file(self._ictx, ioas, _fd_of(file), start, length, flags,
                                        ctypes.byref(value)))
        return value.value

    def unmap(self, ioas, iova, length):
        _check(_lib.p2pmr_ioas_unmap(self._ictx, ioas, iova, length))

    def close(self):
        for dev in self._devices:
            dev.close()
        self._devices = []
        if self._ictx:
            _check(_lib.p2pmr_iommufd_close(self._ictx))
        self._ictx = None

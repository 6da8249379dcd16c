# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""PCI config space of a p2pmr.Device through VFIO, for the tests that
revoke a device's dma-bufs by turning its memory decode off and on.

A test's tool, not part of the p2pmr module: users revoke and restore
through their own driver (vfio-pci revokes on reset and on memory decode
off; see docs/vfio-dmabuf-exporter.md).
"""
import errno
import fcntl
import os
import struct

# linux/vfio.h: VFIO_DEVICE_GET_REGION_INFO is _IO(';', 100 + 8); struct
# vfio_region_info is argsz, flags, index, cap_offset (u32), size, offset (u64).
_VFIO_DEVICE_GET_REGION_INFO = 0x3b6c
_VFIO_REGION_INFO = struct.Struct('=IIIIQQ')
_VFIO_PCI_CONFIG_REGION_INDEX = 7
# linux/pci_regs.h
PCI_COMMAND = 0x04
PCI_COMMAND_MEMORY = 0x2


def _config_offset(dev):
    """Offset of the PCI config space region in the device fd."""
    query = _VFIO_REGION_INFO.pack(_VFIO_REGION_INFO.size, 0,
                                   _VFIO_PCI_CONFIG_REGION_INDEX, 0, 0, 0)
    reply = fcntl.ioctl(dev.fd, _VFIO_DEVICE_GET_REGION_INFO, query)
    return _VFIO_REGION_INFO.unpack(reply)[5]


def config_read(dev, pos, length):
    """length bytes of dev's PCI config space at pos."""
    data = os.pread(dev.fd, length, _config_offset(dev) + pos)
    if len(data) != length:
        raise OSError(errno.EIO, 'config space read of %d bytes at %#x gave %d'
                      % (length, pos, len(data)))
    return data


def config_write(dev, pos, data):
    """Write bytes to dev's PCI config space at pos (vfio-pci virtualises
    some registers: see its documentation)."""
    done = os.pwrite(dev.fd, data, _config_offset(dev) + pos)
    if done != len(data):
        raise OSError(errno.EIO, 'config space write of %d bytes at %#x wrote %d'
                      % (len(data), pos, done))


def memory_decode(dev):
    """True when the memory space enable bit of PCI_COMMAND is set."""
    cmd = int.from_bytes(config_read(dev, PCI_COMMAND, 2), 'little')
    return bool(cmd & PCI_COMMAND_MEMORY)


def set_memory_decode(dev, on):
    """Set or clear the memory space enable bit of PCI_COMMAND. Clearing it
    revokes the device's dma-bufs (MRs over them fail their accesses);
    setting it again restores them."""
    cmd = int.from_bytes(config_read(dev, PCI_COMMAND, 2), 'little')
    cmd = cmd | PCI_COMMAND_MEMORY if on else cmd & ~PCI_COMMAND_MEMORY
    config_write(dev, PCI_COMMAND, cmd.to_bytes(2, 'little'))

# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""pyverbs tests of p2pmr dma-buf MRs, in the style of rdma-core's tests/:
unittest cases on a common base (base.P2pmrTestCase). Run them with
tests/py/run_pyverbs_tests.py (TAP, one line per test method) or plain
unittest (/usr/bin/python3 -m unittest discover -s tests/py/p2pmr_tests -t tests/py)."""

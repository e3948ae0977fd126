# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The package version: setup.py reads it from here; package.xml repeats it (test_package.py checks)."""

__version__ = '0.1.0'

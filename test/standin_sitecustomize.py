# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Copied as ``sitecustomize.py`` onto PYTHONPATH of node subprocesses started by tests.

With LFN2_TEST_STANDIN_DIR set, ``lfn2_ros.inference.FlowEstimator`` resolves to the OpenCV DIS
stand-in of test/fake_estimators.py, so the installed console scripts run without trained weights.
The package code is not changed; production processes never have this file on their path.
"""

import os
import sys
import types

if os.environ.get('LFN2_TEST_STANDIN_DIR'):
    sys.path.insert(0, os.environ['LFN2_TEST_STANDIN_DIR'])
    from fake_estimators import DisFlowStandIn

    _module = types.ModuleType('lfn2_ros.inference')
    _module.FlowEstimator = lambda **kwargs: DisFlowStandIn(kwargs)
    sys.modules['lfn2_ros.inference'] = _module

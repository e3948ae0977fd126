# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Measuring flow: metrics, the evaluation run behind ``python -m lfn2_ros.evaluate``, its report.

Metrics (numpy only): ``accuracy`` (EPE, Fl, outliers against ground truth), ``consistency``
(photometric error, forward-backward check), ``stats`` (flow and runtime statistics, histograms) and
``accumulator`` (pooled per split). The run: ``sources`` (bag or dataset pairs), ``run``, ``outputs``
and ``report``. Also ``visualize`` (Middlebury colour coding) and ``synthetic_pairs`` (photos warped
by a known flow).
"""

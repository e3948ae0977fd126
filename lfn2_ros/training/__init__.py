# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training of LiteFlowNet2 on generated pairs: data generator and stage-wise trainer."""

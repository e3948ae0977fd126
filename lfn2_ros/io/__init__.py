# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Data in and out, without ROS or torch: flow files, image encodings, rosbag2 bags, datasets, photos.

``flow_files`` (.flo, KITTI png, .npy), ``image_encodings`` (the sensor_msgs encodings),
``image_decode`` / ``image_pack`` (message fields -> BGR and flow arrays, and back),
``bag_records`` / ``bag_reader`` / ``bag_writer`` (rosbag2 through ``rosbags``), ``datasets`` (Sintel,
KITTI, FlyingChairs directories), ``photos`` (scikit-image's bundled photos) and ``pairs`` (the pair
record they all yield).
"""

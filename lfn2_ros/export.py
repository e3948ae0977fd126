# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Export LiteFlowNet2 to ONNX (for onnxruntime, TensorRT, ...) and check it against PyTorch.

The exported graph maps two normalised images to flow at the network input size::

    img1, img2: (B, 3, H, W) float32, BGR in [0, 1] (uint8 / 255), H and W the network input size
    flow:       (B, 2, H, W) float32, px of the network input; channel 0 = u (+x right), 1 = v (+y down)

Resizing the camera image to (H, W) (bilinear, as cv2.resize) and scaling the flow back to the image size
stay with the caller, as in :class:`lfn2_ros.inference.FlowEstimator`. The correlation runs as the
pure-PyTorch reference during export (standard ONNX operators: Pad, Slice, Mul, ReduceSum, GridSample), so
the file needs no custom operator. H and W are fixed at export time (``--size``); export once per camera
resolution.

Usage:
    python -m lfn2_ros.export --onnx flow.onnx --weights liteflownet2.pth --size 480x640
    ros2 run lfn2_ros export --onnx flow.onnx --weights liteflownet2.pth

With onnxruntime installed the export is checked on two textured frames (max |difference| in px,
printed; a difference above the tolerance exits with status 1).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lfn2_ros.cli_args import parse_size
from lfn2_ros.inference import FlowEstimator
from lfn2_ros.model import LiteFlowNet2
from lfn2_ros.ops.correlation import use_backend
from lfn2_ros.processing import check_input_size, end_level_flow_px

__all__ = ['FlowNetwork', 'export_onnx', 'check_onnx', 'main']


class FlowNetwork(nn.Module):
    """LiteFlowNet2 from normalised images to flow in px at the network input size (the exported graph).

    Args:
        model: the network (its variant gives the end level and flow_div).

    """

    def __init__(self, model: LiteFlowNet2) -> None:
        super().__init__()
        self.model = model
        self.end_level = model.variant.end_level
        self.flow_div = float(model.variant.flow_div)

    def forward(self, img1: torch.Tensor, img2: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) BGR in [0, 1] twice -> (B, 2, H, W) flow, px of the input (img1 -> img2)."""
        preds = self.model.decode(self.model.extract_features(img1), self.model.extract_features(img2))
        return end_level_flow_px(preds, self.end_level, self.flow_div, img1.shape[-2:])


def _example_pair(height: int, width: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two textured frames, the second shifted by (3, 2) px: inputs with a structured, non-zero flow."""
    rng = np.random.default_rng(0)
    base = rng.random((3, height + 16, width + 16), dtype=np.float32)
    base = F.avg_pool2d(torch.from_numpy(base)[None], 5, 1, 2)[0].numpy()  # smooth, still textured
    img1 = torch.from_numpy(np.ascontiguousarray(base[:, 8:8 + height, 8:8 + width]))
    img2 = torch.from_numpy(np.ascontiguousarray(base[:, 6:6 + height, 5:5 + width]))
    return img1[None].repeat(batch, 1, 1, 1), img2[None].repeat(batch, 1, 1, 1)


def export_onnx(estimator: FlowEstimator, path: str | os.PathLike, size: tuple[int, int], *,
                batch: int = 1) -> FlowNetwork:
    """Write the ONNX graph of ``estimator``'s network at network input ``size`` = (H, W) px.

    Args:
        estimator: a float32 CPU estimator (its weights and variant are exported).
        path: output ``.onnx`` file.
        size: network input (height, width) px; must be supported by the variant (multiple of 32).
        batch: batch size of the graph.

    Returns:
        The exported :class:`FlowNetwork` (CPU, float32, reference correlation), for checks.

    Raises:
        ValueError: unsupported size, or an estimator that is not float32 on the CPU.
        ImportError: the ONNX exporter's dependencies (onnx, onnxscript) are missing.

    """
    if estimator.device.type != 'cpu' or estimator.dtype != torch.float32:
        raise ValueError(f'export from a float32 CPU estimator, got {estimator.dtype} on {estimator.device}')
    check_input_size(size[0], size[1], estimator.variant.end_level, estimator.model_name)
    network = FlowNetwork(estimator.model).eval()
    img1, img2 = _example_pair(*size, batch)
    with use_backend('reference'), torch.no_grad():
        program = torch.onnx.export(network, (img1, img2), input_names=['img1', 'img2'],
                                    output_names=['flow'], dynamo=True, verbose=False)
        program.model.metadata_props.update({
            'model': estimator.model_name,
            'input': 'img1, img2: (B, 3, H, W) float32 BGR in [0, 1] = uint8 / 255 at the network size',
            'output': 'flow: (B, 2, H, W) float32 px of the network input, u right, v down, img1 -> img2',
            'size': f'{size[0]}x{size[1]}',
        })
        program.save(str(path))
    return network


def check_onnx(network: FlowNetwork, path: str | os.PathLike, size: tuple[int, int],
               batch: int = 1) -> tuple[float, float]:
    """Run the exported file with onnxruntime (CPU) and PyTorch on the same example pair.

    Returns:
        (max |difference| px, max |flow| px of PyTorch).

    Raises:
        ImportError: onnxruntime is not installed.

    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    img1, img2 = _example_pair(*size, batch)
    with use_backend('reference'), torch.no_grad():
        expected = network(img1, img2).numpy()
    (actual,) = session.run(['flow'], {'img1': img1.numpy(), 'img2': img2.numpy()})
    return float(np.abs(actual - expected).max()), float(np.abs(expected).max())


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog='python -m lfn2_ros.export', description=__doc__.split('\n\n')[0])
    parser.add_argument('--onnx', required=True, type=Path, help='output .onnx file')
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--weights', default=None, help='checkpoint (mmflow .pth or ours); default: the '
                        'embedded default weights')
    source.add_argument('--random-weights', action='store_true', help='untrained network (for testing)')
    parser.add_argument('--variant', default='auto', help='mmflow config name or alias (default: from the '
                        'checkpoint)')
    parser.add_argument('--size', type=parse_size, default=(320, 448),
                        help='network input HxW px (default 320x448)')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--no-check', action='store_true', help='skip the onnxruntime comparison')
    parser.add_argument('--tolerance', type=float, default=1e-3,
                        help='largest accepted |ONNX - PyTorch| relative to max(1 px, max |flow|)')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m lfn2_ros.export``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        estimator = FlowEstimator(weights=args.weights, variant=args.variant, device='cpu',
                                  random_weights=args.random_weights)
        network = export_onnx(estimator, args.onnx, args.size, batch=args.batch)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f'export: error: {exc}', file=sys.stderr)
        return 2
    print(f'export: wrote {args.onnx} ({args.onnx.stat().st_size / 1e6:.1f} MB): {estimator.model_name}, '
          f'input {args.batch}x3x{args.size[0]}x{args.size[1]}')
    if args.no_check:
        return 0
    try:
        diff, scale = check_onnx(network, args.onnx, args.size, args.batch)
    except ImportError:
        print('export: onnxruntime is not installed; parity not checked (pip install onnxruntime)')
        return 0
    limit = args.tolerance * max(1.0, scale)
    print(f'export: onnxruntime vs PyTorch: max |difference| {diff:.3g} px (max |flow| {scale:.3g} px, '
          f'limit {limit:.3g} px)')
    return 0 if diff <= limit else 1


if __name__ == '__main__':
    sys.exit(main())

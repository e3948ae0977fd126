# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Command-line flow for one image pair.

Example::

    python -m lfn2_ros.predict --weights lfn2.pth --img1 a.png --img2 b.png --out f.flo --viz f.png

The output format follows the extension of ``--out``: ``.flo`` (Middlebury), ``.npy`` (float32
(H, W, 2) px) or ``.png`` (KITTI 16-bit). ``--viz`` writes the Middlebury colour coding.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from lfn2_ros.io import flow_files
from lfn2_ros.io.image_files import ImageFileError, read_bgr

_FLOW_EXTENSIONS = ('.flo', '.npy', '.png')


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``python -m lfn2_ros.predict``.

    Returns:
        The parser.

    """
    parser = argparse.ArgumentParser(
        prog='python -m lfn2_ros.predict',
        description='Estimate LiteFlowNet2 optical flow from --img1 to --img2 and write it to --out.',
    )
    parser.add_argument(
        '--weights',
        default=None,
        help='checkpoint (.pth, mmflow model zoo or ours); default: the embedded default weights',
    )
    parser.add_argument('--variant', default='auto', help="mmflow config name or alias (default: 'auto')")
    parser.add_argument('--img1', required=True, help='first image (any format cv2 reads; loaded as BGR)')
    parser.add_argument('--img2', required=True, help='second image, same size as --img1')
    parser.add_argument('--out', required=True, help='flow file to write: .flo, .npy or .png (KITTI 16-bit)')
    parser.add_argument('--viz', default=None, help='optional colour-coded flow image to write (viz.png)')
    parser.add_argument(
        '--viz-max-magnitude', type=float, default=None, metavar='PX',
        help='flow magnitude in px drawn fully saturated (default: the maximum of the flow)',
    )
    parser.add_argument('--device', default='auto', help="'auto' (default), 'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument(
        '--allow-fallback', action='store_true',
        help='use the CPU with a warning when CUDA is requested but absent',
    )
    parser.add_argument(
        '--dtype', default='float32', choices=('float32', 'float16', 'bfloat16', 'fp32', 'fp16', 'bf16'),
        help='network precision (float16 needs CUDA; default float32)',
    )
    parser.add_argument(
        '--network-size', type=int, nargs=2, default=None, metavar=('H', 'W'),
        help='fixed network input size in px (default: next multiple of 2^e of the image size, as mmflow)',
    )
    parser.add_argument('--num-threads', type=int, default=None, help='torch CPU threads (default: torch\'s)')
    parser.add_argument('--debug', action='store_true',
                        help='print the traceback of an error, not only its line')
    return parser


def _read_image(path: str, flag: str) -> np.ndarray:
    try:
        return read_bgr(path)
    except ImageFileError as exc:
        raise ValueError(f'{flag}: {exc}') from None


def _check_output(path: str, flag: str, extensions: Sequence[str]) -> None:
    if Path(path).is_dir():  # checked first: the inference would run, then the write would fail
        raise ValueError(f'{flag}: {path} is a directory; give a file name, e.g. {Path(path) / "flow"}'
                         f'{extensions[0]}')
    suffix = Path(path).suffix.lower()
    if suffix not in extensions:
        raise ValueError(f'{flag}: unsupported extension {suffix!r} in {path}; use one of {extensions}')
    parent = Path(path).parent
    if not parent.is_dir():
        raise FileNotFoundError(f'{flag}: output directory does not exist: {parent}')


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        Exit status: 0 on success, 1 on a user or runtime error (one line on stderr; the traceback too
        with ``--debug``); argparse exits with 2 on malformed arguments.

    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s: %(message)s')
    prog = 'predict'
    try:
        # Fail on cheap checks before loading torch and the model.
        _check_output(args.out, '--out', _FLOW_EXTENSIONS)
        if args.viz is not None:
            _check_output(args.viz, '--viz', ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.tif', '.tiff'))
        img1 = _read_image(args.img1, '--img1')
        img2 = _read_image(args.img2, '--img2')
        if img1.shape != img2.shape:
            raise ValueError(
                f'--img1 and --img2 must have the same size, got {img1.shape[1]}x{img1.shape[0]} '
                f'and {img2.shape[1]}x{img2.shape[0]} (WxH)'
            )

        from lfn2_ros.evaluation.visualize import flow_to_color
        from lfn2_ros.inference import FlowEstimator  # torch import deferred for fast argument errors

        estimator = FlowEstimator(
            args.weights,
            variant=args.variant,
            device=args.device,
            dtype=args.dtype,
            network_size=args.network_size,
            allow_fallback=args.allow_fallback,
            num_threads=args.num_threads,
        )
        start = time.perf_counter()
        flow = estimator(img1, img2)
        inference_ms = (time.perf_counter() - start) * 1e3
        flow_files.write_flow(args.out, flow)
        if args.viz is not None and not cv2.imwrite(args.viz, flow_to_color(flow, args.viz_max_magnitude)):
            raise ValueError(f'--viz: could not write {args.viz}')
    except (FileNotFoundError, ValueError, TypeError, RuntimeError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f'{prog}: error: {" ".join(str(exc).split())}', file=sys.stderr)  # one line, always
        return 1
    magnitude = np.hypot(flow[..., 0], flow[..., 1])
    print(
        f'{args.out}: {flow.shape[1]}x{flow.shape[0]} flow, {estimator.model_name} on {estimator.device}, '
        f'mean |flow| {magnitude.mean():.3f} px, max {magnitude.max():.3f} px, {inference_ms:.1f} ms'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX export: the exported graph gives PyTorch's flow under onnxruntime; clear errors on bad input."""

import numpy as np
import pytest
import torch

from lfn2_ros.export import FlowNetwork, check_onnx, export_onnx, main
from lfn2_ros.inference import FlowEstimator

SIZE = (64, 128)  # a multiple of 64: the estimator runs the network at this size without resizing


# The export itself takes about a minute (torch.onnx's dynamo exporter): the tests using it are slow ones.
@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    # Optional packages are checked here, not at module level, so a missing one skips these tests only.
    pytest.importorskip('onnxscript', reason='the ONNX exporter needs onnxscript')
    pytest.importorskip('onnxruntime', reason='the parity check needs onnxruntime')
    torch.manual_seed(0)
    estimator = FlowEstimator(random_weights=True, variant='pre_M3S3R3', device='cpu')
    path = tmp_path_factory.mktemp('onnx') / 'lfn2.onnx'
    network = export_onnx(estimator, path, SIZE, batch=2)
    return estimator, network, path


@pytest.mark.slow
def test_onnx_flow_equals_pytorch(exported):
    estimator, network, path = exported
    diff, scale = check_onnx(network, path, SIZE, batch=2)
    assert scale > 0 and diff <= 1e-4 * max(1.0, scale)


@pytest.mark.slow
def test_graph_is_self_contained_and_documented(exported):
    import onnx

    estimator, _, path = exported
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert {op.domain for op in model.opset_import} <= {'', 'ai.onnx', 'pkg.onnxscript.torch_lib.common'}
    assert all(node.domain in ('', 'ai.onnx') for node in model.graph.node)  # no custom (lfn2) operator
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta['model'] == estimator.model_name and meta['size'] == '64x128'
    inputs = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert inputs == {'img1': [2, 3, *SIZE], 'img2': [2, 3, *SIZE]}


@pytest.mark.slow
def test_estimator_flow_is_the_graph_flow_at_network_size(exported):
    """FlowEstimator on uint8 frames at the network size == the graph on frames / 255."""
    import onnxruntime as ort

    estimator, network, path = exported
    assert estimator.network_input_size(*SIZE) == SIZE
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8) for _ in range(2)]
    expected = estimator(*frames)
    tensors = [torch.from_numpy(f.astype(np.float32) / np.float32(255.0)).permute(2, 0, 1)[None]
               for f in frames]
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    feed = {name: t.repeat(2, 1, 1, 1).numpy() for name, t in zip(('img1', 'img2'), tensors, strict=True)}
    (flow,) = session.run(['flow'], feed)
    tolerance = 1e-4 * max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(flow[0].transpose(1, 2, 0), expected, atol=tolerance)
    assert isinstance(network, FlowNetwork)


def test_cli_rejects_bad_sizes_and_missing_weights(tmp_path, capsys):
    assert main(['--onnx', str(tmp_path / 'a.onnx'), '--random-weights', '--size', '50x70']) == 2
    assert 'not supported' in capsys.readouterr().err
    assert main(['--onnx', str(tmp_path / 'b.onnx'), '--weights', str(tmp_path / 'missing.pth')]) == 2
    assert 'not found' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['--onnx', str(tmp_path / 'c.onnx'), '--random-weights', '--size', 'big'])

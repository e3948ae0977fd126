# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
import torch

from lfn2_ros.model import build_liteflownet2, load_checkpoint, save_checkpoint
from lfn2_ros.model.checkpoint import read_checkpoint
from lfn2_ros.training.export import DEFAULT_NAME, compare_fp16, export_weights


def _probes():
    torch.manual_seed(1)
    img = torch.rand(1, 3, 64, 96)
    return [(img, torch.roll(img, 2, dims=3))]


def test_fp16_flushing_weights_forces_fp32(tmp_path):
    torch.manual_seed(0)
    model = build_liteflownet2('pre_M6S6')
    with torch.no_grad():  # a level trained to tiny weights: below fp16's smallest subnormal
        model.decoder.decoders.level6.NetM.layers[0].conv.weight.mul_(1e-7)
    save_checkpoint(model, tmp_path / 'src.pth')
    report = compare_fp16(model, _probes())
    assert report['flushed'] > 0
    out = export_weights(tmp_path / 'src.pth', tmp_path / 'w.pth', probes=_probes())
    assert out['dtype'] == 'float32'
    state, meta, _ = read_checkpoint(tmp_path / 'w.pth')
    assert state['encoder.layers.0.layers.0.conv.weight'].dtype == torch.float32
    assert meta['name'] == DEFAULT_NAME and meta['variant'] == 'pre_M6S6'
    assert meta['architecture'].startswith('LiteFlowNet2')
    loaded = load_checkpoint(tmp_path / 'w.pth')
    for (name, p), (_, q) in zip(loaded.named_parameters(), model.named_parameters(), strict=True):
        assert torch.equal(p, q), name


def test_forced_fp16_export_loads_as_float32(tmp_path):
    torch.manual_seed(0)
    model = build_liteflownet2('pre_M6S6')
    save_checkpoint(model, tmp_path / 'src.pth')
    out = export_weights(tmp_path / 'src.pth', tmp_path / 'w16.pth', dtype='float16', probes=_probes())
    assert out['dtype'] == 'float16'
    state = read_checkpoint(tmp_path / 'w16.pth')[0]
    assert state['encoder.layers.0.layers.0.conv.weight'].dtype == torch.float16
    loaded = load_checkpoint(tmp_path / 'w16.pth')
    assert all(p.dtype == torch.float32 for p in loaded.parameters())

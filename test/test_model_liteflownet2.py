# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of lfn2_ros/model/liteflownet2.py (with encoder.py, units.py, decoder.py).

Includes an independent functional re-statement of docs/model.md (#encoder to #level-loop) written directly
on the state dict (no lfn2_ros.model classes), which the module implementation must match exactly.
"""

import pytest
import torch
import torch.nn.functional as F

import lfn2_ros.model.units as units
from lfn2_ros.model import VARIANTS, FlowFeatures, build_liteflownet2, get_variant
from lfn2_ros.ops.reference import correlation_reference

torch.set_num_threads(1)


def images(height, width, batch=1, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 3, height, width, generator=gen),
            torch.rand(batch, 3, height, width, generator=gen))


def randomised(alias, seed=0, **kwargs):
    """Model with random weights and non-zero biases (so every bias path is exercised)."""
    torch.manual_seed(seed)
    model = build_liteflownet2(alias, **kwargs).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith('bias'):
                param.uniform_(-0.1, 0.1)
    return model


# -------------------------------------------------------------- docs/model.md, functionally

def spec_warp(x, flow):
    """docs/model.md#masked-warp: pixel grid + flow, normalised by 2g/max(n-1,1)-1, masked bilinear."""
    n, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    grid = torch.stack((xs, ys)).float()[None].repeat(n, 1, 1, 1) + flow
    grid[:, 0] = grid[:, 0] * 2.0 / max(w - 1, 1) - 1.0
    grid[:, 1] = grid[:, 1] * 2.0 / max(h - 1, 1) - 1.0
    grid = grid.permute(0, 2, 3, 1)
    out = F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=True)
    mask = F.grid_sample(torch.ones_like(x), grid, mode='bilinear', padding_mode='zeros', align_corners=True)
    return out * (mask > 0.9999).float()


def spec_forward(sd, variant, img1, img2):
    def conv(x, key, stride=1, act=True):
        w = sd[key + '.weight']
        y = F.conv2d(x, w, sd[key + '.bias'], stride=stride, padding=(w.shape[2] // 2, w.shape[3] // 2))
        return F.leaky_relu(y, 0.1) if act else y

    def encode(img):
        feats, x = {}, img
        for i, n_convs in enumerate((1, 3, 2, 2, 1, 1)):
            for j in range(n_convs):
                x = conv(x, f'encoder.layers.{i}.layers.{j}.conv', stride=2 if (j == 0 and i > 0) else 1)
            feats[i + 1] = x
        return feats

    def up2(x, key):
        return F.conv_transpose2d(x, sd[key], stride=2, padding=1, groups=x.shape[1])

    mean = torch.tensor([0.411618, 0.434631, 0.454253]).view(1, 3, 1, 1)
    i1, i2 = img1 - mean, img2 - mean
    p1, p2 = encode(i1), encode(i2)
    out, upflow = {}, None
    for level in range(6, variant.end_level - 1, -1):
        pre = f'decoder.decoders.level{level}.'
        mult = 20.0 * 2 ** (1 - level)
        f1, f2 = p1[level], p2[level]
        # NetM
        f2w = f2 if upflow is None else spec_warp(f2, upflow * mult)
        stride = 2 if level == 3 else 1
        c = correlation_reference(f1, f2w, max_displacement=3, stride=stride, dilation_patch=stride)
        if level == 3:
            c = up2(c, pre + 'NetM.corr_up.weight')
        for j in range(5):
            c = conv(c, f'{pre}NetM.layers.{j}.conv')
        res = conv(c, pre + 'NetM.pred_flow', act=False)
        flow = res if upflow is None else upflow + res
        # NetS
        x = torch.cat((f1, spec_warp(f2, flow * mult), flow), 1)
        for j in range(5):
            x = conv(x, f'{pre}NetS.layers.{j}.conv')
        flow = flow + conv(x, pre + 'NetS.pred_flow', act=False)
        # NetR
        if level != variant.end_level or variant.regularized_end:
            h, w = f1.shape[2:]
            im1 = F.interpolate(i1, size=(h, w), mode='bilinear', align_corners=False)
            im2 = F.interpolate(i2, size=(h, w), mode='bilinear', align_corners=False)
            g = conv(f1, pre + 'rfeat_layer.conv') if f1.shape[1] < 128 else f1
            diff = torch.norm(im1 - spec_warp(im2, flow * mult), p=2, dim=1, keepdim=True)
            b = flow.shape[0]
            nomean = flow - flow.view(b, 2, -1).mean(2, True).view(b, 2, 1, 1)
            x = torch.cat((diff, nomean, g), 1)
            for j in range(6):
                x = conv(x, f'{pre}NetR.layers.{j}.conv')
            if level in (3, 4):
                dist = conv(x, pre + 'NetR.dist_layer.0', act=False)
                dist = conv(dist, pre + 'NetR.dist_layer.1', act=False)
            else:
                dist = conv(x, pre + 'NetR.dist_layer', act=False)
            wgt = F.softmax(-dist**2, dim=1)
            k = int(round(dist.shape[1] ** 0.5))
            fx = F.unfold(flow[:, 0:1], k, padding=k // 2).view_as(wgt)
            fy = F.unfold(flow[:, 1:2], k, padding=k // 2).view_as(wgt)
            flow = torch.cat(((wgt * fx).sum(1, keepdim=True), (wgt * fy).sum(1, keepdim=True)), 1)
        out[f'level{level}'] = flow
        if level != variant.end_level:
            upflow = up2(flow, pre + 'upflow_layer.weight')
    return out


@pytest.mark.parametrize(('alias', 'size'), [('kitti', (64, 96)), ('pre_M4S4R4', (64, 64)),
                                             ('pre_M5S5R5', (32, 96)), ('pre_M6S6R6', (40, 72)),
                                             ('pre_M6S6', (33, 50))])
def test_matches_functional_spec_exactly(alias, size):
    # The model must call the correlation op with the warp flow; pin it to the reference for exactness.
    model = randomised(alias, seed=1, cost_volume=correlation_reference)
    img1, img2 = images(*size, batch=2, seed=2)
    with torch.no_grad():
        got = model(img1, img2)
        want = spec_forward(model.state_dict(), model.variant, img1, img2)
    assert list(got) == list(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key


# ----------------------------------------------------------------------------- behaviour

@pytest.mark.parametrize('name', sorted(VARIANTS))
def test_output_shapes(name):
    model = build_liteflownet2(name).eval()
    img1, img2 = images(64, 96)
    with torch.no_grad():
        out = model(img1, img2)
    end = model.variant.end_level
    assert list(out) == [f'level{lv}' for lv in range(6, end - 1, -1)]
    for key, flow in out.items():
        scale = 2 ** (int(key[-1]) - 1)
        assert flow.shape == (1, 2, 64 // scale, 96 // scale)
        assert flow.dtype == torch.float32
        assert torch.isfinite(flow).all()


def test_deterministic_and_inputs_untouched():
    model = randomised('pre_M3S3R3')
    img1, img2 = images(64, 64, batch=2)
    copies = img1.clone(), img2.clone()
    with torch.no_grad():
        first = model(img1, img2)
        second = model(img1, img2)
    assert torch.equal(img1, copies[0]) and torch.equal(img2, copies[1])  # mean subtracted out of place
    for key in first:
        assert torch.equal(first[key], second[key])


def test_features_are_reusable():
    model = randomised('pre_M4S4R4')
    img1, img2 = images(64, 64)
    with torch.no_grad():
        feat1 = model.extract_features(img1)
        assert isinstance(feat1, FlowFeatures)
        assert [tuple(f.shape[1:]) for f in feat1.pyramid.values()] == [
            (32, 64, 64), (32, 32, 32), (64, 16, 16), (96, 8, 8), (128, 4, 4), (192, 2, 2)]
        torch.testing.assert_close(feat1.image[:, 0], img1[:, 0] - 0.411618)
        direct = model(img1, img2)
        split = model.decode(feat1, model.extract_features(img2))
    for key in direct:
        assert torch.equal(direct[key], split[key])


@pytest.mark.parametrize('size', [(48, 64), (64, 80), (40, 64)])
def test_full_model_rejects_sizes_with_odd_levels(size):
    model = build_liteflownet2('kitti')
    with pytest.raises(ValueError, match=r'input size .* is not supported.*even size.*multiple of 32'):
        model(*images(*size))


def test_coarse_variants_accept_any_size_and_shape_errors():
    model = build_liteflownet2('pre_M6S6').eval()
    with torch.no_grad():
        assert model(*images(37, 45))['level6'].shape == (1, 2, 2, 2)
    with pytest.raises(ValueError, match='same shape'):
        model(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 64))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        model.extract_features(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match='floating-point'):
        model.extract_features(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


def test_matching_unit_warps_with_level_pixels():
    """NetM passes up * multiplier (level px) to the correlation; level 6 passes no flow."""
    calls = []

    def spy(f1, f2, flow=None, **kwargs):
        calls.append((f1.shape[2:], None if flow is None else flow.clone(), kwargs))
        return correlation_reference(f1, f2, flow, **kwargs)

    unit = units.MatchingUnit(kernel_size=5, stride=2, dilation_patch=2, cost_volume=spy)
    f = torch.randn(1, 8, 8, 8)
    up = torch.full((1, 2, 8, 8), 0.2)
    out = unit(f, f, up, 5.0)
    assert out.shape == (1, 2, 8, 8)
    assert torch.equal(calls[-1][1], torch.full((1, 2, 8, 8), 1.0))  # 0.2 normalised * 5 = 1 level-3 px
    assert calls[-1][2]['stride'] == 2 and calls[-1][2]['dilation_patch'] == 2
    units.MatchingUnit(kernel_size=3, cost_volume=spy)(f, f, None, 0.625)
    assert calls[-1][1] is None


def test_subpixel_unit_shift_by_one_level_pixel():
    """A flow of +1 level px makes NetS see feat2 shifted so that it aligns with feat1."""
    unit = units.SubpixelUnit(feat_channels=4, kernel_size=3)
    seen = {}
    unit.layers.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0]))
    feat1 = torch.randn(1, 4, 6, 7)
    feat2 = torch.zeros_like(feat1)
    feat2[..., 1:] = feat1[..., :-1]  # content moved +1 px in x
    flow = torch.zeros(1, 2, 6, 7)
    flow[:, 0] = 1.0 / 2.5  # normalised; x multiplier 2.5 (level 4) = 1 level px
    unit(feat1, feat2, flow, 2.5)
    warped = seen['x'][:, 4:8]
    torch.testing.assert_close(warped[..., :-1], feat1[..., :-1])
    assert torch.equal(warped[..., -1], torch.zeros_like(warped[..., -1]))


def test_build_default_is_full_model():
    assert build_liteflownet2().variant is get_variant('pre_M3S3R3')


def test_cost_volume_is_a_constructor_argument_and_not_in_the_state_dict():
    """Every NetM uses the cost volume the model was built with; the weights do not depend on it."""
    calls = []

    def counting(f1, f2, flow=None, **kwargs):
        calls.append(f1.shape[2:])
        return correlation_reference(f1, f2, flow, **kwargs)

    counted = randomised('pre_M3S3R3', seed=3, cost_volume=counting)
    default = randomised('pre_M3S3R3', seed=3)
    assert list(counted.state_dict()) == list(default.state_dict())
    img1, img2 = images(64, 96, batch=1, seed=4)
    with torch.no_grad():
        got = counted(img1, img2)
    assert len(calls) == 4  # levels 6, 5, 4, 3
    for key, flow in got.items():
        torch.testing.assert_close(flow, default(img1, img2)[key], rtol=0, atol=1e-4)

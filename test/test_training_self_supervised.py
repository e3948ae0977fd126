# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""train --self-supervised: the losses, the bag pairs, the CLI, resume, and fine-tuning on a real bag."""

import csv
import json

import numpy as np
import pytest
import torch
from bag_fixtures import write_image_bag

from lfn2_ros.io.photos import load_photo
from lfn2_ros.model.checkpoint import read_checkpoint
from lfn2_ros.train import main
from lfn2_ros.training.bag_pairs import BagPairStream, load_bag_pairs, split_time
from lfn2_ros.training.config import SelfSupervisedConfig, StageConfig, TrainConfig
from lfn2_ros.training.photometric_losses import (
    LossWeights,
    SelfSupervisedLoss,
    census_distance,
    fb_visible_mask,
)
from lfn2_ros.training.trainer import run_training

TOPIC, GT_TOPIC = '/camera/image_raw', '/flow_gt'
MOTION = (16.0, -8.0)  # px per frame: content moves right and up


def _scene(n: int, size=(128, 160)) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames of a window sliding over a real photo, and their exact flow.

    The photo is scikit-image's coffee, which no training texture bank holds: the shipped weights have
    not seen it, as a user's own camera images would not have been seen.
    """
    photo = load_photo('coffee')
    h, w = size
    dx, dy = int(MOTION[0]), int(MOTION[1])
    frames = [np.ascontiguousarray(photo[40 - dy * k:40 - dy * k + h, 340 - dx * k:340 - dx * k + w])
              for k in range(n)]
    flow = np.broadcast_to(np.array(MOTION, np.float32), (h, w, 2)).copy()
    return frames, [flow] * n


def _bag(path, n=14, **kwargs):
    frames, flows = _scene(n)
    write_image_bag(path, frames, [1_000_000_000 + 100_000_000 * k for k in range(n)], gt_topic=GT_TOPIC,
                    gt_flows=flows, **kwargs)
    return path


def _shifted_pair(shift: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    photo = load_photo('astronaut')[100:164, 100:196 + shift]
    img = torch.from_numpy(np.ascontiguousarray(photo)).permute(2, 0, 1)[None].float() / 255
    return img[..., shift:], img[..., :-shift]  # the content of frame 1 sits `shift` px further right in 2


def _const_flow(u: float, v: float, like: torch.Tensor) -> torch.Tensor:
    flow = torch.zeros(like.shape[0], 2, *like.shape[2:])
    flow[:, 0], flow[:, 1] = u, v
    return flow


def test_photometric_loss_is_lowest_at_the_true_motion():
    img1, img2 = _shifted_pair(3)
    loss = SelfSupervisedLoss(LossWeights(distill=0.0))
    costs = {u: loss(img1, img2, _const_flow(u, 0, img1), _const_flow(-u, 0, img1))[1]['photometric']
             for u in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)}
    assert min(costs, key=costs.get) == 3.0
    assert float(census_distance(img1, img1).max()) == pytest.approx(0.01**0.4, rel=1e-4)


def test_ssim_variant_also_prefers_the_true_motion():
    img1, img2 = _shifted_pair(3)
    loss = SelfSupervisedLoss(LossWeights(photometric='ssim', distill=0.0))
    right = loss(img1, img2, _const_flow(3, 0, img1), _const_flow(-3, 0, img1))[1]['photometric']
    wrong = loss(img1, img2, _const_flow(0, 0, img1), _const_flow(0, 0, img1))[1]['photometric']
    assert right < wrong


def test_forward_backward_mask():
    img = torch.zeros(1, 3, 32, 40)
    consistent = fb_visible_mask(_const_flow(2, 0, img), _const_flow(-2, 0, img))
    assert consistent[..., :, :38].min() == 1  # targets inside the image, flows cancel
    assert consistent[..., :, 38:].max() == 0  # the target leaves the image
    assert fb_visible_mask(_const_flow(2, 0, img), _const_flow(2, 0, img)).max() == 0


def test_smoothness_and_distillation_terms():
    img1, img2 = _shifted_pair(3)
    fw, bw = _const_flow(3, 0, img1), _const_flow(-3, 0, img1)
    loss = SelfSupervisedLoss(LossWeights(distill=0.5))
    _, terms = loss(img1, img2, fw, bw)
    assert terms['smooth'] == 0 and 'distill' not in terms  # no teacher given
    _, taught = loss(img1, img2, fw, bw, fw + 1, bw - 1)
    assert taught['distill'] > 0
    bumpy = fw.clone()
    bumpy[..., ::2] += 1
    assert loss(img1, img2, bumpy, bw)[1]['smooth'] > 0
    with pytest.raises(ValueError, match="'census' or 'ssim'"):
        LossWeights(photometric='l2')


def test_coarse_scales_widen_the_photometric_basin_and_consistency_pulls_the_directions_together():
    img1, img2 = _shifted_pair(6)
    fine, coarse = (SelfSupervisedLoss(LossWeights(distill=0.0, scales=k)) for k in (1, 3))

    def photometric(loss, u):
        return loss(img1, img2, _const_flow(u, 0, img1), _const_flow(-u, 0, img1))[1]['photometric']

    assert min(photometric(coarse, u) for u in (0.0, 2.0, 4.0, 6.0, 8.0)) == photometric(coarse, 6.0)
    # from 4 px off the true motion to 2 px off, the pyramid's loss falls more than the full-resolution one
    fine_fall, coarse_fall = (photometric(loss, 2.0) - photometric(loss, 4.0) for loss in (fine, coarse))
    assert coarse_fall > fine_fall
    fw = _const_flow(6, 0, img1).requires_grad_(True)
    agreeing = fine(img1, img2, fw, _const_flow(-6, 0, img1))[1]['consistency']
    loss, terms = fine(img1, img2, fw, _const_flow(-3, 0, img1))
    assert agreeing == pytest.approx(0.01**0.4, rel=1e-3) and terms['consistency'] > 2 * agreeing
    loss.backward()
    assert float(fw.grad.abs().sum()) > 0
    assert 'consistency' not in SelfSupervisedLoss(LossWeights(consistency=0.0))(img1, img2, fw, -fw)[1]
    with pytest.raises(ValueError, match='scales must be >= 1'):
        LossWeights(scales=0)


def test_bag_pairs_follow_evaluate_and_hold_out_the_end(tmp_path):
    bag = _bag(tmp_path / 'bag', n=10)
    split = split_time(bag, TOPIC, None, None, 0.2)
    assert split == pytest.approx(0.8)  # frames at 0.0 .. 0.9 s: the last 2 are held out
    train = load_bag_pairs(bag, TOPIC, start_s=None, end_s=split)
    assert train.names == [f'{i:06d}' for i in range(7)]
    held = load_bag_pairs(bag, TOPIC, start_s=split, end_s=None)
    assert len(held.pairs) == 1
    assert len(load_bag_pairs(bag, TOPIC, start_s=None, end_s=split, stride=3).pairs) == 3
    with pytest.raises(ValueError, match='too few'):
        split_time(bag, TOPIC, None, None, 0.95)


def test_bag_pair_stream_is_a_function_of_the_position(tmp_path):
    pairs = load_bag_pairs(_bag(tmp_path / 'bag', n=6), TOPIC, start_s=None, end_s=None).pairs
    a = BagPairStream(pairs, (64, 96), seed=3)
    first, second = a.next_batch(2), a.next_batch(2)
    resumed = BagPairStream(pairs, (64, 96), seed=3, position=1).next_batch(2)
    assert first[0].shape == (2, 3, 64, 96) and 0 <= float(first[0].min()) and float(first[0].max()) <= 1
    assert torch.equal(second[0], resumed[0]) and torch.equal(second[1], resumed[1])
    assert not torch.equal(BagPairStream(pairs, (64, 96), seed=3, rank=1, world=2).next_batch(2)[0],
                           BagPairStream(pairs, (64, 96), seed=3, rank=0, world=2).next_batch(2)[0])


@pytest.mark.parametrize(('argv', 'message'), [
    (['--bag', 'x', '--topic', '/t'], '--bag, --topic need --self-supervised'),
    (['--self-supervised', '--topic', '/t'], 'needs --bag BAG and --topic TOPIC'),
    (['--self-supervised', '--bag', 'missing_bag', '--topic', '/t'], 'bag not found'),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, message):
    assert main(['--out', str(tmp_path / 'o'), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and 'Traceback' not in err


def test_cli_names_the_image_topics_of_a_wrong_topic(tmp_path, capsys):
    bag = _bag(tmp_path / 'bag', n=4)
    argv = ['--out', str(tmp_path / 'o'), '--self-supervised', '--bag', str(bag), '--topic', '/nope']
    assert main(argv) == 2
    assert TOPIC in capsys.readouterr().err


def _ss_cfg(out, bag, iterations, **kwargs):
    ss = SelfSupervisedConfig(bag=bag, topic=TOPIC, val_pairs=1, val_size=(64, 96))
    stage = [StageConfig('pre_M3S3R3', iterations, 1e-4, (64, 96), 1)]
    return TrainConfig(out_dir=out, stages=stage, log_every=1, val_every=2, checkpoint_every=1,
                       progress=False, use_photos=False, self_supervised=ss, **kwargs)


@pytest.mark.slow
def test_resume_equals_running_straight_through(tmp_path):
    bag = _bag(tmp_path / 'bag', n=8)
    straight = run_training(_ss_cfg(tmp_path / 'a', bag, 3))
    assert run_training(_ss_cfg(tmp_path / 'b', bag, 3, max_steps=2)) is None
    resumed = run_training(_ss_cfg(tmp_path / 'b', bag, 3))
    a, b = read_checkpoint(straight)[0], read_checkpoint(resumed)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with (tmp_path / 'a' / 'log.csv').open() as f:
        rows = list(csv.DictReader(f))
    assert rows[0]['train_photo'] and not rows[0]['train_epe'] and rows[1]['val_photo']


@pytest.mark.slow
def test_fine_tuning_lowers_the_loss_and_the_epe_on_a_known_motion(tmp_path, capsys):
    """The acceptance test: photometric loss, held-out photometric error and EPE all go down."""
    bag = _bag(tmp_path / 'bag', n=14, storage='sqlite3')
    out = tmp_path / 'run'
    argv = ['--self-supervised', '--bag', str(bag), '--topic', TOPIC, '--gt-topic', GT_TOPIC,
            '--out', str(out), '--export', str(tmp_path / 'tuned.pth'), '--iters', '60', '--crop', '96x128',
            '--batch', '2', '--lr', '1e-4', '--smooth-weight', '0.5', '--distill-weight', '0',
            '--val-every', '20', '--val-count', '3', '--log-every', '10', '--no-progress']
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert 'EPE px' in printed and 'before' in printed
    with (out / 'log.csv').open() as f:
        rows = list(csv.DictReader(f))
    train = [float(r['train_photo']) for r in rows]
    assert np.mean(train[-2:]) < np.mean(train[:2])
    result = json.loads((out / 'compare' / 'before_after.json').read_text())
    before, after = result['before'], result['after']
    assert result['held_out']['start_s'] == pytest.approx(1.1) and before['pairs'] == after['pairs'] == 2
    assert after['epe_px'] < before['epe_px']
    assert after['photometric_l1'] < before['photometric_l1']
    assert (out / 'compare' / 'after' / 'report.html').exists()
    # the exported weights load like any checkpoint
    assert read_checkpoint(tmp_path / 'tuned.pth')[1]['trained_by'] == 'lfn2_ros.train'


def _ddp_worker(rank: int, world: int, port: int, bag: str, out: str) -> None:
    import os

    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from lfn2_ros.training import distributed

    ctx = distributed.setup('cpu')
    try:
        task, stage, model = _ddp_parts(bag, ctx)
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        loss, _ = task.objective(stage)(ddp, model, task.stream(stage, 0).next_batch(2))
        loss.backward()
        if rank == 0:
            torch.save({k: p.grad for k, p in model.named_parameters()}, out)
    finally:
        distributed.cleanup()


def _ddp_parts(bag, ctx):
    from lfn2_ros.model import build_liteflownet2
    from lfn2_ros.training.self_supervised import SelfSupervisedTask

    cfg = _ss_cfg('unused', bag, 1)
    task = SelfSupervisedTask(cfg, cfg.self_supervised, ctx, None)
    torch.manual_seed(5)
    return task, cfg.stages[0], build_liteflownet2('pre_M5S5R5').train()


@pytest.mark.slow
def test_two_processes_equal_one_process_over_the_combined_batch(tmp_path):
    import socket

    import torch.multiprocessing as mp

    from lfn2_ros.training.distributed import DistContext

    bag = str(_bag(tmp_path / 'bag', n=8))
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = tmp_path / 'grads.pt'
    mp.spawn(_ddp_worker, args=(2, port, bag, str(out)), nprocs=2, join=True)
    ddp_grads = torch.load(out, weights_only=True)
    task, stage, model = _ddp_parts(bag, DistContext())
    batches = [BagPairStream(task.train.pairs, stage.crop, 0, rank=r, world=2).next_batch(2) for r in (0, 1)]
    combined = tuple(torch.cat([b[i] for b in batches]) for i in (0, 1))
    loss, _ = task.objective(stage)(model, model, combined)
    loss.backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(ddp_grads[name], p.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_bag_too_large_to_hold_is_refused_with_a_hint(tmp_path):
    bag = _bag(tmp_path / 'bag', n=6)
    frame_bytes = 128 * 160 * 3
    assert len(load_bag_pairs(bag, TOPIC, start_s=None, end_s=None, max_bytes=6 * frame_bytes).pairs) == 5
    with pytest.raises(ValueError, match='--stride or --max-pairs'):
        load_bag_pairs(bag, TOPIC, start_s=None, end_s=None, max_bytes=3 * frame_bytes)

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""report.html of an evaluation: summary tables and matplotlib plots embedded as PNG.

Plots: per-pair EPE (with ground truth) or photometric error (without) against the pair index,
the pooled error histogram, the runtime per pair, and a strip of example pairs (frame 1, flow
colour coding, error map). The file is self-contained (images are base64 data URIs).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lfn2_ros.evaluation.accumulator import MetricAccumulator

__all__ = ['write_report']


def _png(fig: object) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=90, bbox_inches='tight')
    return 'data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode('ascii')


def _img_tag(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def _fmt(value: object) -> str:
    if value is None:
        return '&ndash;'
    if isinstance(value, float):
        return f'{value:.4g}'
    return html.escape(str(value))


def _split_table(metrics: Mapping) -> str:
    head = (
        'split', 'pairs', 'EPE all (px)', 'EPE noc (px)', 'Fl-all (%)', '>1 px (%)', '>3 px (%)', '>5 px (%)',
        'photometric', 'photometric, zero flow', 'fb-consistent (%)', '|flow| mean (px)', '|flow| p95 (px)',
    )
    rows = []
    for name, s in metrics['splits'].items():
        gt = s.get('gt') or {}
        a = gt.get('all') or {}
        n = gt.get('noc') or {}
        fb = s.get('fb_consistency') or {}
        noc_epe = n.get('epe')
        if noc_epe is not None and s.get('pairs_with_noc', s.get('pairs_with_gt')) != s.get('pairs_with_gt'):
            # pooled over fewer pairs than 'EPE all': say so next to the number
            noc_epe = f'{noc_epe:.4g} ({s["pairs_with_noc"]} of {s["pairs_with_gt"]} pairs)'
        values = (name, s['pairs'], a.get('epe'), noc_epe, a.get('fl_pct'), a.get('outlier_1px_pct'),
                  a.get('outlier_3px_pct'), a.get('outlier_5px_pct'), s['photometric']['l1_mean'],
                  s['photometric']['l1_zero_flow_mean'], fb.get('consistent_pct'),
                  s['flow_magnitude']['mean_px'], s['flow_magnitude']['p95_px'])
        rows.append('<tr>' + ''.join(f'<td>{_fmt(v)}</td>' for v in values) + '</tr>')
    return ('<table><tr>' + ''.join(f'<th>{h}</th>' for h in head) + '</tr>' + ''.join(rows) + '</table>')


def _skipped_list(skipped: Sequence[Mapping]) -> str:
    """The pairs the input could not form, with their reasons (empty when there are none)."""
    if not skipped:
        return ''
    items = ''.join(f'<li><code>{html.escape(str(s.get("split")))} {html.escape(str(s.get("pair")))}</code>: '
                    f'{html.escape(str(s.get("reason")))}</li>' for s in skipped)
    return f'<h2>Skipped ({len(skipped)})</h2><ul>{items}</ul>'


def _runtime_table(runtime: Mapping) -> str:
    """All pairs, and without the first (warm-up) pair: the same two figures as metrics.json's ``runtime``."""
    keys = ('pairs', 'mean_ms', 'median_ms', 'p95_ms', 'throughput_pairs_per_s')
    warm = runtime.get('excluding_first_pair') or {}
    head = '<tr><th></th><th>all pairs</th><th>excluding the first (warm-up) pair</th></tr>'
    cells = ''.join(f'<tr><th>{k}</th><td>{_fmt(runtime.get(k))}</td><td>{_fmt(warm.get(k))}</td></tr>'
                    for k in keys)
    extra = ''.join(f'<tr><th>{k}</th><td colspan="2">{_fmt(runtime.get(k))}</td></tr>'
                    for k in ('first_pair_ms', 'wall_s', 'wall_throughput_pairs_per_s'))
    return f'<table>{head}{cells}{extra}</table>'


def _finish(plt: object, fig: object, ax: object, xlabel: str, ylabel: str, title: str, *,
            legend: bool = True) -> str:
    """Label one plot, render it as a PNG data URI and free the figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    uri = _png(fig)
    plt.close(fig)
    return uri


def _per_pair_figure(plt: object, rows: Sequence[Mapping], key: str, label: str, has_gt: bool) -> str:
    """The error of each pair against its index (with the zero-flow baseline without ground truth)."""
    fig, ax = plt.subplots(figsize=(9, 3))
    for split in dict.fromkeys(r['split'] for r in rows):
        sel = [r for r in rows if r['split'] == split and r.get(key) is not None]
        ax.plot([r['index'] for r in sel], [r[key] for r in sel], '.-', ms=3, lw=0.8, label=split)
    if not has_gt:
        sel = [r for r in rows if r.get('photometric_l1_zero_flow') is not None]
        ax.plot([r['index'] for r in sel], [r['photometric_l1_zero_flow'] for r in sel], ':', lw=0.8,
                color='gray', label='zero flow (baseline)')
    return _finish(plt, fig, ax, 'pair', label, f'{label} per pair')


def _histogram_figure(plt: object, accumulators: Mapping[str, MetricAccumulator], label: str,
                      has_gt: bool) -> str:
    """The pooled per-pixel error histogram of each split."""
    fig, ax = plt.subplots(figsize=(9, 3))
    for split, acc in accumulators.items():
        hist = acc.epe_hist if has_gt else acc.photo_hist
        if hist.total:
            edges, counts = hist.edges_counts()
            ax.stairs(counts / max(hist.total, 1), edges, label=split)
    return _finish(plt, fig, ax, label, 'fraction of pixels', f'{label} histogram (all evaluated pixels)')


def _runtime_figure(plt: object, times: Sequence[float]) -> str:
    """The inference time of each pair."""
    fig, ax = plt.subplots(figsize=(9, 2.5))
    ax.plot(times, '.-', ms=3, lw=0.8)
    return _finish(plt, fig, ax, 'pair', 'ms', 'inference time per pair', legend=False)


def _strip_html(plt: object, strip: Sequence[Mapping]) -> str:
    """One row per example pair: frame 1, the flow colour coding, the error map."""
    if not strip:
        return ''
    fig, axes = plt.subplots(len(strip), 3, figsize=(10, 2.6 * len(strip)), squeeze=False)
    for row_axes, item in zip(axes, strip, strict=True):
        row_axes[0].imshow(item['image'][:, :, ::-1])
        row_axes[0].set_title(f'{item["title"]}: frame 1', fontsize=8)
        row_axes[1].imshow(item['flow'][:, :, ::-1])
        row_axes[1].set_title('flow', fontsize=8)
        err = np.ma.masked_invalid(np.asarray(item['error'], dtype=np.float64))
        im = row_axes[2].imshow(err, cmap='inferno')
        row_axes[2].set_title(item['error_label'], fontsize=8)
        fig.colorbar(im, ax=row_axes[2], fraction=0.046, pad=0.02)
        for a in row_axes:
            a.axis('off')
    tag = _img_tag(_png(fig), 'input / flow / error strip')
    plt.close(fig)
    return tag


def _document(metrics: Mapping, figures: Sequence[tuple[str, str]], strip_html: str) -> str:
    """The self-contained HTML page."""
    inp = metrics['input']
    title = f'lfn2_ros evaluation: {metrics["model"]}'
    body = [
        f'<h1>{html.escape(title)}</h1>',
        f'<p>Input: {html.escape(inp.get("type", ""))} <code>{html.escape(str(inp.get("path")))}</code>'
        + (f', topic <code>{html.escape(str(inp.get("topic")))}</code>' if inp.get('topic') else '')
        + f'; {metrics["pairs"]} pairs; device {html.escape(metrics["device"])}.</p>',
        _skipped_list(inp.get('skipped') or []),
        ''.join(f'<p><b>Warning:</b> {html.escape(str(w))}</p>' for w in inp.get('warnings') or []),
        '<h2>Metrics per split</h2>', _split_table(metrics),
        '<h2>Runtime</h2>', _runtime_table(metrics['runtime']),
        '<h2>Per pair</h2>', *(_img_tag(uri, name) for name, uri in figures),
        '<h2>Examples</h2>', strip_html,
        '<h2>Definitions</h2><ul>'
        + ''.join(
            f'<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>' for k, v in metrics['definitions'].items()
        )
        + '</ul>',
    ]
    style = (
        'body{font-family:sans-serif;margin:2em;max-width:1100px}'
        'table{border-collapse:collapse;margin:1em 0}'
        'td,th{border:1px solid #bbb;padding:3px 8px;font-size:13px}img{max-width:100%;display:block}'
    )
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<style>{style}</style></head><body>\n' + '\n'.join(body) + '\n</body></html>\n')


def write_report(
    path: str | Path,
    metrics: Mapping,
    rows: Sequence[Mapping],
    strip: Sequence[Mapping],
    accumulators: Mapping[str, MetricAccumulator],
) -> None:
    """Write the HTML report.

    Args:
        path: output ``report.html``.
        metrics: the metrics.json content.
        rows: per-pair rows (the CSV columns).
        strip: example pairs, each ``{'title', 'image' (H, W, 3) uint8 BGR, 'flow' (H, W, 3) uint8 BGR,
            'error' (H, W) float (NaN = not evaluated), 'error_label'}``.
        accumulators: the :class:`MetricAccumulator` of each split (for the histograms).

    """
    import matplotlib

    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt

    has_gt = any(r.get('epe_all') is not None for r in rows)
    key, label = ('epe_all', 'EPE (px)') if has_gt else ('photometric_l1', 'photometric error (0-255)')
    figures = [('per_pair', _per_pair_figure(plt, rows, key, label, has_gt)),
               ('histogram', _histogram_figure(plt, accumulators, label, has_gt))]
    times = [r['inference_ms'] for r in rows if r.get('inference_ms') is not None]
    if times:
        figures.append(('runtime', _runtime_figure(plt, times)))
    Path(path).write_text(_document(metrics, figures, _strip_html(plt, strip)), encoding='utf-8')

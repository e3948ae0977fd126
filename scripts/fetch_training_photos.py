#!/usr/bin/env python3
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Fetch real photos for the training generator from Debian wallpaper packages (not committed).

Downloads the packages with ``apt-get download`` (no root, nothing installed), unpacks them with
``dpkg-deb -x``, keeps the raster images of at least 800x600 px, scales each to at most 1024 px on its
longer side and writes them as JPEG to ``OUT/images/`` (default ``~/.cache/lfn2_ros/photos``), with
``OUT/images/manifest.json`` recording for every file its package, version, path in the package and
the licence and copyright lines of the package's DEP-5 ``copyright`` file. The generator
(``lfn2_ros.training.textures.load_photo_bank``) reads that folder (or ``$LFN2_PHOTOS``).

Chosen packages (Debian 12) and their licences, from their copyright files:
  lomiri-wallpapers-16.04  photos, CC-BY-4.0 / CC-BY-SA-4.0 / CC0-1.0 per file
  lomiri-wallpapers-20.04  photos and artwork, CC-BY-SA-3.0
  mate-backgrounds         nature photos and abstract art, GPL-2+ (Ubuntu MATE ones CC-BY-SA-4.0)
  ukui-wallpapers          photos and artwork, CC-BY-SA-3.0
Not used: desktop-base (vector artwork only), gnome-backgrounds 43 (WebP/SVG artwork).

Usage::

    python3 scripts/fetch_training_photos.py [--out DIR] [--packages a,b] [--copy-to .photos]

``--copy-to`` also copies the images into a folder (e.g. a git-ignored ``.photos/`` of the working tree,
for a machine without network that gets a copy of the tree).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGES = ('lomiri-wallpapers-16.04', 'lomiri-wallpapers-20.04', 'mate-backgrounds', 'ukui-wallpapers')
SUFFIXES = ('.jpg', '.jpeg', '.png')
SKIP_WORDS = ('logo', 'icon', 'thumb', 'preview', 'grub', 'plymouth', 'stripes', 'transparent')
MIN_SIZE = (800, 600)
MAX_SIDE = 1024


PERMISSIVE_LICENCES = ('CC0-1.0', 'CC-BY-4.0', 'CC-BY-3.0', 'public-domain')
"""Licences that ask for attribution at most (recorded in the model card)."""


def parse_dep5(text: str) -> list[dict[str, str]]:
    """Stanzas of a DEP-5 copyright file: dicts with 'files' (globs), 'license', 'copyright'."""
    stanzas, cur, key = [], {}, None
    for line in text.splitlines() + ['']:
        if not line.strip():
            if cur:
                stanzas.append(cur)
            cur, key = {}, None
            continue
        if line[0] in ' \t' and key:
            cur[key] += ' ' + line.strip()
            continue
        name, _, value = line.partition(':')
        key = name.strip().lower()
        cur[key] = value.strip()
    return [s for s in stanzas if 'files' in s]


def licence_of(stanzas: list[dict[str, str]], relpath: str) -> tuple[str, str]:
    """(licence, copyright) of a file: the stanza naming its file name, else the ``Files: *`` stanza.

    Packages install files under other folders than their source tree, so only the file-name part of a
    pattern is compared; patterns whose name part is a bare ``*`` (``debian/*``) are skipped.
    """
    name = Path(relpath).name
    general, specific = None, None
    for stanza in stanzas:
        for pattern in stanza['files'].split():
            if pattern == '*':
                general = stanza
            elif Path(pattern).name != '*' and fnmatch.fnmatch(name, Path(pattern).name):
                specific = stanza
    chosen = specific or general
    if chosen is None:
        return 'unknown (see the package copyright file)', ''
    return chosen.get('license', '').split(' ')[0], chosen.get('copyright', '')


def version_of(deb: Path) -> str:
    """The Version field of a .deb."""
    return subprocess.run(
        ['dpkg-deb', '-f', str(deb), 'Version'], check=True, capture_output=True, text=True
    ).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    """Fetch, unpack, select and convert; returns 0 on success."""
    import cv2

    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', type=Path, default=Path('~/.cache/lfn2_ros/photos').expanduser())
    p.add_argument('--packages', default=','.join(PACKAGES))
    p.add_argument('--copy-to', type=Path, default=None, help='also copy the images (and manifest) here')
    p.add_argument('--licences', default=','.join(PERMISSIVE_LICENCES),
                   help='keep only photos under these licences (comma-separated DEP-5 names; "any" keeps '
                        'all). Default: the permissive ones, so the shipped weights carry no share-alike or '
                        'copyleft question')
    args = p.parse_args(argv)
    debs, images = args.out / 'debs', args.out / 'images'
    debs.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    manifest = []
    for package in [s.strip() for s in args.packages.split(',') if s.strip()]:
        have = sorted(debs.glob(f'{package}_*.deb'))
        if not have:
            subprocess.run(['apt-get', 'download', package], cwd=debs, check=True)
            have = sorted(debs.glob(f'{package}_*.deb'))
        deb = have[-1]
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(['dpkg-deb', '-x', str(deb), tmp], check=True)
            root = Path(tmp)
            copyright_files = list(root.glob('usr/share/doc/*/copyright'))
            stanzas = parse_dep5(copyright_files[0].read_text(errors='replace')) if copyright_files else []
            for path in sorted(root.rglob('*')):
                rel = str(path.relative_to(root))
                if path.suffix.lower() not in SUFFIXES or any(w in rel.lower() for w in SKIP_WORDS):
                    continue
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None or max(image.shape[:2]) < MIN_SIZE[0] or min(image.shape[:2]) < MIN_SIZE[1]:
                    continue
                scale = MAX_SIDE / max(image.shape[:2])
                if scale < 1:
                    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                stem = re.sub(r'_\d+x\d+$', '', path.stem)  # one file per picture, not per resolution
                name = f'{package}__{stem}.jpg'
                if (images / name).exists() and any(m['file'] == name for m in manifest):
                    continue
                licence, holder = licence_of(stanzas, rel)
                if args.licences != 'any' and licence not in args.licences.split(','):
                    continue
                cv2.imwrite(str(images / name), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
                manifest.append(
                    {
                        'file': name,
                        'package': package,
                        'version': version_of(deb),
                        'source_path': '/' + rel,
                        'license': licence,
                        'copyright': holder,
                    }
                )
    (images / 'manifest.json').write_text(json.dumps(manifest, indent=1))
    print(f'{len(manifest)} photos in {images}')
    for lic in sorted({m['license'] for m in manifest}):
        print(f'  {lic}: {sum(m["license"] == lic for m in manifest)}')
    if args.copy_to is not None:
        args.copy_to.mkdir(parents=True, exist_ok=True)
        for item in images.iterdir():
            shutil.copy2(item, args.copy_to / item.name)
        print(f'copied to {args.copy_to}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

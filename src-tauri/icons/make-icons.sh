#!/usr/bin/env bash
# Redraws the app and tray icons (ImageMagick): a tin can, green with a dot while the server
# runs, grey with a square when it is stopped, orange with "!" when it needs attention.
# The PNGs are committed; run this only to change them.
set -euo pipefail
cd "$(dirname "$0")"
can() {
    local colour=$1 out=$2 size=$3
    shift 3
    convert -size 64x64 xc:none -fill "$colour" -stroke '#1f2933' -strokewidth 3 \
        -draw "roundrectangle 14,12 50,54 6,6" -fill '#ffffff' -draw "ellipse 32,13 18,5 0,360" \
        -stroke none -fill '#1f2933' "$@" -resize "${size}x${size}" "PNG32:$out"
}
can '#2e9e5b' tray-running.png 64 -draw 'circle 32,36 32,29'
can '#8a939c' tray-stopped.png 64 -draw 'rectangle 26,30 38,42'
can '#e08a00' tray-attention.png 64 -draw 'rectangle 30,23 34,39' -draw 'rectangle 30,43 34,47'
can '#2e9e5b' icon.png 512
for size in 32 128; do convert icon.png -resize "${size}x${size}" "PNG32:${size}x${size}.png"; done
convert icon.png -resize 256x256 PNG32:128x128@2x.png
convert icon.png -define icon:auto-resize=256,64,48,32,16 icon.ico

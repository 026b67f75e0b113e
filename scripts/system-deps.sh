#!/usr/bin/env bash
# Installs the Debian packages the GUI tests need (a virtual X server and the xcb libraries Qt
# loads), when they are missing and we may install them. Prints what is missing otherwise.
set -euo pipefail
packages=(xvfb libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-cursor0
  libdbus-1-3 libgl1 libegl1 libfontconfig1 libglib2.0-0)
command -v dpkg-query >/dev/null || { echo "system-deps: not a Debian system; install Xvfb and Qt's xcb libraries yourself"; exit 0; }
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if [ -n "$sudo" ] && ! command -v sudo >/dev/null; then
  echo "system-deps: missing ${missing[*]}; install them as root (GUI tests need them)" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null

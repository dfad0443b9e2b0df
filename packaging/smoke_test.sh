#!/usr/bin/env bash
# Smoke test of a built TFSWA Studio, as a user without Python would run it.
#
#   packaging/smoke_test.sh BUNDLE [DEB]
#
# BUNDLE: the one-folder bundle (dist/tfswa-studio) or its .tar.gz. DEB: optional .deb
# (needs root and dpkg). Steps, each under Xvfb (xvfb-run):
#  1. the bundle, in a clean environment (env -i, a fresh HOME, PATH an empty folder: no
#     virtual environment, no system Python): --self-test opens the window, loads the demo
#     model, separates 5 s of the demo song and checks the stems; then the time from start
#     to a shown window (--screenshot --no-demo) and to the demo loaded (--screenshot);
#  2. the .deb: dpkg -i, the menu entry's Exec command (from /usr/share/applications) with
#     --self-test, then dpkg -r, and nothing may be left under /opt/tfswa-studio.
# Exits 0 when every step passed.
set -euo pipefail

bundle=${1:?usage: smoke_test.sh BUNDLE [DEB]}
deb=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/empty-path"

if [[ $bundle == *.tar.gz ]]; then
  tar -xzf "$bundle" -C "$work"
  bundle=$(find "$work" -mindepth 2 -maxdepth 2 -name tfswa-studio -type f -printf '%h\n' | head -1)
fi
exe="$(cd "$bundle" && pwd)/tfswa-studio"
[[ -x $exe ]] || { echo "smoke: no executable $exe" >&2; exit 1; }

# run_clean PATH_VALUE COMMAND...: under Xvfb, with only HOME, PATH, DISPLAY and XAUTHORITY.
run_clean() {
  local path=$1; shift
  xvfb-run -a -s "-screen 0 1280x800x24" sh -c \
    'home=$1; path=$2; shift 2; exec env -i HOME="$home" PATH="$path" DISPLAY="$DISPLAY" XAUTHORITY="$XAUTHORITY" LANG=C.UTF-8 "$@"' \
    sh "$work/home" "$path" "$@"
}

seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f", b - a }'; }

echo "== 1. bundle $bundle ($(du -sh "$bundle" | cut -f1) unpacked)"
if env -i PATH="$work/empty-path" /bin/sh -c 'command -v python3 || command -v python' >/dev/null; then
  echo "smoke: a Python is on the clean PATH" >&2; exit 1
fi
start=$(seconds)
run_clean "$work/empty-path" "$exe" --self-test --settings "$work/home/settings.ini"
echo "self-test: $(elapsed "$start") s in all"
for what in "--no-demo" ""; do
  start=$(seconds)
  run_clean "$work/empty-path" "$exe" --screenshot "$work/shot.png" $what \
    --settings "$work/home/settings.ini" 2>"$work/shot.log" || { cat "$work/shot.log" >&2; exit 1; }
  label=${what:-"with the demo loaded"}
  echo "start to window ${label/--no-demo/(empty window)}: $(elapsed "$start") s"
done

if [[ -z $deb ]]; then
  echo "smoke: PASSED (no .deb given)"
  exit 0
fi

echo "== 2. Debian package $deb"
package=$(dpkg-deb -f "$deb" Package)
if [[ -e /opt/tfswa-studio ]]; then
  echo "smoke: /opt/tfswa-studio already exists: remove the installed package first" >&2; exit 1
fi
dpkg -i "$deb"
entry=/usr/share/applications/org.tfswa.Studio.desktop
icon=/usr/share/icons/hicolor/256x256/apps/tfswa-studio.png
[[ -f $entry && -f $icon && -x /usr/bin/tfswa-studio ]] || { echo "smoke: launcher, icon or /usr/bin link missing" >&2; exit 1; }
# The menu's command line, without the field codes (%F, %U, ...) a desktop fills in.
exec_line=$(sed -n 's/^Exec=//p' "$entry" | head -1 | sed 's/ %[a-zA-Z]//g')
echo "menu entry runs: $exec_line --self-test"
status=0
run_clean "/usr/local/bin:/usr/bin:/bin" $exec_line --self-test \
  --settings "$work/home/settings-deb.ini" || status=$?
dpkg -r "$package"
if [[ -e /opt/tfswa-studio || -e /usr/bin/tfswa-studio || -e $entry || -e $icon ]]; then
  echo "smoke: files left after dpkg -r:" >&2
  ls -la /opt/tfswa-studio /usr/bin/tfswa-studio "$entry" "$icon" 2>&1 | head >&2
  exit 1
fi
echo "uninstalled: nothing left under /opt/tfswa-studio"
[[ $status == 0 ]] || { echo "smoke: the menu entry's command failed ($status)" >&2; exit 1; }
echo "smoke: PASSED"

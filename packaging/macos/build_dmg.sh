#!/usr/bin/env bash
# macOS recipe (NOT TESTED HERE: written on Linux, run by .github/workflows/packaging.yml on a
# macOS runner). From a clean venv with the app's dependencies and PyInstaller:
#   pyinstaller --noconfirm --distpath dist packaging/tfswa-studio.spec
# makes dist/TFSWA Studio.app (the spec's BUNDLE step); this script then checks it starts
# (--self-test) and wraps it in a compressed disk image with a link to /Applications.
# The app is not signed or notarized: Gatekeeper asks the user to confirm the first start
# (right-click > Open). Signing needs an Apple Developer ID (codesign + notarytool).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(python3 -c "import tomllib;print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])")
app="dist/TFSWA Studio.app"
[[ -d $app ]] || { echo "no $app: run pyinstaller on packaging/tfswa-studio.spec first" >&2; exit 1; }
QT_QPA_PLATFORM=offscreen "$app/Contents/MacOS/tfswa-studio" --self-test
stage=$(mktemp -d)
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
hdiutil create -volname "TFSWA Studio" -srcfolder "$stage" -ov -format UDZO \
  "dist/tfswa-studio-$version-macos-$(uname -m).dmg"
rm -rf "$stage"

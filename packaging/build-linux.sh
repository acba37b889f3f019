#!/usr/bin/env bash
# Builds the one-folder Linux application dist/webhook-inspector/ with PyInstaller.
#
# Everything happens in a build venv of its own (build/linux/venv; BUILD_DIR moves it), so the
# developer's .venv is never touched: the project is installed there as a wheel would be, plus
# PyInstaller, both from PyPI. Start the result with dist/webhook-inspector/webhook-inspector.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build/linux}
dist=${DIST_DIR:-$root/dist}
python=${PYTHON:-python3}

start=$(date +%s)
if [[ ! -x $build/venv/bin/python ]]; then
    "$python" -m venv "$build/venv"
fi
"$build/venv/bin/pip" install -q --upgrade pip
"$build/venv/bin/pip" install -q "pyinstaller>=6.10,<7"
# Not editable: the icons must come from the installed inspector.resources package.
"$build/venv/bin/pip" install -q --force-reinstall --no-deps "$root"
"$build/venv/bin/pip" install -q "$root"

cd "$root/packaging/pyinstaller"
"$build/venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --workpath "$build/work" --distpath "$dist" webhook-inspector.spec

app=$dist/webhook-inspector
"$app/webhook-inspector" --version
echo "built $app ($(du -sh "$app" | cut -f1)) in $(( $(date +%s) - start )) s"

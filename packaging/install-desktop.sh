#!/usr/bin/env bash
# Puts Webhook Inspector in the application menu of the current user (no root needed):
# the desktop entry, the AppStream metainfo and the icons, under ~/.local/share
# ($XDG_DATA_HOME when set).
#
#   packaging/install-desktop.sh                  # the webhook-inspector found on PATH (pipx)
#   packaging/install-desktop.sh --exec PATH      # e.g. dist/webhook-inspector/webhook-inspector
#   packaging/install-desktop.sh --uninstall      # remove what the install put there
#
# The entry's Exec= is the command's absolute path: a desktop session often does not have
# ~/.local/bin on its PATH.
set -euo pipefail

app_id=io.github.webhook_inspector.WebhookInspector
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
data=${XDG_DATA_HOME:-$HOME/.local/share}
sizes=(16 24 32 48 64 128 256)

usage() { sed -n '2,11s/^# \{0,1\}//p' "$0"; }
fail() { echo "error: $*" >&2; exit 1; }

files() {
    echo "$data/applications/$app_id.desktop"
    echo "$data/metainfo/$app_id.metainfo.xml"
    echo "$data/icons/hicolor/scalable/apps/$app_id.svg"
    for s in "${sizes[@]}"; do echo "$data/icons/hicolor/${s}x${s}/apps/$app_id.png"; done
}

refresh() {
    # Menus pick the change up by themselves; these only make it immediate where they exist.
    if command -v update-desktop-database >/dev/null; then
        update-desktop-database -q "$data/applications" 2>/dev/null || true
    fi
    if command -v gtk-update-icon-cache >/dev/null && [[ -f $data/icons/hicolor/index.theme ]]; then
        gtk-update-icon-cache -q -t -f "$data/icons/hicolor" 2>/dev/null || true
    fi
}

# Exec= quoting from the Desktop Entry spec: the path in double quotes, \ " ` $ escaped
# (and escaped again as a string value), % doubled.
desktop_quote() {
    local s=$1
    s=${s//%/%%}
    s=${s//\\/\\\\\\\\}
    s=${s//\"/\\\\\"}
    s=${s//\`/\\\\\`}
    s=${s//\$/\\\\\$}
    printf '"%s"' "$s"
}

exec_path=""
action=install
while [[ $# -gt 0 ]]; do
    case $1 in
        --exec) [[ $# -ge 2 ]] || fail "--exec needs a path"; exec_path=$2; shift 2 ;;
        --exec=*) exec_path=${1#--exec=}; shift ;;
        --uninstall) action=uninstall; shift ;;
        -h|--help) usage; exit 0 ;;
        *) fail "unknown option '$1' (see --help)" ;;
    esac
done

if [[ $action == uninstall ]]; then
    removed=0
    while IFS= read -r f; do
        if [[ -e $f ]]; then rm -f -- "$f"; removed=$((removed + 1)); fi
    done < <(files)
    refresh
    echo "removed $removed file(s) of Webhook Inspector's menu entry from $data"
    exit 0
fi

if [[ -z $exec_path ]]; then
    exec_path=$(command -v webhook-inspector || true)
    [[ -n $exec_path ]] || fail "no webhook-inspector on PATH; install it (pipx install .) or pass --exec PATH"
fi
[[ -x $exec_path && ! -d $exec_path ]] || fail "not an executable: $exec_path"
exec_path=$(cd "$(dirname "$exec_path")" && pwd)/$(basename "$exec_path")

install -Dm644 "$root/resources/icons/app.svg" "$data/icons/hicolor/scalable/apps/$app_id.svg"
for s in "${sizes[@]}"; do
    install -Dm644 "$here/linux/icons/hicolor/${s}x${s}/apps/$app_id.png" \
        "$data/icons/hicolor/${s}x${s}/apps/$app_id.png"
done
install -Dm644 "$here/linux/$app_id.metainfo.xml" "$data/metainfo/$app_id.metainfo.xml"
mkdir -p "$data/applications"
entry=$data/applications/$app_id.desktop
quoted=$(desktop_quote "$exec_path")
tmp=$(mktemp "$data/applications/.$app_id.XXXXXX")
while IFS= read -r line; do
    if [[ $line == Exec=* ]]; then line="Exec=$quoted"; fi
    printf '%s\n' "$line"
done < "$here/linux/$app_id.desktop" > "$tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$entry"
refresh
echo "installed Webhook Inspector's menu entry in $data (starts $exec_path)"

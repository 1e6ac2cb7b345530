#!/usr/bin/env bash
# Screenshot a report's summary.html with headless Chromium, to look at the page as a reviewer would.
#   scripts/report-screenshot.sh REPORT_DIR [OUT.png]     (default OUT: REPORT_DIR/summary.png)
# Env: WINDOW=1280,1600 (width,height), CHROMIUM=path of the browser.
# Needs Chromium (Debian: apt-get install -y chromium). The page loads nothing from the network; the
# flags below also keep the browser itself from phoning home.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 REPORT_DIR [OUT.png]" >&2
  exit 2
fi
report_dir=$1
page="$report_dir/summary.html"
if [ ! -f "$page" ]; then
  echo "$0: $page does not exist (build it with: nvcf-conformance report build RESULTS_DIR)" >&2
  exit 2
fi
out=${2:-$report_dir/summary.png}

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
  for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then
      browser=$candidate
      break
    fi
  done
fi
if [ -z "$browser" ]; then
  echo "$0: no Chromium found; install it (Debian: apt-get install -y chromium) or set CHROMIUM" >&2
  exit 2
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
abs_page=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
abs_out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$profile" \
  --window-size="${WINDOW:-1280,1600}" --screenshot="$abs_out" "file://$abs_page" >/dev/null 2>&1

if [ ! -s "$abs_out" ]; then
  echo "$0: $browser wrote no screenshot" >&2
  exit 1
fi
echo "$abs_out"

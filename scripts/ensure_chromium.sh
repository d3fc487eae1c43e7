#!/usr/bin/env bash
# Headless Chromium for the browser test of report.html (tests/test_report_html.py).
# Installed with apt when we can (root or password-less sudo); never fails: without it the
# browser test is skipped with a reason.
set -uo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else exit 0; fi
fi
command -v apt-get >/dev/null 2>&1 || exit 0
echo "installing Chromium for the report's browser test (apt-get install chromium)"
($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
  || echo "could not install Chromium; the browser test will be skipped"
exit 0

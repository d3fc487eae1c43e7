#!/usr/bin/env bash
# Headless Chromium for the browser tests (report.html, the Playground).
# Installed SYSTEM-WIDE with Debian's apt when we can (root or password-less sudo), after saying
# so; never fails: without it the browser tests are skipped with a reason.
# KSPEC_NO_APT=1: never install anything system-wide.
set -uo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then exit 0; fi
if [ -n "${KSPEC_NO_APT:-}" ]; then
  echo "ensure_chromium: KSPEC_NO_APT is set: not installing Chromium; the browser tests will be skipped"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else exit 0; fi
fi
command -v apt-get >/dev/null 2>&1 || exit 0
echo "ensure_chromium: installing Debian's chromium SYSTEM-WIDE for the browser tests" \
  "(apt-get install chromium: /usr/bin/chromium, a few hundred MB; KSPEC_NO_APT=1 skips this)"
($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
  || echo "could not install Chromium; the browser test will be skipped"
exit 0

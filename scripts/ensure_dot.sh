#!/usr/bin/env bash
# Provide a Graphviz `dot` for diagrams (`make install` runs this; fast when one exists).
#  1. a working `dot` on PATH or in $VENV/bin: done;
#  2. root, or password-less sudo, with apt-get: Debian's graphviz;
#  3. otherwise PyPI's graphviz-pure (a self-contained Rust port whose command is
#     `graphviz-pure`, not `dot`) installed into $VENV, behind a `dot` wrapper in $VENV/bin.
#     The wrapper maps -Tps/-Tps2/-Tpdf (which graphviz-pure lacks; Keras probes `dot -Tps`)
#     to -Tsvg so such probes succeed.
# KSPEC_DOT_NO_APT=1 skips step 2 (to test step 3 on a machine where apt would work).
# Never fails `make install`: without Graphviz, `kspec plot -o x.dot` still works.
set -uo pipefail
VENV=${VENV:-.venv}

works() { "$@" -V >/dev/null 2>&1; }

if command -v dot >/dev/null 2>&1 && works dot; then exit 0; fi
if [ -x "$VENV/bin/dot" ] && works "$VENV/bin/dot"; then exit 0; fi

if [ -z "${KSPEC_DOT_NO_APT:-}${KSPEC_NO_APT:-}" ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
  if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
    echo "ensure_dot: installing Debian's graphviz SYSTEM-WIDE for diagrams (apt-get install graphviz; KSPEC_NO_APT=1 skips this)"
    if $SUDO apt-get update -qq >/dev/null 2>&1 &&
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends graphviz >/dev/null 2>&1 &&
       command -v dot >/dev/null 2>&1 && works dot; then
      exit 0
    fi
    echo "ensure_dot: apt-get could not install graphviz; trying PyPI's graphviz-pure"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "ensure_dot: no $VENV/bin/python; create the venv first (make install)" >&2
  exit 0
fi
echo "ensure_dot: installing graphviz-pure from PyPI, with a dot wrapper in $VENV/bin"
if ! "$VENV/bin/python" -m pip install -q graphviz-pure; then
  echo "ensure_dot: could not install graphviz-pure; .png/.svg diagrams need Graphviz (.dot works without)" >&2
  exit 0
fi
REAL="$VENV/bin/graphviz-pure"
if [ ! -x "$REAL" ]; then
  REAL=$(command -v graphviz-pure || true)
fi
if [ -z "$REAL" ] || ! works "$REAL"; then
  echo "ensure_dot: graphviz-pure installed but its command was not found or does not run" >&2
  exit 0
fi
REAL=$(cd "$(dirname "$REAL")" && pwd)/$(basename "$REAL")
cat >"$VENV/bin/dot" <<EOF
#!/usr/bin/env bash
# kspec: \`dot\` is PyPI's graphviz-pure (scripts/ensure_dot.sh). It has no PostScript/PDF
# output, so -Tps/-Tps2/-Tpdf (Keras's probe) become -Tsvg.
args=()
for a in "\$@"; do
  case "\$a" in
    -Tps|-Tps2|-Tpdf|-Teps) args+=("-Tsvg") ;;
    *) args+=("\$a") ;;
  esac
done
exec "$REAL" "\${args[@]}"
EOF
chmod +x "$VENV/bin/dot"
if works "$VENV/bin/dot"; then
  echo "ensure_dot: $VENV/bin/dot -> $REAL ($("$VENV/bin/dot" -V 2>&1 | head -1))"
else
  echo "ensure_dot: the dot wrapper does not run" >&2
fi
exit 0

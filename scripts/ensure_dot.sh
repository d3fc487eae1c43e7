#!/usr/bin/env bash
# Provide a Graphviz `dot` for diagrams: Debian's graphviz when we can install packages,
# else PyPI's graphviz-pure behind a wrapper in .venv/bin (Keras probes `dot -Tps`, which
# graphviz-pure lacks, so -Tps is mapped to -Tsvg).
set -euo pipefail
VENV=${VENV:-.venv}
if command -v dot >/dev/null 2>&1 && dot -V >/dev/null 2>&1; then exit 0; fi
if [ -x "$VENV/bin/dot" ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing Graphviz (apt-get install graphviz)"
    ($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends graphviz) >/dev/null 2>&1 || true
    if command -v dot >/dev/null 2>&1; then exit 0; fi
  fi
fi
echo "installing graphviz-pure from PyPI with a dot wrapper in $VENV/bin"
"$VENV/bin/pip" install -q graphviz-pure
REAL=$(ls "$VENV"/bin/dot* 2>/dev/null | grep -v '/dot$' | head -1 || true)
"$VENV/bin/python" - "$VENV" <<'PY'
import os, sys, sysconfig, shutil
venv = sys.argv[1]
# find the graphviz-pure executable it installed
candidates = [os.path.join(venv, "bin", n) for n in os.listdir(os.path.join(venv, "bin"))
              if n.startswith("dot") and n != "dot"]
real = candidates[0] if candidates else None
if real is None:
    import importlib.util
    spec = importlib.util.find_spec("graphviz_pure")
    real = f"{sys.executable} -m graphviz_pure"
wrapper = os.path.join(venv, "bin", "dot")
with open(wrapper, "w") as fh:
    fh.write(f"""#!/usr/bin/env bash
# kspec: graphviz-pure wrapper; Keras probes `dot -Tps`, which maps to -Tsvg here.
args=()
for a in "$@"; do if [ "$a" = "-Tps" ]; then args+=("-Tsvg"); else args+=("$a"); fi; done
exec {real} "${{args[@]}}"
""")
os.chmod(wrapper, 0o755)
PY

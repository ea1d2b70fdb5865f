# Sourced by the bench scripts: sets `py` to a python >= 3.11 with the venv module
# (PYTHON=... first), or exits naming the script ($1) that needs it.
py=""
for cand in ${PYTHON:-} python3 python3.11 python3.12 python3.13; do
  if command -v "$cand" >/dev/null 2>&1 &&
     "$cand" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    py="$cand"; break
  fi
done
[[ -n "$py" ]] || { echo "$1: need python3 >= 3.11 with the venv module (set PYTHON=...)" >&2; exit 1; }

# Sourced by the benchmark scripts: `venv DIR REQUIREMENTS` makes (or keeps) a Python venv in
# DIR holding exactly REQUIREMENTS' pinned packages, remade when that file changes.
venv() {
  local dir=$1 req=$2
  if [ ! -x "$dir/bin/python" ] || ! cmp -s "$req" "$dir/requirements.txt"; then
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$dir/requirements.txt"
  fi
}

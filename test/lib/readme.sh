# Sourced by stage scripts: the README's SQL examples, so that tests run the
# documentation as it is written instead of a copy of it.
#   readme_block "## Section heading" N   → the N-th ```sql block of that section
readme_block() {
  awk -v head="$1" -v want="$2" '
    /^## / { insec = ($0 == head) }
    insec && /^```sql$/ { n++; on = (n == want); next }
    on && /^```$/ { on = 0; next }
    on { print }
  ' "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/README.md"
}

# Sourced by stage scripts: a document's SQL block, so that tests run the
# documentation as it is written instead of a copy of it.
#   doc_block DOC NAME   → the ```sql block of DOC (README.md, docs/*.md)
#                          marked <!-- doc-test: stage test/stages/THIS.sh NAME -->
# test/stages/docs.sh fails when a block marked for a stage is not named by
# a doc_block call in that stage (test/lib/docs.py lint).
doc_block() {
  local top
  top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  python3 "$top/test/lib/docs.py" block "$1" "$2"
}

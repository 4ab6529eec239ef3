#!/usr/bin/env bash
# Reads an R CMD check directory: fails on any ERROR or WARNING, and prints the testthat totals
# line ("N passed, N failed[, N skipped]") that tests/testthat.R wrote, last.
set -euo pipefail
dir=${1:?usage: check-status.sh PKG.Rcheck}
log="$dir/00check.log"
status=$(grep -E '^Status:' "$log" || true)
echo "R CMD check: ${status:-no status line}"
totals="$dir/tests/testthat-totals.txt"
if grep -qE '^\* .*(ERROR|WARNING)$|^Status: .*(ERROR|WARNING)' "$log"; then
  grep -nE 'WARNING|ERROR' "$log" || true
  [ -f "$totals" ] && cat "$totals"
  echo "R CMD check reported an ERROR or WARNING" >&2
  exit 1
fi
if [ ! -f "$totals" ]; then
  echo "no testthat totals found: did the tests run?" >&2
  exit 1
fi
cat "$totals"

#!/usr/bin/env bash
# Installs everything rwecohort needs to build, test, benchmark and render its report on a
# fresh Debian machine with R 4.2. Debian's prebuilt r-cran-* packages first (fast), CRAN only
# for what Debian lacks. Safe and quick to run twice: it installs only what is missing.
set -euo pipefail

debs=(r-cran-rcpp r-cran-rcppeigen r-cran-cli r-cran-rlang r-cran-generics r-cran-knitr
      r-cran-rmarkdown r-cran-ggplot2 r-cran-patchwork r-cran-scales r-cran-parallelly
      r-cran-roxygen2 r-cran-pkgload r-cran-pkgbuild r-cran-bench r-cran-haven
      r-cran-flextable r-cran-officer r-cran-vdiffr pandoc qpdf)
cran=(coxphf survRM2)

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: installed ${missing[*]}"
fi

Rscript -e '
  want <- commandArgs(TRUE)
  have <- rownames(installed.packages())
  need <- setdiff(want, have)
  if (length(need)) {
    repos <- getOption("repos")
    if (is.null(repos) || any(repos == "@CRAN@")) stop("no CRAN mirror configured in options(repos)")
    install.packages(need, repos = repos, Ncpus = 2, quiet = TRUE)
    still <- setdiff(need, rownames(installed.packages()))
    if (length(still)) stop("could not install from CRAN: ", paste(still, collapse = ", "))
    cat("install-deps: installed from CRAN:", need, "\n")
  }
' "${cran[@]}"
echo "install-deps: all dependencies present"

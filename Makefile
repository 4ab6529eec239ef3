# rwecohort: the two commands that do everything on a fresh machine are `make report` and
# `make test` (see README.md). Every target installs what it needs first.
PKG      := rwecohort
VERSION  := $(shell sed -n 's/^Version: *//p' DESCRIPTION)
TARBALL  := $(PKG)_$(VERSION).tar.gz
REPORT   := report/rwecohort-study-report.html
REPORT_DOCX := report/rwecohort-study-report.docx
RSCRIPT  := Rscript

.PHONY: deps install report test check document bench clean

deps:
	bash tools/install-deps.sh

install: deps
	R CMD INSTALL --preclean --no-multiarch .

# The main job: the study report rendered from the bundled cohort.
report: install
	mkdir -p report
	$(RSCRIPT) -e 'rmarkdown::render("inst/report/study-report.Rmd", output_file = "rwecohort-study-report.html", output_dir = "report", intermediates_dir = tempdir(), knit_root_dir = tempdir(), quiet = TRUE)'
	$(RSCRIPT) -e 'rmarkdown::render("inst/report/study-report.Rmd", output_format = rmarkdown::word_document(), output_file = "rwecohort-study-report.docx", output_dir = "report", intermediates_dir = tempdir(), knit_root_dir = tempdir(), quiet = TRUE)'
	@echo "report written to $(REPORT) and $(REPORT_DOCX)"

# R CMD build + R CMD check (runs testthat and builds every vignette); fails on any ERROR or WARNING.
test: deps
	rm -rf $(PKG).Rcheck $(TARBALL)
	R CMD build .
	NOT_CRAN=true _R_CHECK_FORCE_SUGGESTS_=false R CMD check --no-manual $(TARBALL) || (tail -n 60 $(PKG).Rcheck/tests/testthat.Rout.fail 2>/dev/null; exit 1)
	@bash tools/check-status.sh $(PKG).Rcheck

document: deps
	$(RSCRIPT) -e 'Rcpp::compileAttributes(); roxygen2::roxygenise()'

bench: install
	$(RSCRIPT) bench/run.R

clean:
	rm -rf $(PKG).Rcheck $(TARBALL) report src/*.o src/*.so

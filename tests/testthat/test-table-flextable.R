# as_flextable() of every rwe_table class: the same cells as print(), caption, footnotes; a
# .docx written from it holds a real table with those cells; knit_print() uses it for Word.

pts <- rrdtc_derive(rrdtc_patients, rrdtc_adverse_events)
ev26 <- subset(pts, evaluable)

tables <- function() {
  list(baseline = baseline_table(pts, c("age_years", "sex", "histology")),
       response = response_rates(rrdtc_patients),
       survival = survival_by(ev26, "pfs_months", "pfs_event", c("sex", "met_bone")),
       overall = survival_overall(ev26, "pfs_months", "pfs_event"),
       cox = cox_table(ev26, "pfs_months", "pfs_event", c("sex", "met_bone", "age_years")),
       ae = ae_table(rrdtc_adverse_events, rrdtc_patients))
}

test_that("as_flextable() shows display_table()'s cells, the title and the footnotes", {
  skip_if_not_installed("flextable")
  for (tab in tables()) {
    ft <- flextable::as_flextable(tab)
    expect_s3_class(ft, "flextable")
    shown <- display_table(tab)
    expect_identical(ft$col_keys, names(shown))
    expect_identical(flextable::nrow_part(ft, "body"), nrow(shown))
    expect_identical(flextable::nrow_part(ft, "header"), 2L)
    expect_identical(ft$header$dataset[1, 1], attr(tab, "title"))
    expect_identical(flextable::nrow_part(ft, "footer"), length(attr(tab, "footnotes")))
    body <- ft$body$dataset
    expect_identical(as.character(body[[1]]), as.character(shown[[1]]))
  }
  expect_error(flextable::as_flextable(tables()$ae, foo = 1), class = "rwe_bad_input")
})

test_that("a .docx from the flextable holds the table's cells", {
  skip_if_not_installed("flextable")
  skip_if_not_installed("officer")
  tab <- response_rates(rrdtc_patients)
  file <- tempfile(fileext = ".docx")
  on.exit(unlink(file))
  flextable::save_as_docx(flextable::as_flextable(tab), path = file)
  cells <- officer::docx_summary(officer::read_docx(file))
  cells <- cells[cells$content_type == "table cell", ]
  expect_true(all(c("DCR (CR+PR+SD)", "15 (57.7)", attr(tab, "title")) %in% cells$text))
})

test_that("knit_print() renders a flextable to Word and a kable elsewhere", {
  skip_if_not_installed("flextable")
  skip_if_not_installed("officer")
  skip_if_not_installed("rmarkdown")
  skip_if_not(rmarkdown::pandoc_available())
  rmd <- tempfile(fileext = ".Rmd")
  writeLines(c("---", "title: t", "---", "```{r, echo = FALSE}",
               "rwecohort::response_rates(rwecohort::rrdtc_patients)", "```"), rmd)
  out <- rmarkdown::render(rmd, rmarkdown::word_document(), output_dir = tempdir(),
                           quiet = TRUE, envir = new.env())
  on.exit(unlink(c(rmd, out)))
  doc <- officer::docx_summary(officer::read_docx(out))
  cells <- doc$text[doc$content_type == "table cell"]
  expect_true("ORR (CR+PR)" %in% cells)
  # the title is a header cell of the flextable (a kable's caption would be a paragraph)
  expect_true("Best overall response (N = 26 evaluable)" %in% cells)
  expect_s3_class(knitr::knit_print(response_rates(rrdtc_patients)), "knit_asis")
})

test_that("the ADaM / SAS / SPSS vignette runs its xpt round trip and renders to Word", {
  # From the source tree (devtools/testthat) or, under R CMD check, the installed copy that
  # R CMD build puts in doc/.
  rmd <- c(test_path("../../vignettes/adam-sas-spss.Rmd"),
           system.file("doc", "adam-sas-spss.Rmd", package = "rwecohort"))
  rmd <- rmd[nzchar(rmd) & file.exists(rmd)][1L]
  skip_if(is.na(rmd), "vignette sources not available")
  skip_if_not_installed("haven")
  skip_if_not_installed("flextable")
  skip_if_not_installed("officer")
  skip_if_not(rmarkdown::pandoc_available())
  dir <- tempfile("vig")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE))
  out <- rmarkdown::render(rmd, rmarkdown::word_document(), output_dir = dir,
                           intermediates_dir = dir, knit_root_dir = dir, quiet = TRUE,
                           envir = new.env())
  doc <- officer::docx_summary(officer::read_docx(out))
  cells <- doc$text[doc$content_type == "table cell"]
  # the ADTTE -> survival_by table of the xpt data, and the baseline row labelled from ADSL
  expect_true("Survival by subgroup (N = 26)" %in% cells)
  expect_true("Age (years)" %in% cells)
  expect_true("Adverse events by worst grade (N = 31)" %in% cells)
})

# Builds every data set of rwecohort from scratch. Run from the package root:
#   Rscript data-raw/build-all.R
# Deterministic (each step sets its own seed). The survival search is slow-ish, so its
# result is committed as data-raw/survival-fit.csv; set REBUILD_SEARCH=true to re-run it
# (about 10 minutes, single thread; it reproduces the committed file byte for byte) before building:
#   REBUILD_SEARCH=true Rscript data-raw/build-all.R

source("data-raw/helpers.R")
source("data-raw/published-tables.R")
source("data-raw/cohort-design.R")
source("data-raw/search-survival.R")
source("data-raw/patients.R")
source("data-raw/adverse-events.R")
source("data-raw/lesions.R")

fit_file <- "data-raw/survival-fit.csv"
if (identical(Sys.getenv("REBUILD_SEARCH"), "true") || !file.exists(fit_file)) {
  run_search(fit_file)
}

built <- build_patients(fit_file)
rrdtc_adverse_events <- build_adverse_events(built$patients, built$hfs, published_table5)
with_lesions <- build_lesions(built$patients)
rrdtc_patients <- with_lesions$patients
rrdtc_lesions <- with_lesions$lesions

save_dataset(rrdtc_patients, "rrdtc_patients")
save_dataset(rrdtc_adverse_events, "rrdtc_adverse_events")
save_dataset(rrdtc_lesions, "rrdtc_lesions")
save_dataset(published_table1, "published_table1")
save_dataset(published_table2, "published_table2")
save_dataset(published_table3, "published_table3")
save_dataset(published_table4, "published_table4")
save_dataset(published_table5, "published_table5")
save_dataset(sorafenib_literature, "sorafenib_literature")
message("data/: ", paste(list.files("data"), collapse = ", "))

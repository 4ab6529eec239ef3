source("data-raw/polish/polish.R")
sk <- evaluable_skeleton(); b <- readRDS("data-raw/polish/swap-best.rds")
check_fit_counts(b$state, sk)
utils::write.csv(fit_to_frame(b$state, sk), "data-raw/survival-fit.csv", row.names = FALSE)

# Prints the Table 4 comparison (published vs reconstructed KM means and log-rank p-values)
# as markdown, for data-raw/README.md. Run after build-all.R:
#   Rscript data-raw/report-fit.R

source("data-raw/helpers.R")
for (f in list.files("data", full.names = TRUE)) load(f)

p <- derive_analysis_vars(rrdtc_patients, rrdtc_adverse_events)
ev <- p[p$evaluable, ]
first <- with(ev, cbind(age_ge55, sex == "male", histology == "FTC", rai_t34, distant,
                         met_lung, lung_only_t34, met_bone, prior_therapy == "RAI_only",
                         residual_lesion, hfs, disease_control, objective_response,
                         tg_response_ge60, dose_modified))

t4 <- published_table4[published_table4$source == "Table 4", ]
g <- table4_group_matrix(first)
s <- km_group_summaries(ev$pfs_months, ev$pfs_event, g)
dist <- ev$distant
p_text <- km_group_summaries(ev$pfs_months, ev$pfs_event, matrix(ev$met_bone),
                             universe = dist)$p
fmt <- function(x, d) ifelse(is.na(x), "–", formatC(x, format = "f", digits = d))
cat("| variable | level | N | KM mean published | reconstructed | log-rank p published |",
    "reconstructed |\n|---|---|---|---|---|---|---|\n")
for (i in seq_len(nrow(t4))) {
  pub_p <- t4$p_value_printed[i]
  rec_p <- if (is.na(pub_p)) "" else formatC(s$p[i], format = "g", digits = 3)
  cat(sprintf("| %s | %s | %d | %s | %s | %s | %s |\n", t4$variable[i], t4$level[i], t4$n[i],
              t4$pfs_printed[i], if (is.na(t4$pfs_mean_months[i])) "–" else fmt(s$mean[i], 3),
              if (is.na(pub_p)) "" else pub_p, rec_p))
}
cat(sprintf("| Bone, within the 19 with distant metastases | Yes / No | 10 / 9 | %s |\n",
            paste("\u2013 | \u2013 | 0.062 |", formatC(p_text, format = "g", digits = 3))))
has <- !is.na(t4$pfs_mean_months)
err <- abs(s$mean[has] - t4$pfs_mean_months[has])
pp <- c(s$p[!is.na(t4$p_value)], p_text)
pub <- c(t4$p_value[!is.na(t4$p_value)], 0.062)
ratio <- exp(abs(log(pp[pub > 0] / pub[pub > 0])))
cat(sprintf("\nKM means: average |error| %.3f months, worst %.3f. Log-rank p: worst factor %.2f;",
            mean(err), max(err), max(ratio)),
    sprintf("printed 0.000 rows: %s. Overall SPSS median %.1f; overall KM mean %.2f.\n",
            paste(formatC(pp[pub == 0], format = "e", digits = 1), collapse = ", "),
            km_median_spss(ev$pfs_months, ev$pfs_event),
            km_mean_spss(ev$pfs_months, ev$pfs_event)))

# Plausibility of the PFS curve (issue 17 item 5; definitions in plausibility.R).
source("data-raw/plausibility.R")
pl <- pfs_plausibility(ev$pfs_months, ev$pfs_event)
cat(sprintf(paste("\nPFS plausibility: progressions %s; tied pairs besides the 5.0 trio %d,",
                  "pairs 0.5 apart %d, largest gap %.1f months (gap excess over 2.5: %.2f),",
                  "SD of the non-trio progression times %.2f, KS distance to the best Weibull",
                  "with median 16.5 %.3f (shape %.2f).\n"),
            paste(sort(ev$pfs_months[ev$pfs_event == 1]), collapse = " "), pl[["tied_pairs"]],
            pl[["near_pairs"]], pl[["max_gap"]], pl[["gap_excess"]], pl[["sd_late"]],
            pl[["ks_weibull"]], pl[["weibull_shape"]]))

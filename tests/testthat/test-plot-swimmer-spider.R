# swimmer_plot() and spider_plot(): the data of their layers against the inputs and
# recist_response(); labels; vdiffr snapshots when vdiffr is installed.

ev26 <- subset(rrdtc_patients, evaluable)

test_that("swimmer_plot: one bar per patient to its time, ends marked by event status", {
  skip_if_not_installed("ggplot2")
  p <- swimmer_plot(ev26, "pfs_months", "pfs_event", xlab = "Months")
  expect_s3_class(p, "ggplot")
  bars <- ggplot2::layer_data(p, 1)
  ord <- order(ev26$pfs_months)
  expect_equal(nrow(bars), 26)
  expect_equal(bars$xend[order(bars$y)], ev26$pfs_months[ord])
  ends <- p$data
  expect_identical(ends$end == "Event", ev26$pfs_event[ord] == 1)
  expect_identical(as.character(ends$response), ev26$best_response[ord])
  expect_identical(p$labels$x, "Months")
  expect_identical(p$scales$get_scales("colour")$name, "Best response")
  # CNSR refused, 1/2 status accepted
  d <- ev26
  d$CNSR <- 1 - d$pfs_event
  expect_error(swimmer_plot(d, "pfs_months", "CNSR"), class = "rwe_bad_input",
               regexp = "CNSR")
  d$status <- d$pfs_event + 1
  q <- swimmer_plot(d, "pfs_months", "status", response = NULL)
  expect_identical(q$data$end, p$data$end)
  expect_error(swimmer_plot(ev26, "pfs_months", "pfs_event", id = "nope"),
               class = "rwe_bad_input", regexp = "nope")
})

test_that("spider_plot: % change from baseline per visit, as recist_response()", {
  skip_if_not_installed("ggplot2")
  r <- recist_response(rrdtc_lesions)
  p <- spider_plot(rrdtc_lesions)
  v <- tidy(r, "visits")
  expect_equal(p$data$pct_change, v$pct_change_baseline[!is.na(v$pct_change_baseline)])
  # every patient starts at 0 at baseline
  expect_true(all(p$data$pct_change[p$data$visit == 0] == 0))
  best <- tidy(r)$best_response
  expect_identical(as.character(p$data$response),
                   best[match(p$data$patient, tidy(r)$patient_id)])
  geoms <- vapply(p$layers, function(l) class(l$geom)[1], character(1))
  expect_identical(geoms, c("GeomHline", "GeomLine", "GeomPoint"))
  expect_equal(ggplot2::layer_data(p, 1)$yintercept, c(-30, 20))
  expect_identical(p$labels$x, "Months since baseline")
  expect_equal(spider_plot(r)$data, p$data)
  expect_error(spider_plot(1:3), class = "rwe_bad_input")
})

test_that("plots match their snapshots (vdiffr)", {
  skip_if_not_installed("vdiffr")
  skip_if_not_installed("ggplot2")
  vdiffr::expect_doppelganger("swimmer", swimmer_plot(ev26, "pfs_months", "pfs_event"))
  vdiffr::expect_doppelganger("spider", spider_plot(rrdtc_lesions))
  adam <- rrdtc_as_adam()
  pfs <- adtte_surv(adam$adtte, "PFS", adsl = adam$adsl, unit = "months")
  vdiffr::expect_doppelganger("km-labelled",
                              km_plot(pfs, "time", "event", group = "SEX", risk_table = FALSE))
})

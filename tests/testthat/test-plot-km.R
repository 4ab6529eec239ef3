# km_plot(): object classes, the data of its layers against km_fit_matrix()/summary(), ggsave.

skip_if_not_installed("ggplot2")
skip_if_not_installed("patchwork")

pts <- subset(rrdtc_patients, evaluable)

layer_of <- function(plot, geom) {
  geoms <- vapply(plot$layers, function(l) class(l$geom)[1L], character(1))
  idx <- which(geoms == geom)
  lapply(idx, function(i) ggplot2::layer_data(plot, i))
}

test_that("km_plot returns a patchwork (risk table) or a ggplot", {
  p <- km_plot(pts, "pfs_months", "pfs_event")
  expect_s3_class(p, "patchwork")
  expect_s3_class(p[[1]], "ggplot")
  expect_s3_class(p[[2]], "ggplot")
  q <- km_plot(pts, "pfs_months", "pfs_event", group = "met_bone", risk_table = FALSE)
  expect_s3_class(q, "ggplot")
  expect_false(inherits(q, "patchwork"))
})

test_that("step coordinates, censor marks and medians equal km_fit's curves", {
  p <- km_plot(pts, "pfs_months", "pfs_event", group = "sex", conf.band = TRUE)
  main <- p[[1]]
  fit <- km_fit_matrix(pts$pfs_months, pts$pfs_event, group = pts$sex)
  cv <- fit$curves
  step <- layer_of(main, "GeomStep")[[1]]
  for (g in 1:2) {
    s <- step[step$group == g, ]
    c_g <- cv[cv$stratum == g, ]
    expect_equal(s$x[1], 0)
    expect_equal(s$y[1], 1)
    expect_equal(s$x[-1], c_g$time)
    expect_equal(s$y[-1], c_g$surv)
    marks <- layer_of(main, "GeomPoint")[[1]]
    m <- marks[marks$group == g, ]
    expect_equal(m$x, c_g$time[c_g$n.censor > 0])
    expect_equal(m$y, c_g$surv[c_g$n.censor > 0])
    expect_true(all(m$shape == 3))
  }
  # the band is drawn at the pointwise limits of km_fit
  band <- layer_of(main, "GeomRibbon")[[1]]
  expect_true(all(band$ymin %in% cv$lower))
  expect_true(all(band$ymax %in% c(cv$upper, 1)))
  segs <- layer_of(main, "GeomSegment")
  med <- km_median(fit)$median
  expect_equal(sort(segs[[2]]$x), sort(med[!is.na(med)]))
  expect_true(all(segs[[1]]$y == 0.5))
  text <- layer_of(main, "GeomText")[[1]]
  p_lr <- logrank_test_matrix(pts$pfs_months, pts$pfs_event, pts$sex)$p.value
  expect_identical(text$label, paste("Log-rank p =", format_pvalue(p_lr)))
})

test_that("risk table numbers are summary(km, times = breaks) n.risk (and survfit's)", {
  breaks <- seq(0, 48, 12)
  p <- km_plot(pts, "pfs_months", "pfs_event", group = "met_bone", breaks = breaks)
  risk <- layer_of(p[[2]], "GeomText")[[1]]
  fit <- km_fit_matrix(pts$pfs_months, pts$pfs_event,
                       group = factor(ifelse(pts$met_bone, "Yes", "No"), c("Yes", "No")))
  at <- summary(fit, times = breaks, extend = TRUE)
  expected <- data.frame(curve = as.character(at$group), time = at$time, n = at$n.risk)
  got <- data.frame(time = risk$x, n = as.numeric(risk$label))
  expect_equal(got$time, expected$time)
  expect_equal(got$n, expected$n)
  # within each curve's follow-up these are also summary(times = ) without extension
  short <- summary(fit, times = breaks)
  key <- match(paste(short$group, short$time), paste(expected$curve, expected$time))
  expect_equal(expected$n[key], short$n.risk)
  sf <- summary(survival::survfit(survival::Surv(pfs_months, pfs_event) ~ met_bone,
                                  data = pts), times = breaks, extend = TRUE)
  yes <- sf$n.risk[sf$strata == "met_bone=TRUE"]
  expect_equal(expected$n[expected$curve == "Yes"], yes)
})

test_that("single curve: no p-value, median line at 16.5, ggsave works", {
  p <- km_plot(pts, "pfs_months", "pfs_event", title = "Reconstructed")
  main <- p[[1]]
  expect_length(layer_of(main, "GeomText"), 0)
  segs <- layer_of(main, "GeomSegment")
  expect_equal(segs[[2]]$x, 16.5)
  risk <- layer_of(p[[2]], "GeomText")[[1]]
  fit <- km_fit_matrix(pts$pfs_months, pts$pfs_event)
  expect_equal(as.numeric(risk$label),
               summary(fit, times = pretty(c(0, 46)), extend = TRUE)$n.risk)
  file <- tempfile(fileext = ".png")
  on.exit(unlink(file))
  ggplot2::ggsave(file, p, width = 6, height = 5, dpi = 50)
  expect_true(file.exists(file) && file.size(file) > 0)
  bare <- km_plot(pts, "pfs_months", "pfs_event", median_line = FALSE, censor_marks = FALSE,
                  risk_table = FALSE)
  expect_length(layer_of(bare, "GeomSegment"), 0)
  expect_length(layer_of(bare, "GeomPoint"), 0)
})

test_that("bad input gives rwe_bad_input errors naming the argument", {
  d <- pts
  expect_error(km_plot(d, "pfs", "pfs_event"), class = "rwe_bad_input", regexp = "pfs")
  d$ev2 <- d$pfs_event + 2
  expect_error(km_plot(d, "pfs_months", "ev2"), class = "rwe_bad_input", regexp = "event")
  d$neg <- d$pfs_months - 10
  expect_error(km_plot(d, "neg", "pfs_event"), class = "rwe_bad_input", regexp = "time")
  d$one <- "x"
  expect_error(km_plot(d, "pfs_months", "pfs_event", group = "one"), class = "rwe_bad_input",
               regexp = "one")
  expect_error(km_plot(d, "pfs_months", "pfs_event", group = "nope"), class = "rwe_bad_input",
               regexp = "nope")
  expect_error(km_plot(d, "pfs_months", "pfs_event", breaks = -1), class = "rwe_bad_input",
               regexp = "breaks")
  expect_error(km_plot(d, "pfs_months", "pfs_event", conf.band = NA),
               class = "rwe_bad_input", regexp = "conf.band")
})

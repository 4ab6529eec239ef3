test_that("waterfall_plot sorts bars, colours by response and draws reference lines", {
  skip_if_not_installed("ggplot2")
  p <- fixture_patients()
  plot <- waterfall_plot(p)
  expect_s3_class(plot, "ggplot")
  expect_equal(nrow(plot$data), 5)    # P5 has no % change
  expect_equal(as.character(plot$data$id), c("P3", "P4", "P2", "P6", "P1"))
  expect_equal(plot$data$pct_change, c(25, 5, -10, -30, -45))
  bars <- ggplot2::layer_data(plot, 1)
  expect_equal(bars$ymin + bars$ymax, c(25, 5, -10, -30, -45))   # one end is 0
  lines <- ggplot2::layer_data(plot, 2)
  expect_equal(sort(lines$yintercept), c(-30, 20))
  expect_equal(unique(lines$linetype), "dashed")
  expect_equal(levels(plot$data$response), c("CR", "PR", "SD", "PD"))
  expect_equal(as.character(plot$data$response), c("PD", "PD", "SD", "PR", "PR"))
  expect_equal(length(plot$layers), 2)
})

test_that("waterfall_plot markers are drawn above the bars", {
  skip_if_not_installed("ggplot2")
  plot <- waterfall_plot(fixture_patients(), marker = "fig1_marker", width = 0.5)
  # bars in order P3 (25, dot), P4 (5, star+dot), P2, P6 (-30, hash), P1
  text <- ggplot2::layer_data(plot, 3)
  expect_equal(text$label, c("*", "#"))
  expect_equal(as.numeric(text$x), c(2, 4))
  step <- 0.04 * (25 - (-45))                  # 4% of the plotted range
  expect_equal(text$y, c(5, 0) + step)
  dots <- ggplot2::layer_data(plot, 4)
  expect_equal(as.numeric(dots$x), c(1, 2))
  expect_equal(dots$y, c(25 + 1.5 * step, 5 + 3.5 * step))   # above the bar, or the star
  expect_equal(length(plot$layers), 4)
  only_hash <- fixture_patients()
  only_hash$fig1_marker <- c(NA, NA, NA, NA, NA, "hash")
  expect_equal(length(waterfall_plot(only_hash, marker = "fig1_marker")$layers), 3)
  expect_equal(unique(ggplot2::layer_data(plot, 1)$xmax - ggplot2::layer_data(plot, 1)$xmin), 0.5)
  expect_equal(marker_symbols(c("hash", NA, "star"), "m"), c("#", "", "*"))
})

test_that("waterfall_plot errors", {
  skip_if_not_installed("ggplot2")
  p <- fixture_patients()
  p$fig1_marker[1] <- "cross"
  expect_error(waterfall_plot(p, marker = "fig1_marker"), "cross", class = "rlang_error")
  expect_error(waterfall_plot(p, pct_change = "sex"), "must be numeric")
  expect_error(waterfall_plot(p, response = "nope"), "nope")
  p$target_best_pct_change <- NA_real_
  expect_error(waterfall_plot(p), "no non-missing")
})

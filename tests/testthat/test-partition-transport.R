# Transport (R/partition-transport.R): partitions resident on cluster workers, timeouts.
library(survival)

# ---- on a cluster of two localhost workers -----------------------------------------------

test_that("cluster: lung hospitals, colon sites and 10^5 simulated rows equal the pooled fits", {
  skip_on_cran()
  skip_if_not_installed("parallelly")
  cl <- parallelly::makeClusterPSOCK(2, autoStop = TRUE)
  on.exit(try(parallel::stopCluster(cl), silent = TRUE), add = TRUE)

  # lung: three hospitals on two workers
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites, cl)
  expect_equal(parts$node, c(1L, 2L, 1L))
  f <- Surv(time, status) ~ age + sex + ph.ecog
  fit <- partitioned_cox_fit(f, parts, control = tight)
  expect_cox_equal(fit, coxph(f, data = pooled, control = tight))
  # traffic per iteration: O(T p) up, O(T) down, one p x p up per partition
  p <- 3
  n_times <- fit$n_event_times
  per <- fit$traffic[fit$traffic$round == "sums", ]
  floor_sums <- 8 * 3 * ((2 * p + 4) * n_times + p + 1)
  expect_true(all(per$bytes_received >= floor_sums & per$bytes_received <= floor_sums + 3 * 1500))
  info <- fit$traffic[fit$traffic$round == "information", ]
  expect_true(all(info$bytes_received >= 3 * 8 * p^2 & info$bytes_received <= 3 * (8 * p^2 + 1500)))
  expect_true(all(info$bytes_sent >= 3 * 16 * n_times & info$bytes_sent <= 3 * (16 * n_times + 1500)))
  expect_true(all(per$bytes_sent <= 3 * (8 * p + 1500)))
  # site-stratified Cox: each site sends loglik, score and information only
  by_site <- partitioned_cox_fit(f, parts, control = tight, stratify_by_site = TRUE)
  pooled$site <- rep(names(sites), vapply(sites, nrow, integer(1)))
  expect_cox_equal(by_site, coxph(update(f, . ~ . + strata(site)), data = pooled, control = tight))
  expect_true(all(by_site$traffic_per_iteration$bytes_received <= 3 * (8 * (1 + p + p^2) + 1500)))
  # weights (a column name) and strata
  pooled_w <- pooled
  set.seed(1)
  wt <- runif(nrow(pooled), 0.2, 3)
  w_sites <- split(transform(pooled_w, w = wt), rep(seq_along(sites), vapply(sites, nrow, integer(1))))
  fw <- Surv(time, status) ~ age + ph.ecog + strata(sex)
  fit_w <- partitioned_cox_fit(fw, cohort_partitions(w_sites, cl), weights = "w", robust = FALSE,
                               control = tight)
  expect_cox_equal(fit_w, coxph(fw, data = transform(pooled_w, w = wt), weights = w, robust = FALSE,
                                  control = tight))
  # KM and log-rank
  km <- partitioned_km_fit(Surv(time, status) ~ sex, parts)
  expect_km_equal(km, survfit(Surv(time, status) ~ sex, data = pooled))
  lr <- partitioned_logrank_test(Surv(time, status) ~ sex + strata(ph.ecog), parts)
  ref_lr <- survdiff(Surv(time, status) ~ sex + strata(ph.ecog), data = pooled)
  expect_equal(lr$chisq, ref_lr$chisq, tolerance = 1e-10)
  expect_equal(lr$groups$obs, unname(rowSums(ref_lr$obs)), tolerance = 1e-12)
  expect_equal(lr$groups$exp, unname(rowSums(ref_lr$exp)), tolerance = 1e-10)
  expect_equal(unname(lr$var), unname(ref_lr$var), tolerance = 1e-10)

  # colon: three sites, one lacking a treatment level, files read on the workers
  colon <- colon_sites()
  files <- c(tempfile(fileext = ".rds"), tempfile(fileext = ".rds"), tempfile(fileext = ".csv"))
  saveRDS(colon[[1]], files[1]); saveRDS(colon[[2]], files[2])
  utils::write.csv(colon[[3]], files[3], row.names = FALSE)
  on.exit(unlink(files), add = TRUE)
  colon_parts <- cohort_partitions(as.list(files), cl)
  colon_pooled <- do.call(rbind, colon)
  fc <- Surv(time, status) ~ rx + age + nodes + differ + strata(etype)
  fit_c <- partitioned_cox_fit(fc, colon_parts, control = tight)
  expect_cox_equal(fit_c, coxph(fc, data = colon_pooled, control = tight))
  km_c <- partitioned_km_fit(Surv(time, status) ~ rx, colon_parts)
  expect_km_equal(km_c, survfit(Surv(time, status) ~ rx, data = colon_pooled))
  lr_c <- partitioned_logrank_test(Surv(time, status) ~ rx + strata(etype), colon_parts)
  expect_equal(lr_c$chisq, survdiff(Surv(time, status) ~ rx + strata(etype), data = colon_pooled)$chisq,
               tolerance = 1e-10)

  # 10^5 simulated rows, weekly times (heavy ties), weights and strata
  sim <- simulate_sites()
  sim_parts <- cohort_partitions(sim, cl)
  sim_pooled <- do.call(rbind, sim)
  fs <- Surv(time, status) ~ x1 + x2 + g + strata(s)
  fit_s <- partitioned_cox_fit(fs, sim_parts, weights = "w", robust = FALSE, control = tight)
  expect_cox_equal(fit_s, coxph(fs, data = sim_pooled, weights = w, robust = FALSE, control = tight))
  fit_b <- partitioned_cox_fit(Surv(time, status) ~ x1 + x2 + g, sim_parts, ties = "breslow", control = tight)
  expect_cox_equal(fit_b, coxph(Surv(time, status) ~ x1 + x2 + g, data = sim_pooled, ties = "breslow",
                                control = tight))
  km_s <- partitioned_km_fit(Surv(time, status) ~ g, sim_parts)
  expect_km_equal(km_s, survfit(Surv(time, status) ~ g, data = sim_pooled))
  lr_s <- partitioned_logrank_test(Surv(time, status) ~ g + strata(s), sim_parts)
  expect_equal(lr_s$chisq, survdiff(Surv(time, status) ~ g + strata(s), data = sim_pooled)$chisq,
               tolerance = 1e-10)

  # a worker that dies: a clear error naming it, no hang
  pids <- unlist(parallel::clusterCall(cl, Sys.getpid))
  tools::pskill(pids[2])
  expect_error(partitioned_cox_fit(f, parts), class = "rwe_worker_error",
               regexp = paste0("worker 2 \\(pid ", pids[2], "\\).*centre"))
})

test_that("cluster: a frozen worker ends in rwe_worker_timeout naming it, within the timeout", {
  skip_on_cran()
  skip_on_os("windows")
  cl <- parallel::makePSOCKcluster(2)
  on.exit(try(parallel::stopCluster(cl), silent = TRUE), add = TRUE)
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites, cl)
  f <- Surv(time, status) ~ age + sex
  ref <- coxph(f, data = pooled, control = tight)
  frozen <- parts$pids[2]
  tools::pskill(frozen, tools::SIGSTOP)
  on.exit(tools::pskill(frozen, tools::SIGCONT), add = TRUE, after = FALSE)
  started <- proc.time()[["elapsed"]]
  expect_error(partitioned_cox_fit(f, parts, timeout = 2), class = "rwe_worker_timeout",
               regexp = paste0("worker 2 \\(pid ", frozen, "\\).*centre.*within 2 seconds"))
  waited <- proc.time()[["elapsed"]] - started
  expect_gte(waited, 2)
  expect_lt(waited, 30)
  expect_error(partitioned_km_fit(Surv(time, status) ~ sex, parts, timeout = 1),
               class = "rwe_worker_timeout")
  # once resumed, the late replies of the timed-out rounds are dropped: fits are right again
  tools::pskill(frozen, tools::SIGCONT)
  expect_cox_equal(partitioned_cox_fit(f, parts, control = tight, timeout = 60), ref)
  expect_km_equal(partitioned_km_fit(Surv(time, status) ~ sex, parts, timeout = 60),
                  survfit(Surv(time, status) ~ sex, data = pooled))
})


test_that("cluster: a message larger than the socket buffers is not sent to a frozen worker", {
  skip_on_cran()
  skip_on_os("windows")
  # The earlier tests' clusters (parallelly, autoStop = TRUE) are stopped again by finalizers
  # at some later gc, which closes sockets by number: let that happen before this cluster's
  # sockets reuse the numbers (under R CMD check it closed worker 1's socket mid-round).
  gc()
  cl <- parallel::makePSOCKcluster(2)
  on.exit(try(parallel::stopCluster(cl), silent = TRUE), add = TRUE)
  frozen <- unlist(parallel::clusterCall(cl, Sys.getpid))[2]
  tools::pskill(frozen, tools::SIGSTOP)
  on.exit(tools::pskill(frozen, tools::SIGCONT), add = TRUE, after = FALSE)
  big <- rep(list(as.raw(seq_len(16e6) %% 256L)), 2)  # 16 MB each: beyond the socket buffers
  size <- function(a) length(a)
  environment(size) <- globalenv()  # as the verbs send their site functions: without this env
  started <- proc.time()[["elapsed"]]
  round <- cluster_round(cl, 1:2, size, big, timeout = 10)
  expect_lt(proc.time()[["elapsed"]] - started, 30)
  expect_identical(round$late, 2L)
  expect_equal(round$values[[1]], 16e6)
  # resumed: the stale ping reply is dropped, the next round gets the right answers
  tools::pskill(frozen, tools::SIGCONT)
  again <- cluster_round(cl, 1:2, size, list(1:3, 1:5), timeout = 60)
  expect_identical(again$values, list(3L, 5L))
})

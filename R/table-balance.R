# Covariate balance before and after propensity-score weighting: balance_table() and its
# rwe_balance class (an rwe_table with the Table-1 layout of baseline_table()). Standardised
# mean differences follow cobalt's conventions (bal.tab with binary = "std"): the
# standardisation factor is computed once on the unweighted sample and used both before and
# after weighting, so a change in the SMD reflects a change in means only.

#' Covariate balance table (standardised mean differences)
#'
#' A Table-1 layout (as [baseline_table()]) of the covariates by arm, unweighted and weighted
#' by the propensity-score weights, with the standardised mean difference (SMD, treated minus
#' untreated) before and after weighting. Conventions are those of the cobalt package's
#' `bal.tab()` with standardised binary differences (`binary = "std"`):
#' * continuous variables: difference in (weighted) means divided by a standardisation factor
#'   \eqn{s^*} computed on the *unweighted* sample and kept fixed after weighting:
#'   \eqn{\sqrt{(s_1^2 + s_0^2)/2}} (the two arms' sample variances) for the ATE and the ATO
#'   (cobalt's `s.d.denom = "pooled"`), the treated arm's SD for the ATT (`"treated"`);
#' * binary variables (logical, numeric 0/1) and each level of a categorical variable
#'   (factor, character; one row per level): difference in (weighted) proportions divided by
#'   \eqn{\sqrt{(p_1(1-p_1) + p_0(1-p_0))/2}} (ATT: \eqn{\sqrt{p_1(1-p_1)}}), proportions
#'   of the unweighted sample. (cobalt's default reports the raw difference for binary
#'   variables; the standardised one is comparable with the continuous rows.)
#'
#' Balance is computed on the analysed patients of `ps` (after any trimming).
#'
#' @param ps An `rwe_ps` object from [ps_weights()].
#' @param vars Columns of `ps$data` to show; default the variables of the score model.
#' @param labels Optional display labels named by entries of `vars`.
#' @param digits Decimals of the means, SDs and percentages.
#' @param threshold SMDs whose absolute value exceeds it are flagged (and drawn as a line by
#'   [love_plot()]).
#' @return A data frame of class `c("rwe_balance", "rwe_table", "data.frame")`, one row per
#'   continuous or binary variable or categorical level: `variable`, `label`, `level`,
#'   `type` (`"continuous"`, `"binary"`, `"categorical"`), `mean_0`, `mean_1` (unweighted
#'   means or proportions, untreated and treated), `wmean_0`, `wmean_1` (weighted), `sd_denom`
#'   (\eqn{s^*}), `smd_before`, `smd_after`, and the text columns `before_0`, `before_1`,
#'   `after_0`, `after_1`: mean (SD) or n (%) unweighted, weighted mean (weighted SD) or
#'   weighted %. Attributes `levels` (treatment values), `estimand`, `threshold`.
#' @examples
#' rott <- survival::rotterdam
#' ps <- ps_weights(rott, "chemo", ~ age + meno + size + grade + nodes + pgr + er)
#' balance_table(ps)
#' @export
balance_table <- function(ps, vars = NULL, labels = NULL, digits = 1, threshold = 0.1) {
  check_rwe_ps(ps)
  vars <- vars %||% ps$covariates
  check_columns(ps$data, vars, arg = "ps$data")
  check_number(digits, min = 0, max = 6)
  check_number(threshold, min = 0)
  labels <- check_labels(labels, vars)
  denom_arm <- if (ps$settings$estimand == "ATT") "treated" else "pooled"
  rows <- lapply(vars, function(v) {
    balance_variable(ps$data[[v]], v, ps$treated, ps$weights, denom_arm, digits)
  })
  out <- do.call(rbind, rows)
  out <- cbind(out[1], label = unname(labels[out$variable]), out[-1])
  new_rwe_table(out, "rwe_balance",
                title = paste0("Covariate balance before and after weighting (",
                               ps$settings$estimand, ")"),
                footnotes = paste0("SMD: standardised mean difference, ", ps$levels[2L],
                                   " minus ", ps$levels[1L], "; denominator from the ",
                                   "unweighted sample (", denom_arm, " SD); starred: |SMD| above ", threshold, "."),
                levels = ps$levels, estimand = ps$settings$estimand, threshold = threshold)
}

check_rwe_ps <- function(ps, arg = "ps", call = rlang::caller_env()) {
  if (!inherits(ps, "rwe_ps")) {
    cli::cli_abort("{.arg {arg}} must be an {.cls rwe_ps} object from {.fn ps_weights}, not {.obj_type_friendly {ps}}.",
                   call = call, class = "rwe_bad_input")
  }
}

# All rows of one variable: a continuous or binary row, or one row per categorical level.
balance_variable <- function(x, var, z, w, denom_arm, digits) {
  if (is.numeric(x) && all(x %in% c(0, 1))) x <- x == 1
  type <- variable_type(x, var)
  if (anyNA(x)) {
    cli::cli_abort("Column {.val {var}} has missing values; balance needs complete data.",
                   class = "rwe_bad_input")
  }
  if (type == "continuous") {
    return(balance_row(var, NA_character_, "continuous", as.double(x), z, w, denom_arm, digits))
  }
  if (type == "flag") {
    return(balance_row(var, NA_character_, "binary", as.double(x), z, w, denom_arm, digits))
  }
  rows <- lapply(group_levels(x), function(l) {
    balance_row(var, l, "categorical", as.double(as.character(x) == l), z, w, denom_arm,
                digits)
  })
  do.call(rbind, rows)
}

balance_row <- function(var, level, type, x, z, w, denom_arm, digits) {
  t1 <- z == 1L
  wm <- function(v, u) sum(u * v) / sum(u)
  m <- c(mean(x[!t1]), mean(x[t1]))
  wmean <- c(wm(x[!t1], w[!t1]), wm(x[t1], w[t1]))
  spread <- if (type == "continuous") c(stats::var(x[!t1]), stats::var(x[t1])) else m * (1 - m)
  denom <- sqrt(if (denom_arm == "treated") spread[2L] else mean(spread))
  smd <- function(d) if (denom > 0) d / denom else if (d == 0) 0 else NA_real_
  text <- if (type == "continuous") {
    wsd <- c(sqrt(wm((x[!t1] - wmean[1L])^2, w[!t1])), sqrt(wm((x[t1] - wmean[2L])^2, w[t1])))
    fmt <- paste0("%.", digits, "f (%.", digits, "f)")
    list(sprintf(fmt, m, sqrt(c(stats::var(x[!t1]), stats::var(x[t1])))),
         sprintf(fmt, wmean, wsd))
  } else {
    list(format_n_percent(c(sum(x[!t1]), sum(x[t1])), c(sum(!t1), sum(t1)), digits),
         paste0(format_percent(wmean, digits), "%"))
  }
  data.frame(variable = var, level = level, type = type, mean_0 = m[1L], mean_1 = m[2L],
             wmean_0 = wmean[1L], wmean_1 = wmean[2L], sd_denom = denom,
             smd_before = smd(m[2L] - m[1L]), smd_after = smd(wmean[2L] - wmean[1L]),
             before_0 = text[[1L]][1L], before_1 = text[[1L]][2L],
             after_0 = text[[2L]][1L], after_1 = text[[2L]][2L])
}

#' @export
display_table.rwe_balance <- function(x, ...) {
  lev <- attr(x, "levels")
  label <- ifelse(is.na(x$level), x$label, paste0("  ", x$level))
  first_level <- !is.na(x$level) & !duplicated(x$variable)
  flag <- function(s) ifelse(abs(s) > attr(x, "threshold"), "*", "")
  shown <- data.frame(characteristic = label, x$before_0, x$before_1,
                      sprintf("%.3f%s", x$smd_before, flag(x$smd_before)),
                      x$after_0, x$after_1,
                      sprintf("%.3f%s", x$smd_after, flag(x$smd_after)))
  names(shown) <- c("characteristic", lev[1L], lev[2L], "SMD", paste(lev[1L], "(weighted)"),
                    paste(lev[2L], "(weighted)"), "SMD (weighted)")
  insert_headers(shown, x$label, first_level)
}

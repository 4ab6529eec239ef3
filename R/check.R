# Validators shared by every verb: errors of class rwe_bad_input that name the argument and the
# offending rows or values. Everything that reaches C++ has passed through a check here or in
# R/surv-frame.R (finite, sorted, double, no NA).

# Formats the first few offending row numbers (or values) for an error message.
format_offenders <- function(x, max_show = 5L) {
  x <- unique(x)
  shown <- paste(utils::head(x, max_show), collapse = ", ")
  if (length(x) > max_show) shown <- paste0(shown, ", ... (", length(x), " in all)")
  shown
}

abort_rows <- function(arg, problem, rows, call = rlang::caller_env()) {
  label <- if (length(unique(rows)) == 1L) "Offending row" else "Offending rows"
  cli::cli_abort(c("{.arg {arg}} {problem}.",
                   "x" = "{label}: {format_offenders(rows)}."),
                 call = call, class = "rwe_bad_input")
}

#' Evaluates a survival model frame from a verb's call.
#'
#' Evaluates `formula`, `data`, `weights`, `subset`, `na.action` (and any of `extra`, such as
#' `cluster`) of the calling verb the way `survival::coxph()` does, with the specials
#' `strata()`, `cluster()` and `offset()` recognised. Invalid event codes, which `Surv()` would
#' turn into NA with a warning, become an error here.
#' @noRd

# Control lists reach C++, which reads fields by name: check that a list from `maker` (or one
# like it) was passed and each needed field is a single number or TRUE/FALSE.
check_control <- function(control, fields, maker, arg = "control", call = rlang::caller_env()) {
  if (!is.list(control) || is.data.frame(control)) {
    cli::cli_abort("{.arg {arg}} must be a list from {.fn {maker}}, not {.obj_type_friendly {control}}.",
                   call = call, class = "rwe_bad_input")
  }
  absent <- setdiff(fields, names(control))
  if (length(absent)) {
    cli::cli_abort(c("{.arg {arg}} must be a list from {.fn {maker}}.",
                     "x" = "It lacks {.field {absent}}."), call = call, class = "rwe_bad_input")
  }
  ok <- vapply(control[fields], function(v) {
    length(v) == 1L && (is.numeric(v) || is.logical(v)) && !is.na(v)
  }, logical(1))
  if (!all(ok)) {
    cli::cli_abort(c("{.arg {arg}}: every setting must be a single number (or TRUE/FALSE).",
                     "x" = "Not so: {.field {fields[!ok]}}; build it with {.fn {maker}}."),
                   call = call, class = "rwe_bad_input")
  }
  invisible(control)
}

# Column j of a Surv matrix as a plain vector: `[.Surv` would first copy the whole response.

# The number of bootstrap replicates (0 = none) and the optional seed of the R-level
# bootstrap verbs (cox_marginal_curve(), ps_survival()).
check_bootstrap_args <- function(bootstrap, seed, call = rlang::caller_env()) {
  if (!is.numeric(bootstrap) || length(bootstrap) != 1L || is.na(bootstrap) ||
      bootstrap < 0 || bootstrap != round(bootstrap)) {
    cli::cli_abort("{.arg bootstrap} must be a single whole number >= 0.", call = call,
                   class = "rwe_bad_input")
  }
  if (!is.null(seed) && (!is.numeric(seed) || length(seed) != 1L || is.na(seed))) {
    cli::cli_abort("{.arg seed} must be NULL or a single number.", call = call,
                   class = "rwe_bad_input")
  }
  invisible(TRUE)
}

check_times <- function(time, start, arg = "formula", call = rlang::caller_env()) {
  # one allocation-free pass for the usual valid data; the checks below name bad rows
  if (is.double(time) && (is.null(start) || is.double(start)) &&
      length(start) %in% c(0L, length(time)) &&
      times_valid_cpp(time, if (is.null(start)) double() else start)) {
    return(invisible(TRUE))
  }
  bad <- which(!is.finite(time))
  if (length(bad)) abort_rows(arg, "has infinite survival times", bad, call)
  bad <- which(time < 0)
  if (length(bad)) abort_rows(arg, "has negative survival times", bad, call)
  if (!is.null(start)) {
    bad <- which(!is.finite(start))
    if (length(bad)) abort_rows(arg, "has infinite start times", bad, call)
    bad <- which(start < 0)
    if (length(bad)) abort_rows(arg, "has negative start times", bad, call)
    bad <- which(start >= time)
    if (length(bad)) abort_rows(arg, "has start times not before stop times", bad, call)
  }
  invisible(TRUE)
}

check_weights <- function(weights, n, call = rlang::caller_env()) {
  if (is.null(weights)) return(rep(1, n))
  if (!is.numeric(weights)) {
    cli::cli_abort("{.arg weights} must be numeric, not {.obj_type_friendly {weights}}.",
                   call = call, class = "rwe_bad_input")
  }
  if (length(weights) != n) {
    cli::cli_abort("{.arg weights} has length {length(weights)}, but the data have {n} rows.",
                   call = call, class = "rwe_bad_input")
  }
  bad <- which(!is.finite(weights))
  if (length(bad)) abort_rows("weights", "must be finite", bad, call)
  bad <- which(weights < 0)
  if (length(bad)) abort_rows("weights", "must not be negative", bad, call)
  as.double(weights)
}


check_has_events <- function(status, weights = NULL, arg = "formula",
                             call = rlang::caller_env()) {
  # one pass without n-length temporaries when the inputs are validated doubles
  has_events <- if (is.double(status) && !anyNA(status) &&
                    (is.null(weights) || (is.double(weights) && !anyNA(weights) &&
                                          length(weights) == length(status)))) {
    any_weighted_event_cpp(status, if (is.null(weights)) double() else weights)
  } else {
    w <- if (is.null(weights)) 1 else weights
    any(status > 0 & w > 0)
  }
  if (!has_events) {
    cli::cli_abort("{.arg {arg}}: the data have no events; there is nothing to estimate.",
                   call = call, class = "rwe_bad_input")
  }
  invisible(TRUE)
}

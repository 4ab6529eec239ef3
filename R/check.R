# Validators shared by every verb: errors of class rwe_bad_input that name the argument and the
# offending rows or values. Everything that reaches C++ has passed through a check here or in
# R/surv-frame.R (finite, sorted, double, no NA). The family follows rlang's convention:
# `check_*(x, arg = caller_arg(x), call = caller_env())`, so that a message names the
# argument as the user wrote it and the verb the user called; each returns the (possibly
# coerced) value invisibly. Conditions of the package (see ?rwecohort, "Conditions"):
# errors rwe_bad_input, rwe_worker_error / rwe_worker_timeout, rwe_min_cell,
# rwe_internal_error; warnings rwe_not_converged, rwe_deprecated and the rwe_* classes of
# specific warnings.

# The first few offending row numbers (or values) for an error message, as one string;
# `quote = TRUE` quotes each value (for values rather than row numbers).
format_offenders <- function(x, max_show = 5L, quote = FALSE) {
  x <- unique(x)
  shown <- utils::head(x, max_show)
  if (quote) shown <- encodeString(as.character(shown), quote = "\"")
  shown <- paste(shown, collapse = ", ")
  if (length(x) > max_show) shown <- paste0(shown, ", ... (", length(x), " in all)")
  shown
}

abort_rows <- function(arg, problem, rows, call = rlang::caller_env()) {
  label <- if (length(unique(rows)) == 1L) "Offending row" else "Offending rows"
  cli::cli_abort(c("{.arg {arg}} {problem}.",
                   "x" = "{label}: {format_offenders(rows)}."),
                 call = call, class = "rwe_bad_input")
}

# "not <what it is>": the value itself for a scalar of the right type, else its type.
abort_must_be <- function(x, arg, what, call, type_ok = FALSE) {
  if (type_ok && length(x) == 1L) {
    cli::cli_abort("{.arg {arg}} must be {what}, not {.val {x}}.",
                   call = call, class = "rwe_bad_input")
  }
  cli::cli_abort("{.arg {arg}} must be {what}, not {.obj_type_friendly {x}}.",
                 call = call, class = "rwe_bad_input")
}

# ---- scalars --------------------------------------------------------------------------------

check_flag <- function(x, arg = rlang::caller_arg(x), allow_null = FALSE,
                       call = rlang::caller_env()) {
  if (allow_null && is.null(x)) return(invisible(x))
  if (!is.logical(x) || length(x) != 1L || is.na(x)) {
    abort_must_be(x, arg, if (allow_null) "TRUE, FALSE or NULL" else "TRUE or FALSE", call,
                  type_ok = is.logical(x))
  }
  invisible(x)
}

check_string <- function(x, arg = rlang::caller_arg(x), allow_null = FALSE,
                         call = rlang::caller_env()) {
  if (allow_null && is.null(x)) return(invisible(x))
  if (!is.character(x) || length(x) != 1L || is.na(x)) {
    abort_must_be(x, arg, if (allow_null) "a single string or NULL" else "a single string",
                  call, type_ok = is.character(x))
  }
  invisible(x)
}

# A single number within [min, max] (or (min, max) with `exclusive = TRUE`), finite unless
# `finite = FALSE` (Inf is then allowed, NA never), whole with `whole = TRUE`.
check_number <- function(x, arg = rlang::caller_arg(x), min = -Inf, max = Inf, whole = FALSE,
                         finite = TRUE, exclusive = FALSE, allow_null = FALSE,
                         call = rlang::caller_env()) {
  if (allow_null && is.null(x)) return(invisible(x))
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && (!finite || is.finite(x)) &&
    (!whole || !is.finite(x) || x == round(x)) &&
    (if (exclusive) x > min && x < max else x >= min && x <= max)
  if (!isTRUE(ok)) {
    what <- paste0("a single ", if (whole) "whole " else if (finite) "finite " else "",
                   "number", number_range_text(min, max, exclusive),
                   if (allow_null) " or NULL" else "")
    abort_must_be(x, arg, what, call, type_ok = is.numeric(x))
  }
  invisible(x)
}

number_range_text <- function(min, max, exclusive) {
  fmt <- function(v) format(v, digits = 15)
  lower <- if (exclusive) " > " else " >= "
  upper <- if (exclusive) " < " else " <= "
  if (is.finite(min) && is.finite(max)) {
    return(paste0(if (exclusive) " strictly" else "", " between ", fmt(min), " and ", fmt(max)))
  }
  if (is.finite(min)) return(paste0(lower, fmt(min)))
  if (is.finite(max)) return(paste0(upper, fmt(max)))
  ""
}

# A whole number >= min (a count of replicates, iterations, threads ...), as an integer.
check_count <- function(x, arg = rlang::caller_arg(x), min = 0, allow_null = FALSE,
                        call = rlang::caller_env()) {
  if (allow_null && is.null(x)) return(invisible(x))
  check_number(x, arg = arg, min = min, whole = TRUE, call = call)
  if (x > .Machine$integer.max) {
    cli::cli_abort("{.arg {arg}} must be at most {(.Machine$integer.max)}, not {.val {x}}.",
                   call = call, class = "rwe_bad_input")
  }
  invisible(as.integer(x))
}

# One validator for every confidence level.
check_conf_level <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  check_number(x, arg = arg, min = 0, max = 1, exclusive = TRUE, call = call)
}

# match.arg() with an rwe_bad_input error that names the argument; the default (the whole
# `choices` vector) gives the first choice, as match.arg() does.
match_choice <- function(value, choices, arg = rlang::caller_arg(value),
                         call = rlang::caller_env()) {
  if (identical(value, choices)) return(choices[1L])
  if (!is.character(value) || length(value) != 1L || is.na(value) || !value %in% choices) {
    cli::cli_abort(c("{.arg {arg}} must be one of {.or {.val {choices}}}.",
                     "x" = "Got {.val {format(value)}}."),
                   call = call, class = "rwe_bad_input")
  }
  value
}

check_inherits <- function(x, class, arg = rlang::caller_arg(x), what = NULL,
                           call = rlang::caller_env()) {
  if (!inherits(x, class)) {
    # `what` is a cli template itself (e.g. "a fit from {.fn km_fit}")
    what <- what %||% "an object of class {.cls {class[1L]}}"
    cli::cli_abort(paste0("{.arg {arg}} must be ", what, ", not {.obj_type_friendly {x}}."),
                   call = call, class = "rwe_bad_input")
  }
  invisible(x)
}

check_data_frame <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.data.frame(x)) {
    cli::cli_abort("{.arg {arg}} must be a data frame, not {.obj_type_friendly {x}}.",
                   call = call, class = "rwe_bad_input")
  }
  invisible(x)
}

# ---- per-row vectors ------------------------------------------------------------------------

# A numeric vector (one value per row when `n` is given, compared with the argument `n_arg`),
# as doubles. `finite = TRUE` refuses NA, NaN and Inf; otherwise only NA (and NaN) unless
# `allow_na = TRUE`.
check_numeric_vector <- function(x, arg = rlang::caller_arg(x), n = NULL, n_arg = "time",
                                 finite = TRUE, allow_na = FALSE, call = rlang::caller_env()) {
  if (!is.numeric(x) || (is.matrix(x) && ncol(x) != 1L)) {
    cli::cli_abort("{.arg {arg}} must be a numeric vector, not {.obj_type_friendly {x}}.",
                   call = call, class = "rwe_bad_input")
  }
  check_length(x, n, arg, n_arg, call)
  if (finite) {
    bad <- which(!is.finite(x))
    if (length(bad)) abort_rows(arg, "must be finite (no NA, NaN or Inf)", bad, call)
  } else if (!allow_na) {
    bad <- which(is.na(x))
    if (length(bad)) abort_rows(arg, "has missing values", bad, call)
  }
  invisible(as.double(x))
}

check_length <- function(x, n, arg, n_arg, call) {
  if (!is.null(n) && length(x) != n) {
    cli::cli_abort("{.arg {arg}} has length {length(x)}, but {.arg {n_arg}} has length {n}.",
                   call = call, class = "rwe_bad_input")
  }
  invisible(TRUE)
}

# Event indicator as 0/1 doubles. Accepts 0/1, logical, or 1/2 coding (all values 1 or 2),
# the codes Surv() accepts.
check_status <- function(status, n, arg = "status", n_arg = "time", call = rlang::caller_env()) {
  if (!(is.numeric(status) || is.logical(status))) {
    cli::cli_abort("{.arg {arg}} must be numeric or logical, not {.obj_type_friendly {status}}.",
                   call = call, class = "rwe_bad_input")
  }
  check_length(status, n, arg, n_arg, call)
  status <- as.double(status)
  bad <- which(is.na(status))
  if (length(bad)) abort_rows(arg, "has missing values", bad, call)
  if (all(status %in% c(1, 2)) && any(status == 2)) status <- status - 1
  bad <- which(!status %in% c(0, 1))
  if (length(bad)) {
    abort_rows(arg, "must be 0/1, TRUE/FALSE or 1/2 (1 = censored)", bad, call)
  }
  status
}

# Integer codes for a grouping vector (strata, cluster, group); NA is not a group. Codes
# follow the order of first appearance (factors: their level codes).
check_grouping <- function(g, n, arg = rlang::caller_arg(g), n_arg = "time",
                           call = rlang::caller_env()) {
  if (!is.atomic(g) || is.matrix(g)) {
    cli::cli_abort("{.arg {arg}} must be a vector, not {.obj_type_friendly {g}}.",
                   call = call, class = "rwe_bad_input")
  }
  check_length(g, n, arg, n_arg, call)
  bad <- which(is.na(g))
  if (length(bad)) abort_rows(arg, "must not be missing", bad, call)
  if (is.integer(g) && !is.object(g)) return(g)
  if (is.factor(g)) return(as.integer(g))
  match(g, unique(g))
}

# ---- control lists and shared arguments ---------------------------------------------------

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

# The number of bootstrap replicates (0 = none) and the optional seed of the R-level
# bootstrap verbs (cox_marginal_curve(), ps_survival()).
check_bootstrap_args <- function(bootstrap, seed, call = rlang::caller_env()) {
  check_count(bootstrap, call = call)
  check_number(seed, allow_null = TRUE, call = call)
  invisible(TRUE)
}

# A positive tolerance of a control list (eps, toler.chol, ...).
check_tolerance <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  check_number(x, arg = arg, min = 0, exclusive = TRUE, call = call)
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

# Invariants of the result constructors: a failure is a bug of the package, not bad input.
abort_internal <- function(what, call = rlang::caller_env()) {
  cli::cli_abort(c("Internal error: {what}.", "i" = "Please report it to the package maintainers."),
                 call = call, class = "rwe_internal_error")
}

# ---- S3 methods' dots ------------------------------------------------------------------------

# Methods whose `...` exists only because the generic has it: a misspelt or unsupported
# argument would otherwise be swallowed without effect.
check_dots_empty_bad <- function(..., call = rlang::caller_env()) {
  if (...length()) {
    nms <- names(list(...))
    shown <- if (is.null(nms)) rep("", ...length()) else nms
    shown[shown == ""] <- paste0("..", which(shown == ""))
    cli::cli_abort(c("Unused argument{?s}: {.arg {shown}}.",
                     "i" = "This method takes no further arguments."),
                   call = call, class = "rwe_bad_input")
  }
  invisible(TRUE)
}

# ---- warnings -------------------------------------------------------------------------------

# The one non-convergence warning: class "rwe_not_converged" (after a more specific `class`,
# e.g. "rwe_cox_not_converged"), so that callers can catch every engine's the same way. The
# result is returned as is; the warning only reports.
warn_not_converged <- function(message, class = NULL, call = rlang::caller_env(),
                               .envir = parent.frame()) {
  cli::cli_warn(message, class = c(class, "rwe_not_converged"), call = call, .envir = .envir)
}

# Verbs that took the confidence level as `conf.int` (as survival::survfit() does) now take
# `conf.level`; the old argument still works, with a warning of class "rwe_deprecated".
# Returns the level to use. `conf.level_given` is `!missing(conf.level)` of the verb.
deprecated_conf_int <- function(conf.int, conf.level, conf.level_given = FALSE,
                                call = rlang::caller_env()) {
  if (is.null(conf.int)) return(check_conf_level(conf.level, arg = "conf.level", call = call))
  if (conf.level_given) {
    cli::cli_abort("Give {.arg conf.level}, not both {.arg conf.level} and {.arg conf.int}.",
                   call = call, class = "rwe_bad_input")
  }
  cli::cli_warn(c("{.arg conf.int} as a confidence level is deprecated; use {.arg conf.level}.",
                  "i" = "{.arg conf.int} is kept only as the TRUE/FALSE flag of {.fn tidy}."),
                call = call, class = "rwe_deprecated")
  check_conf_level(conf.int, arg = "conf.int", call = call)
}

# ---- matrix-level survival inputs (cox_fit_matrix(), the Firth fit) -----------------------

check_surv_response <- function(y, call = rlang::caller_env()) {
  if (!inherits(y, "Surv")) {
    cli::cli_abort("{.arg y} must be a {.fn Surv} object, not {.obj_type_friendly {y}}.",
                   call = call, class = "rwe_bad_input")
  }
  type <- attr(y, "type")
  if (!type %in% c("right", "counting")) abort_surv_type(type, "y", call)
  ym <- unclass(y)
  if (anyNA(ym)) {
    abort_rows("y", "has missing values (or invalid event codes)", which(rowSums(is.na(ym)) > 0), call)
  }
  counting <- type == "counting"
  time <- as.double(ym[, if (counting) 2L else 1L])
  start <- if (counting) as.double(ym[, 1L]) else NULL
  status <- as.double(ym[, ncol(ym)])
  if (!all_zero_one_cpp(status)) {  # allocation-free scan first; name the rows only if needed
    abort_rows("y", "has event codes other than 0/1", which(status != 0 & status != 1), call)
  }
  check_times(time, start, call = call)
  list(time = time, start = start, status = status)
}

check_covariate_matrix <- function(x, n, weights, call = rlang::caller_env()) {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (is.null(dim(x)) && is.numeric(x)) x <- matrix(x, ncol = 1L, dimnames = list(NULL, "x"))
  if (!is.matrix(x) || !(is.numeric(x) || is.logical(x))) {
    cli::cli_abort("{.arg x} must be a numeric matrix, not {.obj_type_friendly {x}}.",
                   call = call, class = "rwe_bad_input")
  }
  if (nrow(x) != n) {
    cli::cli_abort("{.arg x} has {nrow(x)} row{?s}, but {.arg y} has {n}.", call = call,
                   class = "rwe_bad_input")
  }
  # storage.mode<- copies even a double matrix, 8np bytes at large n: only coerce if needed.
  if (!is.double(x)) storage.mode(x) <- "double"
  if (is.null(colnames(x))) colnames(x) <- paste0("x", seq_len(ncol(x)))
  summary <- cox_column_summary_cpp(x, weights)
  if (summary$bad_col > 0L) {
    abort_rows("x", paste0("has missing or infinite values in column ", summary$bad_col),
               which(!is.finite(x[, summary$bad_col])), call)
  }
  list(x = x, summary = summary)
}

check_matrix_strata <- function(strata, n, call = rlang::caller_env()) {
  if (is.null(strata)) return(list(codes = rep(1L, n), levels = NULL))
  if (length(strata) != n) {
    cli::cli_abort("{.arg strata} has length {length(strata)}, but {.arg y} has {n} rows.",
                   call = call, class = "rwe_bad_input")
  }
  bad <- which(is.na(strata))
  if (length(bad)) abort_rows("strata", "has missing values", bad, call)
  f <- droplevels(as.factor(strata))
  list(codes = as.integer(f), levels = levels(f))
}

check_matrix_offset <- function(offset, n, call = rlang::caller_env()) {
  if (is.null(offset)) return(rep(0, n))
  if (!is.numeric(offset) || length(offset) != n) {
    cli::cli_abort("{.arg offset} must be numeric of length {n}.", call = call,
                   class = "rwe_bad_input")
  }
  bad <- which(!is.finite(offset))
  if (length(bad)) abort_rows("offset", "must be finite", bad, call)
  as.double(offset)
}

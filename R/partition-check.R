# Partitioned fits: argument checks.

# ---------------------------------------------------------------------------------------------
# Argument checks of the exported partition functions: whatever a user (or a file exchanged
# by hand) hands over is checked here, so that the C++ kernels only ever see consistent
# lengths, positions and codes.
# ---------------------------------------------------------------------------------------------

abort_part_arg <- function(arg, problem, call) {
  cli::cli_abort("{.arg {arg}} {problem}.", call = call, class = "rwe_bad_input")
}

# coxph turns to the robust variance when some case weight is not an integer; over partitions
# only the model-based variance is computed, so that case needs an explicit robust = FALSE.
check_partition_robust <- function(robust, setups, weights, call = rlang::caller_env()) {
  if (isTRUE(robust)) {
    abort_part_arg("robust", "= TRUE: the robust variance is not implemented over partitions; use `robust = FALSE` (model-based)", call)
  }
  if (!is.null(robust) && !isFALSE(robust)) abort_part_arg("robust", "must be NULL or FALSE", call)
  fractional <- any(vapply(setups, function(s) isTRUE(s$fractional), logical(1)))
  if (is.null(robust) && fractional) {
    cli::cli_abort(c("{.arg weights}: some case weights in column {.val {weights}} are not integers.",
                     "x" = "{.fn survival::coxph} would then report a robust (sandwich) variance, which {.fn partitioned_cox_fit} does not compute.",
                     "i" = "Use {.code robust = FALSE} for the model-based variance ({.code coxph(..., robust = FALSE)})."),
                   call = call, class = "rwe_bad_input")
  }
  invisible(TRUE)
}

check_timeout <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  check_number(x, arg = arg, min = 0, exclusive = TRUE, finite = FALSE, call = call)
  invisible(as.double(x))
}

# A short description of a bad value for messages: NULL, a type, or the (first) values.
obj_label <- function(x) {
  if (is.null(x)) return("NULL")
  if (!is.atomic(x)) return(paste0("a ", class(x)[1L]))
  if (!length(x)) return(paste0("an empty ", typeof(x), " vector"))
  paste0(typeof(x), " ", format_offenders(format(x, digits = 4)))
}

check_setups <- function(setups, class, call = rlang::caller_env()) {
  ok <- is.list(setups) && !is.data.frame(setups) && length(setups) > 0L &&
    all(vapply(setups, inherits, logical(1), class))
  if (!ok) abort_part_arg("setups", paste0("must be a non-empty list of the sites' <", class, "> answers"), call)
}

# The parts of a grid that decide memory positions: finite sorted times in stratum blocks
# whose bounds run from 0 to the number of grid times.
check_grid_shape <- function(grid, class, call) {
  if (!inherits(grid, class)) {
    abort_part_arg("grid", paste0("must be the <", class, "> object from the coordinator"), call)
  }
  time <- grid$time
  bounds <- grid$bounds
  ok <- is.double(time) && all(is.finite(time)) && is.integer(bounds) && length(bounds) >= 1L &&
    !anyNA(bounds) && bounds[1L] == 0L && bounds[length(bounds)] == length(time) &&
    all(diff(bounds) >= 0L) && length(grid$keys) == length(bounds) - 1L &&
    identical(grid$stratum, rep(seq_along(grid$keys), diff(bounds)))
  if (ok && length(time) > 1L) {
    same_block <- diff(grid$stratum) == 0L
    ok <- all(diff(time)[same_block] > 0)
  }
  if (!ok) abort_part_arg("grid", "is damaged: its times and stratum bounds do not agree", call)
  map <- grid$timefix
  if (!is.null(map) && !(is.double(map$from) && is.double(map$to) &&
                         length(map$from) == length(map$to) && all(is.finite(c(map$from, map$to))))) {
    abort_part_arg("grid", "is damaged: its near-tie map is not two finite vectors of one length", call)
  }
  ws <- grid$wscale
  if (!is.null(ws) && !(is.double(ws) && length(ws) == 1L && is.finite(ws) && ws > 0)) {
    abort_part_arg("grid", "is damaged: its weight scale is not one positive number", call)
  }
  invisible(grid)
}

check_finite_vector <- function(x, len, arg, call) {
  if (!is.numeric(x) || length(x) != len || !all(is.finite(x))) {
    bad <- if (is.numeric(x) && length(x) == len) paste0(" (not finite at position ", format_offenders(which(!is.finite(x))), ")") else ""
    abort_part_arg(arg, paste0("must be ", len, " finite number", if (len != 1L) "s", ", not ", obj_label(x), bad), call)
  }
  invisible(x)
}

check_cox_request <- function(request, ngrid, call) {
  if (is.null(request)) return(invisible(NULL))
  if (!is.list(request) || is.null(request$alpha) || is.null(request$efron_b)) {
    abort_part_arg("request", "must be the `request` element of a round-1 cox_combine()", call)
  }
  check_finite_vector(request$alpha, ngrid, "request$alpha", call)
  check_finite_vector(request$efron_b, ngrid, "request$efron_b", call)
}

# Each site's round-1 sums must have the grid's shape (T grid times, p columns).
check_cox_sums <- function(stats, ngrid, p, call) {
  for (k in seq_along(stats)) {
    s <- stats[[k]]
    shape <- c(s0 = ngrid, d0 = ngrid, dead_weight = ngrid, dead_count = ngrid,
               dead_wx = p, dead_weta = 1L)
    ok <- all(vapply(names(shape), function(v) is.numeric(s[[v]]) && length(s[[v]]) == shape[[v]],
                     logical(1))) &&
      all(vapply(c("s1", "d1"), function(v) is.matrix(s[[v]]) && identical(dim(s[[v]]), c(as.integer(ngrid), as.integer(p))),
                 logical(1)))
    if (!ok) abort_part_arg("stats", paste0("element ", k, " does not have the grid's shape (", ngrid, " times, ", p, " columns)"), call)
  }
}

check_counts_stats <- function(stats, grid, call) {
  shape <- c(length(grid$time), max(1L, length(grid$group_keys)))
  if (!is.list(stats) || !length(stats)) abort_part_arg("stats", "must be a non-empty list of the sites' counts", call)
  is_counts <- function(m, dims) is.matrix(m) && is.numeric(m) && all(dim(m) == dims) && all(is.finite(m))
  for (k in seq_along(stats)) {
    ok <- all(vapply(counts_fields(grid), function(v) is_counts(stats[[k]][[v]], shape), logical(1))) &&
      is_counts(stats[[k]]$n_rows, c(length(grid$keys), shape[2L]))
    if (!ok) abort_part_arg("stats", paste0("element ", k, " does not hold counts of the grid's shape (", shape[1L], " x ", shape[2L], ")"), call)
  }
}

# Model frames for the survival engines (cox_fit, km_fit, logrank_test and their matrix-level
# twins): Surv() parts, strata, offsets, specials refused by name, near-tie merging, engine order.
surv_model_frame <- function(mc, env, extra = character(), call = rlang::caller_env()) {
  formula <- eval(mc$formula, env)
  if (!inherits(formula, "formula")) {
    cli::cli_abort("{.arg formula} must be a formula such as {.code Surv(time, status) ~ x}.",
                   call = call, class = "rwe_bad_input")
  }
  if (length(formula) != 3L || !is_surv_call(formula[[2L]])) {
    cli::cli_abort(c("{.arg formula} must have a {.fn Surv} response on its left-hand side.",
                     "x" = "Got {.code {format(formula)}}."), call = call, class = "rwe_bad_input")
  }
  check_cnsr_event(formula[[2L]], call)
  data <- if (is.null(mc$data)) NULL else eval(mc$data, env)
  if (!is.null(data) && !is.data.frame(data)) {
    cli::cli_abort("{.arg data} must be a data frame, not {.obj_type_friendly {data}}.",
                   call = call, class = "rwe_bad_input")
  }
  check_formula_specials(formula, data, call)
  if (!is.null(data) && nrow(data) == 0L) {
    cli::cli_abort("{.arg data} has zero rows.", call = call, class = "rwe_bad_input")
  }
  keep <- c("formula", "data", "weights", "subset", "na.action", extra)
  mf_call <- frame_call(mc[c(1L, match(keep, names(mc), nomatch = 0L))])
  mf_call[[1L]] <- quote(stats::model.frame)
  formula <- with_survival_specials(split_strata_terms(formula))
  mf_call$formula <- stats::terms(formula, specials = c("strata", "cluster", "offset"),
                                  data = data)
  # Only data with labelled columns are put into the call (inlined): deparsing a call that
  # holds a large data frame, e.g. in an error message, would be slow.
  plain <- if (!is.null(data)) labelled_as_plain(data, formula)
  if (!is.null(plain)) mf_call$data <- plain
  mf <- withCallingHandlers(
    eval(mf_call, env),
    warning = function(w) {
      msg <- conditionMessage(w)
      if (grepl("Invalid status value", msg, fixed = TRUE)) {
        abort_bad_status(formula, data, call)
      }
      if (grepl("Stop time must be > start time", msg, fixed = TRUE)) {
        abort_bad_intervals(formula, data, call)
      }
    }
  )
  if (nrow(mf) == 0L) {
    cli::cli_abort("No rows left after removing missing values and applying {.arg subset}.",
                   call = call, class = "rwe_bad_input")
  }
  mf
}

# Surv(), strata() and cluster() must be found when the model frame is evaluated even if the
# user has not attached survival: evaluate the formula in a child of its own environment that
# supplies them (user objects of the same name are shadowed only for these three calls).
with_survival_specials <- function(formula) {
  env <- new.env(parent = environment(formula) %||% parent.frame())
  env$Surv <- fast_surv
  env$strata <- fast_strata
  env$cluster <- survival::cluster
  environment(formula) <- env
  formula
}

# survival::Surv() for its most common call, Surv(time, event) with plain numeric times and
# event codes that are all 0/1 (or logical without NA): the identical object, built with one
# allocation. survival's version spends most of a model frame's time at n = 10^6 on
# ifelse() and cbind(). Every other call (other codes, counting-process data, classed inputs)
# goes to survival::Surv(), with its conversions, warnings and errors.
fast_surv <- function(time, time2, event, type, origin = 0) {
  simple <- !missing(time) && !missing(time2) && missing(event) && missing(type) &&
    missing(origin) && (is.double(time) || is.integer(time)) && is.null(attributes(time)) &&
    is.null(attributes(time2)) && length(time2) == length(time) && length(time) > 0L &&
    zero_one_codes(time2)
  if (!simple) {
    mc <- match.call()
    mc[[1L]] <- survival::Surv
    return(eval(mc, parent.frame()))
  }
  surv_right(time, time2)
}

# The "right" Surv object of plain numeric times and 0/1 (or logical, no NA) event codes
# (checked by the caller), built with one allocation.
surv_right <- function(time, status) {
  time <- as.double(time)
  ss <- if (is.double(status)) surv_matrix_cpp(time, status)
        else if (is.integer(status)) surv_matrix_int_cpp(time, status)
        else matrix(c(time, as.double(status)), ncol = 2L)
  dimnames(ss) <- list(NULL, c("time", "status"))
  attr(ss, "type") <- "right"
  class(ss) <- "Surv"
  ss
}

# TRUE when event codes need no conversion by Surv(): logical without NA, or numbers all 0/1.
zero_one_codes <- function(x) {
  if (is.logical(x)) return(!anyNA(x))
  if (is.integer(x)) return(!anyNA(x) && min(x) >= 0L && max(x) <= 1L)
  is.double(x) && all_zero_one_cpp(x)
}

# survival::strata() for the one form split_strata_terms() writes, strata(x, shortlabel =
# TRUE) with x a factor or integer vector: the same factor (levels in x's order, unused ones
# dropped), without survival's factor(integer codes) pass, which sorts and hashes every row
# (a large share of a stratified log-rank test at n = 10^6). Anything else goes to survival.
fast_strata <- function(..., na.group = FALSE, shortlabel, sep = ", ") {
  args <- list(...)
  labels <- NULL
  simple <- length(args) == 1L && is.null(names(args)) && !missing(shortlabel) &&
    isTRUE(shortlabel) && isFALSE(na.group)
  x <- if (simple) args[[1L]]
  if (simple && is.factor(x) && is.null(names(x)) && !anyNA(levels(x))) {
    codes <- as.integer(x)
    labels <- levels(x)
  } else if (simple && is.integer(x) && is.null(attributes(x)) && length(x) &&
             !anyNA(x)) {
    low <- min(x)
    if (max(x) - as.double(low) < max(1e6, length(x))) {
      codes <- x - (low - 1L)
      labels <- as.character(seq.int(low, max(x)))
    }
  }
  if (is.null(labels)) {
    mc <- match.call()
    mc[[1L]] <- survival::strata
    return(eval(mc, parent.frame()))
  }
  present <- tabulate(codes, nbins = length(labels)) > 0L
  if (!all(present)) {
    codes <- cumsum(present)[codes]
    labels <- labels[present]
  }
  structure(codes, levels = labels, class = "factor")
}

# strata(a, b) becomes strata(a, shortlabel = TRUE) + strata(b, shortlabel = TRUE): the same
# strata (all combinations), but each variable keeps its own column holding its own values
# (not "a=1" labels), so results can report strata as real columns.
split_strata_terms <- function(formula) {
  rewrite <- function(e) {
    if (!is.call(e)) return(e)
    if (identical(e[[1L]], quote(strata))) {
      args <- as.list(e)[-1L]
      # named arguments of strata() (na.group, shortlabel, sep) do not define strata
      if (!is.null(names(args))) args <- args[names(args) == ""]
      parts <- lapply(args, function(a) call("strata", a, shortlabel = TRUE))
      return(Reduce(function(a, b) call("+", a, b), parts))
    }
    e[] <- lapply(e, rewrite)
    e
  }
  formula[[3L]] <- rewrite(formula[[3L]])
  formula
}

# Surv(start, stop, event) turns intervals with stop <= start into NA (with a warning), which
# na.action would then drop silently; refuse instead.
abort_bad_intervals <- function(formula, data, call) {
  start <- surv_argument(formula, data, 2L)
  stop <- surv_argument(formula, data, 3L)
  bad <- if (is.numeric(start) && is.numeric(stop)) which(!is.na(start) & !is.na(stop) & start >= stop) else integer()
  if (!length(bad)) {
    cli::cli_abort("{.arg formula} has start times not before stop times.", call = call,
                   class = "rwe_bad_input")
  }
  abort_rows("formula", "has start times not before stop times", bad, call)
}

# The default na.omit() copies the whole model frame even when nothing is missing (a large
# cost at n = 10^6); when the default applies, skip it for complete data (same result).
frame_call <- function(call) {
  if (is.null(call$na.action) && identical(getOption("na.action"), "na.omit")) {
    call$na.action <- na_omit_unless_complete
  }
  call
}

na_omit_unless_complete <- function(object, ...) {
  for (column in object) {
    # a Surv column's anyNA() would run is.na.Surv(), which allocates; scan its doubles
    missing <- if (inherits(column, "Surv") && is.double(column)) any_na_double_cpp(column)
               else is.atomic(column) && anyNA(column)
    if (missing) return(stats::na.omit(object, ...))
  }
  object
}

# SPSS value-labelled (haven_labelled) columns: on the right-hand side of the formula a
# column whose every value has a label is the categorical variable it stands for (a factor
# in label order, as in every other verb); anything else, and in particular the Surv()
# arguments (status coded 1/2 with labels "censored"/"event"), stays a plain number.
# NULL when nothing is labelled (the model frame call is then left as it is).
labelled_as_plain <- function(data, formula) {
  labelled <- names(data)[vapply(data, inherits, logical(1), "haven_labelled")]
  if (!length(labelled)) return(NULL)
  as_factor <- setdiff(intersect(labelled, all.vars(formula[[3L]])), all.vars(formula[[2L]]))
  data <- prepare_labelled(data, as_factor)
  for (col in setdiff(labelled, as_factor)) data[[col]] <- strip_labelled(data[[col]])
  data
}

# CDISC ADaM's CNSR is a censoring flag (0 = event, 1 = censored), the opposite of Surv()'s
# event indicator, so Surv(AVAL, CNSR) silently analyses censorings as events. Any argument
# of Surv() after the first that is the bare column CNSR (any case) is refused; an expression
# such as 1 - CNSR or CNSR == 0 states the convention and passes.
check_cnsr_event <- function(surv_call, call) {
  args <- as.list(surv_call)[-c(1L, 2L)]
  bad <- vapply(args, function(a) is.symbol(a) && is_cnsr_name(as.character(a)), logical(1))
  if (any(bad)) abort_cnsr(as.character(args[[which(bad)[1L]]]), call)
}

is_cnsr_name <- function(name) grepl("^cnsr$", name, ignore.case = TRUE)

abort_cnsr <- function(name, call) {
  cli::cli_abort(c("{.val {name}} cannot be the event indicator: in CDISC ADaM, CNSR = 0 is an
                    event and CNSR = 1 a censoring, the opposite of {.fn Surv}'s coding.",
                   "i" = "Use {.code Surv(AVAL, 1 - {name})}, or {.fn adtte_surv} to add an
                          {.code event} column."),
                 call = call, class = "rwe_bad_input")
}

is_surv_call <- function(expr) {
  is.call(expr) && (identical(expr[[1L]], quote(Surv)) ||
                      identical(expr[[1L]], quote(survival::Surv)))
}

# Evaluates the i-th argument of the Surv() call, to point at offending rows.
surv_argument <- function(formula, data, i) {
  surv_call <- formula[[2L]]
  if (i < 0) i <- length(surv_call) + 1L + i
  tryCatch(eval(surv_call[[i]], data, environment(formula)), error = function(e) NULL)
}

# Surv() silently converts unknown event codes to NA (with a warning); we refuse instead and
# point at the rows.
abort_bad_status <- function(formula, data, call) {
  status <- surv_argument(formula, data, -1L)
  ok_codes <- c(0, 1, 2)
  bad <- if (is.null(status)) integer() else
    which(!is.na(status) & !(as.numeric(status) %in% ok_codes))
  cli::cli_abort(c("{.arg formula}: event codes must be 0/1, TRUE/FALSE or 1/2.",
                   "x" = if (length(bad)) {
                     paste0("Offending rows: ", format_offenders(bad), " (values ",
                            format_offenders(status[bad]), ").")
                   } else "Some event codes are not 0/1, TRUE/FALSE or 1/2."),
                 call = call, class = "rwe_bad_input")
}

#' Splits a survival model frame into its validated parts.
#'
#' Returns the response columns as doubles (`start` is `NULL` for right-censored data), the
#' stratum of each row (integer codes and labels, a single stratum when there is no
#' `strata()` term), `weights`, `offset`, `cluster`, the terms without the specials, and the
#' rows removed by `na.action`. With `fill = FALSE`, absent weights, offset and strata are
#' `NULL` rather than n ones, zeros and stratum codes (the Cox engine takes them so).
#' @noRd
surv_parts <- function(mf, call = rlang::caller_env(), fill = TRUE) {
  y <- mf[[1L]]  # the response column; model.response() would add n character row names
  if (!inherits(y, "Surv")) {
    cli::cli_abort("{.arg formula} must have a {.fn Surv} response.", call = call,
                   class = "rwe_bad_input")
  }
  type <- attr(y, "type")
  if (!type %in% c("right", "counting")) abort_surv_type(type, "formula", call)
  counting <- type == "counting"
  time <- as.double(surv_column(y, if (counting) 2L else 1L))
  start <- if (counting) as.double(surv_column(y, 1L)) else NULL
  status <- as.double(surv_column(y, ncol(y)))
  check_times(time, start, call = call)
  tt <- stats::terms(mf)
  specials <- attr(tt, "specials")
  strata <- strata_codes(mf, specials$strata, fill = fill)
  n <- nrow(mf)
  weights <- stats::model.weights(mf)
  if (fill || !is.null(weights)) weights <- check_weights(weights, n, call = call)
  offset <- model_offset(mf, tt, n, call = call, fill = fill)
  cluster <- if ("(cluster)" %in% names(mf)) mf[["(cluster)"]] else NULL
  if (!is.null(specials$cluster)) cluster <- mf[[specials$cluster]]
  drop <- c(specials$strata, specials$cluster)
  rhs_terms <- if (length(drop)) drop_special_terms(tt, drop) else tt
  list(time = time, start = start, status = status, counting = counting,
       strata = strata$codes, strata_levels = strata$levels, strata_vars = strata$vars, strata_table = strata$table,
       weights = weights, offset = offset, cluster = cluster, terms = rhs_terms,
       na.action = stats::na.action(mf), n = n)
}

# Only right-censored and counting-process responses reach the engines. A factor status makes
# Surv() build multi-state data ("mright"/"mcounting"), a frequent slip: say so and how to code it.
abort_surv_type <- function(type, arg, call) {
  multi <- type %in% c("mright", "mcounting")
  cli::cli_abort(c(
    "{.arg {arg}}: only right-censored {.code Surv(time, event)} and counting-process {.code Surv(start, stop, event)} data are supported.",
    "x" = if (multi) "The event status is a factor, which {.fn Surv} reads as multi-state data ({.val {type}})."
          else "Got {.val {type}} censoring.",
    "i" = if (multi) "Code the status as 0/1, 1/2 or TRUE/FALSE, e.g. {.code Surv(time, status == \"dead\")}."
  ), call = call, class = "rwe_bad_input")
}

# survival::coxph() gives these terms a meaning of its own (penalised likelihood, random
# effects, time transforms). Evaluated as ordinary functions they would become plain covariates
# and the fit would differ from coxph's without a word, so they are refused by name.
survival_only_specials <- c("frailty", "frailty.gamma", "frailty.gaussian", "frailty.t",
                            "pspline", "ridge", "tt")

check_formula_specials <- function(formula, data, call) {
  found <- find_calls(formula[[3L]], survival_only_specials)
  if (length(found)) {
    term <- found[[1L]]
    cli::cli_abort(c("{.arg formula}: the term {.code {deparse1(term)}} is not supported.",
                     "x" = special_term_advice(call_fn_name(term)),
                     "i" = "{.fn survival::coxph} fits penalised, frailty and {.fn tt} terms."),
                   call = call, class = "rwe_bad_input")
  }
  check_strata_interactions(formula, data, call)
}

special_term_advice <- function(name) {
  switch(name,
    pspline = "A penalised spline needs a penalised likelihood; for an unpenalised spline use {.fn splines::ns} or {.fn survival::nsk}.",
    ridge = "A ridge penalty needs a penalised likelihood; list the covariates without {.fn ridge} (or use {.code firth = TRUE} for monotone likelihood).",
    tt = "{.fn tt} builds a time-dependent covariate from coxph's {.arg tt} argument; split the follow-up with {.fn survival::survSplit} or {.fn survival::tmerge} and use a {.code Surv(start, stop, event)} response.",
    "A shared frailty is a random effect (penalised likelihood); rwecohort fits none. For a marginal model with cluster-robust standard errors use {.code cluster(<group>)}."
  )
}

# Calls to any of `names` (also written pkg::name) anywhere in an expression.
find_calls <- function(e, names) {
  if (!is.call(e)) return(list())
  if (call_fn_name(e) %in% names) return(list(e))
  unlist(lapply(as.list(e)[-1L], find_calls, names), recursive = FALSE)
}

call_fn_name <- function(e) {
  fn <- e[[1L]]
  if (is.call(fn) && (identical(fn[[1L]], quote(`::`)) || identical(fn[[1L]], quote(`:::`)))) {
    fn <- fn[[3L]]
  }
  if (is.name(fn)) as.character(fn) else ""
}

# coxph() reads strata() inside an interaction (age:strata(sex)) as a stratum-specific
# covariate effect with a stratified baseline; here the term would be dropped with the strata.
# Refuse, naming the equivalent formula: the interaction with factor() plus strata() as a term.
check_strata_interactions <- function(formula, data, call) {
  tt <- tryCatch(stats::terms(formula, specials = "strata", data = data),
                 error = function(e) NULL)  # model.frame() reports formula errors itself
  s <- attr(tt, "specials")$strata
  if (is.null(s)) return(invisible(TRUE))
  factors <- attr(tt, "factors")
  bad <- which(attr(tt, "order") > 1L & colSums(factors[s, , drop = FALSE]) > 0)
  if (!length(bad)) return(invisible(TRUE))
  label <- colnames(factors)[bad[1L]]
  term <- str2lang(label)
  strata_calls <- unique(vapply(find_calls(term, "strata"), deparse1, character(1)))
  suggestion <- paste(c(deparse1(strata_as_factor(term)), strata_calls), collapse = " + ")
  cli::cli_abort(c("{.arg formula}: {.fn strata} inside the interaction {.code {label}} is not supported.",
                   "i" = "For stratum-specific effects with stratified baselines (what {.fn survival::coxph} fits), write {.code {suggestion}}."),
                 call = call, class = "rwe_bad_input")
}

strata_as_factor <- function(e) {
  if (!is.call(e)) return(e)
  if (call_fn_name(e) == "strata") {
    args <- as.list(e)[-1L]
    if (!is.null(names(args))) args <- args[names(args) == ""]
    return(if (length(args) == 1L) call("factor", args[[1L]]) else as.call(c(quote(interaction), args)))
  }
  e[] <- lapply(e, strata_as_factor)
  e
}

surv_column <- function(y, j) {
  if (is.double(y)) matrix_column_cpp(y, j) else unclass(y)[, j]
}

model_offset <- function(mf, tt, n, call, fill = TRUE) {
  offset <- stats::model.offset(mf)
  if (is.null(offset)) return(if (fill) rep(0, n))
  bad <- which(!is.finite(offset))
  if (length(bad)) abort_rows("offset", "must be finite", bad, call)
  as.double(offset)
}

# One integer code per row (1..k, in the order of the strata levels), the level labels, and
# the strata variables' values per stratum as a data frame (so that results can carry strata
# as real columns rather than "x=1" strings).
strata_codes <- function(mf, strata_cols, fill = TRUE) {
  if (is.null(strata_cols)) {
    return(list(codes = if (fill) rep(1L, nrow(mf)), levels = NULL, vars = character(),
                table = NULL))
  }
  # list2DF(): do.call(cbind.data.frame, ...) would deparse the n-long columns to name them
  values <- list2DF(lapply(strata_cols, function(j) mf[[j]]))
  names(values) <- vapply(strata_cols, function(j) {
    all.vars(attr(stats::terms(mf), "variables")[[j + 1L]])[1L]
  }, character(1))
  # A strata() term with several variables is one column holding their combination.
  coded <- combine_strata_factors(values)
  if (is.null(coded)) {
    f <- droplevels(interaction(values, sep = ", ", lex.order = TRUE, drop = TRUE))
    coded <- list(codes = as.integer(f), levels = levels(f))
  }
  first <- first_rows_cpp(coded$codes, length(coded$levels))
  table <- values[first, , drop = FALSE]
  rownames(table) <- NULL
  list(codes = coded$codes, levels = coded$levels, vars = names(values), table = table)
}

# The codes and levels of droplevels(interaction(values, sep = ", ", lex.order = TRUE,
# drop = TRUE)) for factor columns without missing values, from integer arithmetic on the
# factor codes rather than interaction()'s pasted labels per row. NULL when that shortcut
# does not apply (the caller then uses interaction()).
combine_strata_factors <- function(values) {
  if (!all(vapply(values, is.factor, logical(1)))) return(NULL)
  codes <- lapply(values, as.integer)
  if (any(vapply(codes, anyNA, logical(1)))) return(NULL)
  sizes <- vapply(values, nlevels, integer(1))
  # first variable varies slowest, as interaction(lex.order = TRUE)
  key <- codes[[1L]]
  if (length(codes) > 1L) {
    key <- as.double(key)
    for (j in seq_along(codes)[-1L]) key <- (key - 1) * sizes[j] + codes[[j]]
  }
  max_key <- prod(as.double(sizes))
  dense <- dense_codes(key, max_key)
  # the label of each used key: its factor levels joined with ", "
  rest <- dense$used - 1
  parts <- vector("list", length(values))
  for (j in rev(seq_along(values))) {
    parts[[j]] <- levels(values[[j]])[rest %% sizes[j] + 1]
    rest <- rest %/% sizes[j]
  }
  labels <- do.call(paste, c(parts, sep = ", "))
  if (anyDuplicated(labels)) return(NULL)
  list(codes = dense$codes, levels = labels)
}

drop_special_terms <- function(tt, special_cols) {
  # specials index variables (response = 1); drop.terms wants term positions.
  term_index <- attr(tt, "factors")
  to_drop <- which(colSums(term_index[special_cols, , drop = FALSE]) > 0)
  if (!length(to_drop)) return(tt)
  if (length(to_drop) == ncol(term_index)) {
    out <- stats::terms(stats::update(stats::formula(tt), . ~ 1))
    attr(out, "specials") <- attr(tt, "specials")
    return(out)
  }
  restore_offset_terms(stats::drop.terms(tt, to_drop, keep.response = TRUE))
}

# stats::drop.terms() (used when strata() terms are removed) drops offset() variables but
# keeps them in "predvars", which makes model.frame() fail and loses the offset. Put the
# offsets back, keeping every other variable's (possibly data-dependent) predvars.
restore_offset_terms <- function(tt) {
  vars <- as.list(attr(tt, "variables"))[-1L]
  predvars <- attr(tt, "predvars")
  if (is.null(predvars) || length(predvars) - 1L == length(vars)) return(tt)
  predvars <- as.list(predvars)[-1L]
  is_offset <- vapply(predvars, function(e) is.call(e) && identical(e[[1L]], quote(offset)),
                      logical(1))
  if (sum(!is_offset) != length(vars)) return(tt)
  f <- stats::formula(tt)
  rhs <- f[[length(f)]]
  for (o in predvars[is_offset]) rhs <- call("+", rhs, o)
  f[[length(f)]] <- rhs
  out <- stats::terms(f)
  attr(out, "predvars") <- as.call(c(quote(list), predvars[!is_offset], predvars[is_offset]))
  out
}

#' Sort order used by every engine: by stratum, then time ascending, events before censorings
#' at the same time (a censoring at t is still at risk at t). Radix sort, stable.
#' @noRd
engine_order <- function(strata, time, status) {
  order(strata, time, -status, method = "radix")
}

# f(x) for a long vector x, applied to chunks of 2^20 elements so that Ctrl-C is honoured
# between them (R's vectorised internals do not poll for interrupts); f must be elementwise.
in_chunks <- function(x, f, size = 2^20) {
  n <- length(x)
  if (n <= size) return(f(x))
  starts <- seq.int(1, n, by = size)
  unlist(lapply(starts, function(s) f(x[s:min(n, s + size - 1)])), use.names = FALSE)
}

# Times that differ only by floating-point noise (e.g. computed as date differences / 30.44)
# are made equal, as survival does by default (its `timefix`): sorted distinct times closer
# than sqrt(eps), absolutely or relative to their mean magnitude, join the run's first time.
# Returns the (merged) times, their integer ranks among the distinct times (which sort much
# faster than doubles) and the distinct (merged) times themselves, `values`.
merge_near_ties <- function(time, start = NULL, arg = "formula", call = rlang::caller_env()) {
  if (is.double(time) && (is.null(start) || is.double(start))) {
    # distinct times, their ranks and the merge in one C++ pass (src/checks.cpp)
    out <- merge_near_ties_cpp(time, if (is.null(start)) double() else start)
    if (is.null(start)) {
      out[c("start", "start_rank")] <- list(NULL, NULL)
    } else if (length(out$bad_start)) {
      abort_rows(arg, "has (start, stop] intervals shorter than the time tolerance",
                 out$bad_start, call)
    }
    out$bad_start <- NULL
    return(out)
  }
  tol <- sqrt(.Machine$double.eps)
  y <- sort(unique(if (is.null(start)) time else c(time, start)))
  dy <- y[-1L] - y[-length(y)]  # diff(y), without its generic dispatch and checks
  tied <- dy <= tol | dy / mean(abs(y)) <= tol
  if (!any(tied)) {
    return(list(time = time, start = start, time_rank = in_chunks(time, function(u) match(u, y)),
                start_rank = if (!is.null(start)) in_chunks(start, function(u) match(u, y)),
                values = y))
  }
  cuts <- y[c(TRUE, !tied)]
  time_rank <- in_chunks(time, function(u) findInterval(u, cuts))
  out <- list(time = cuts[time_rank], start = NULL, time_rank = time_rank, start_rank = NULL,
              values = cuts)
  if (is.null(start)) return(out)
  out$start_rank <- in_chunks(start, function(u) findInterval(u, cuts))
  out$start <- cuts[out$start_rank]
  bad <- which(out$start_rank >= time_rank)
  if (length(bad)) {
    abort_rows(arg, "has (start, stop] intervals shorter than the time tolerance", bad, call)
  }
  out
}

# A lean path from formula to validated parts for the common small-cohort call: at n = 200 a
# call of cox_fit(), km_fit() or logrank_test() spent most of its time in model.frame(),
# terms() and the checks around them, work that depends only on the formula and on the
# classes of the data columns. The first call with a given formula and column classes takes
# the full path (surv_model_frame() and friends) and also builds the lean result; a "plan" is
# kept only if the two are identical(). Later calls with the same formula and column classes
# build the model frame, the surv_parts() list and the verb's design (cox) or groups (km,
# log-rank) straight from the data columns.
#
# The lean path declines (the full path runs, with its own errors and warnings) for anything
# outside a small grammar: a formula `Surv(a, b) ~ t1 + t2 + ...` whose terms are data
# columns or `strata(column)` (or `1`), no weights/subset/na.action/cluster/id argument, the
# default na.action "na.omit", at most 5e4 rows, plain numeric survival times, 0/1 or logical
# event codes, no missing value in any used column, valid times, and per verb: numeric
# covariates (cox), factor/character/logical/numeric groups (km, log-rank).
# `options(rwecohort.lean_frame = FALSE)` turns it off.

lean_frame_cache <- new.env(parent = emptyenv())
lean_frame_cache$plans <- list()
lean_plan_limit <- 64L
# Above this many rows the fixed cost of a call no longer matters and the full path is taken:
# the first call's check (both paths, compared) would cost a second model frame in memory.
lean_max_rows <- 5e4

lean_frame_enabled <- function() !isFALSE(getOption("rwecohort.lean_frame"))

# The verb's frame through the lean path when it applies (first call with a formula and column
# classes: the full path, checked against the lean one). `full` computes the verb's list the
# full way; the lean builder must return a list identical to it.
surv_frame_cached <- function(mc, env, verb, full) {
  inputs <- if (lean_frame_enabled()) lean_inputs(mc, env)
  if (is.null(inputs)) return(full())
  plan <- lean_find_plan(inputs$formula, inputs$data, verb)
  if (!is.null(plan)) {
    if (!plan$ok) return(full())
    return(lean_build(plan, inputs$formula, inputs$data) %||% full())
  }
  out <- full()
  lean_learn(inputs$formula, inputs$data, verb, out)
  out
}

# The formula and data of the call when the call has nothing but them among the model-frame
# arguments and evaluating them twice is harmless (a symbol, a pkg::name, a formula literal).
lean_inputs <- function(mc, env) {
  args <- names(mc)
  if (any(c("weights", "subset", "na.action", "cluster", "id") %in% args)) return(NULL)
  if (!identical(getOption("na.action"), "na.omit")) return(NULL)
  fe <- mc$formula
  de <- mc$data
  if (is.null(fe) || is.null(de) || !lean_cheap_expr(fe) || !lean_cheap_expr(de)) return(NULL)
  formula <- eval(fe, env)
  data <- eval(de, env)
  if (!inherits(formula, "formula") || length(formula) != 3L || !is.data.frame(data) ||
      .row_names_info(data, 2L) > lean_max_rows) {
    return(NULL)
  }
  list(formula = formula, data = data)
}

lean_cheap_expr <- function(e) {
  is.symbol(e) || (is.call(e) && (identical(e[[1L]], quote(`~`)) ||
                                    identical(e[[1L]], quote(`::`))))
}

# The formula's variables when it is in the lean grammar, else NULL: `time`, `status` (the
# Surv() arguments) and `terms`, one entry per right-hand-side term (name, strata flag).
lean_formula_vars <- function(formula) {
  lhs <- formula[[2L]]
  if (!is.call(lhs) || length(lhs) != 3L || !identical(lhs[[1L]], quote(Surv)) ||
      !is.null(names(lhs)) || !is.symbol(lhs[[2L]]) || !is.symbol(lhs[[3L]])) {
    return(NULL)
  }
  terms <- lean_rhs_terms(formula[[3L]])
  if (is.null(terms)) return(NULL)
  names <- vapply(terms, `[[`, "", "name")
  if (anyDuplicated(names)) return(NULL)
  list(time = as.character(lhs[[2L]]), status = as.character(lhs[[3L]]), terms = terms)
}

# Right-hand side made of `+`, `1`, column names and strata(column): a list of terms, or NULL.
lean_rhs_terms <- function(e) {
  if (is.symbol(e)) {
    name <- as.character(e)
    if (name %in% c(".", "")) return(NULL)
    return(list(list(name = name, strata = FALSE)))
  }
  if (is.numeric(e) && identical(as.vector(e), 1)) return(list())
  if (!is.call(e)) return(NULL)
  head <- e[[1L]]
  if (identical(head, quote(`+`)) && length(e) == 3L) {
    a <- lean_rhs_terms(e[[2L]])
    b <- lean_rhs_terms(e[[3L]])
    if (is.null(a) || is.null(b)) return(NULL)
    return(c(a, b))
  }
  if (identical(head, quote(strata)) && length(e) == 2L && is.null(names(e)) &&
      is.symbol(e[[2L]])) {
    return(list(list(name = as.character(e[[2L]]), strata = TRUE)))
  }
  NULL
}

# What the model frame depends on besides the values: the data's class and kind of row
# names, each used column's type and attributes.
lean_signature <- function(data, vars) {
  columns <- lapply(vars, function(v) {
    x <- .subset2(data, v)
    list(typeof(x), attributes(x))
  })
  c(list(class(data), typeof(.row_names_info(data, 0L))), columns)
}

lean_find_plan <- function(formula, data, verb) {
  for (plan in lean_frame_cache$plans) {
    if (identical(plan$verb, verb) && identical(plan$lhs, formula[[2L]]) &&
        identical(plan$rhs, formula[[3L]]) &&
        identical(plan$signature, lean_signature(data, plan$vars))) {
      return(plan)
    }
  }
  NULL
}

# Builds a plan from a full-path result and keeps it (ok = TRUE) only if the lean build on the
# same data is identical to it; if the two differ, the plan records that this formula and
# these column classes take the full path. When the lean build declines these data (missing
# values, 1/2 event codes, ...), nothing is kept: later data may qualify.
lean_learn <- function(formula, data, verb, out) {
  vars <- lean_formula_vars(formula)
  if (is.null(vars)) return(invisible(NULL))
  used <- unique(c(vars$time, vars$status, vapply(vars$terms, `[[`, "", "name")))
  if (!all(used %in% names(data)) || anyDuplicated(names(data))) return(invisible(NULL))
  tt <- attr(out$mf, "terms")
  plan <- list(verb = verb, lhs = formula[[2L]], rhs = formula[[3L]], vars = used,
               time = vars$time, status = vars$status, terms = vars$terms,
               signature = lean_signature(data, used), mf_names = names(out$mf),
               term_names = vapply(vars$terms, `[[`, "", "name"),
               term_strata = vapply(vars$terms, `[[`, TRUE, "strata"),
               mf_terms = tt, rhs_terms = out$parts$terms, ok = TRUE,
               memo = new.env(parent = emptyenv()))
  plan$design <- if (verb == "cox") lean_cox_plan(out$design)
  if (verb == "cox" && !lean_cox_numeric(plan, data)) {
    plan$ok <- FALSE  # factors, logicals, ...: model.matrix() codes them (full path)
  } else {
    built <- tryCatch(lean_build(plan, formula, data), error = function(e) NULL)
    if (is.null(built)) return(invisible(NULL))
    plan$ok <- lean_same(built, out, verb)
  }
  plans <- c(list(plan), lean_frame_cache$plans)
  lean_frame_cache$plans <- plans[seq_len(min(length(plans), lean_plan_limit))]
  invisible(plan)
}

# identical() once the (per-call) environment of the terms is the same on both sides.
lean_same <- function(built, out, verb) {
  if (verb != "cox") return(identical(built, lean_group_projection(out, verb)))
  env <- environment(attr(built$mf, "terms"))
  attr(out$mf, "terms") <- lean_with_env(attr(out$mf, "terms"), env)
  out$parts$terms <- lean_with_env(out$parts$terms, env)
  identical(built, out)
}

lean_with_env <- function(tt, env) {
  if (!is.null(tt)) attr(tt, ".Environment") <- env
  tt
}

# The verb's list from the data columns, or NULL when this call is outside the lean path.
lean_build <- function(plan, formula, data) {
  n <- .row_names_info(data, 2L)
  if (n == 0L) return(NULL)
  time <- .subset2(data, plan$time)
  status <- .subset2(data, plan$status)
  if (!(is.double(time) || is.integer(time)) || !is.null(attributes(time)) ||
      !is.null(attributes(status)) || length(time) != n || length(status) != n ||
      anyNA(time) || !zero_one_codes(status)) {
    return(NULL)
  }
  cols <- lean_term_columns(plan, data, n)
  if (is.null(cols)) return(NULL)
  if (plan$verb != "cox") return(lean_group_build(plan, time, status, cols, n))
  y <- surv_right(time, status)  # what fast_surv() builds for these (checked) columns
  time <- as.double(time)
  if (!times_valid_cpp(time, double())) return(NULL)
  env <- new.env(parent = environment(formula) %||% parent.frame())
  env$Surv <- fast_surv
  env$strata <- fast_strata
  env$cluster <- survival::cluster
  mf <- c(list(y), cols)
  names(mf) <- plan$mf_names
  attr(mf, "terms") <- lean_with_env(plan$mf_terms, env)
  attr(mf, "row.names") <- lean_row_names(data)
  class(mf) <- "data.frame"
  parts <- lean_parts(plan, mf, y, time, env, n)
  out <- list(mf = mf, parts = parts)
  lean_cox_design(plan, out)
}

# The right-hand-side columns in term order, strata() terms as the model frame evaluates
# split_strata_terms()'s strata(x, shortlabel = TRUE); NULL when one has the wrong length or
# a missing value.
lean_term_columns <- function(plan, data, n) {
  cols <- vector("list", length(plan$terms))
  for (j in seq_along(cols)) {
    term <- plan$terms[[j]]
    x <- .subset2(data, term$name)
    if (length(x) != n || anyNA(x)) return(NULL)
    cols[[j]] <- if (term$strata) fast_strata(x, shortlabel = TRUE) else x
  }
  cols
}

# What km_fit() and logrank_test() read of their frame (lean_group_projection()), built
# straight from the columns: no Surv matrix, model frame or terms. The full path's result is
# compared with it once (lean_learn()).
lean_group_build <- function(plan, time, status, cols, n) {
  time <- as.double(time)
  if (!times_valid_cpp(time, double())) return(NULL)
  parts <- list(time = time, start = NULL, status = as.double(status), counting = FALSE,
                na.action = NULL, n = n)
  if (plan$verb == "km") parts$weights <- rep(1, n)
  out <- list(parts = parts)
  is_strata <- plan$term_strata
  for (j in which(is_strata)) cols[[j]] <- strata_values(cols[[j]], plan$term_names[j])
  names(cols) <- plan$term_names
  if (plan$verb == "km") {
    out$groups <- lean_combine_groups(cols, n, plan$memo, "groups")
  } else {
    out$groups <- lean_combine_groups(cols[!is_strata], n, plan$memo, "groups")
    out$strata <- lean_combine_groups(cols[is_strata], n, plan$memo, "strata")
  }
  out
}

# The part of a full-path frame that the grouping verbs read: the lean build returns exactly
# this (km_fit() finds no "(weights)" or "(id)" column in a NULL model frame, as the lean
# grammar has none).
lean_group_projection <- function(out, verb) {
  out$mf <- NULL
  out$parts <- out$parts[c("time", "start", "status", "counting", "na.action", "n",
                           if (verb == "km") "weights")]
  out
}

# surv_parts(fill = FALSE) of a lean Cox model frame (right-censored, no weights, offset or
# cluster): no unit weights, zero offset or single-stratum codes.
lean_parts <- function(plan, mf, y, time, env, n) {
  strata_cols <- attr(plan$mf_terms, "specials")$strata
  strata <- strata_codes(mf, strata_cols, fill = FALSE)
  list(time = time, start = NULL, status = as.double(matrix_column_cpp(y, 2L)),
       counting = FALSE, strata = strata$codes, strata_levels = strata$levels,
       strata_vars = strata$vars, strata_table = strata$table,
       weights = NULL, offset = NULL, cluster = NULL,
       terms = lean_with_env(plan$rhs_terms, env), na.action = NULL, n = n)
}

# What cox_design_matrix() returned that depends only on the formula and column classes.
lean_cox_plan <- function(design) {
  if (is.null(design)) return(NULL)
  list(names = colnames(design$x), assign = design$assign, xlevels = design$xlevels)
}

# TRUE when the Cox design is the covariate columns themselves: every term a plain numeric
# column (no factor, logical or attribute), one design column per term.
lean_cox_numeric <- function(plan, data) {
  labels <- vapply(Filter(function(t) !t$strata, plan$terms), `[[`, "", "name")
  length(labels) > 0L && identical(labels, plan$design$names) &&
    all(vapply(labels, function(l) {
      x <- .subset2(data, l)
      (is.double(x) || is.integer(x)) && is.null(attributes(x))
    }, TRUE))
}

# cox_design_matrix(columns = TRUE) for numeric covariates: a data frame of the columns as
# doubles (numeric_design_columns()).
lean_cox_design <- function(plan, out) {
  labels <- plan$design$names
  if (!length(labels)) return(NULL)
  mf <- out$mf
  cols <- lapply(labels, function(l) .subset2(mf, l))
  # plain numbers only (the plan's signature fixes the column types and attributes)
  if (!all(vapply(cols, function(x) (is.double(x) || is.integer(x)) && is.null(attributes(x)),
                  TRUE))) {
    return(NULL)
  }
  cols <- lapply(cols, as.double)  # no copy for the usual double columns
  names(cols) <- labels
  x <- new_df(cols)
  summary <- cox_column_summary_cpp(x, double())  # length 0: unit weights
  if (summary$bad_col > 0L) return(NULL)
  out$design <- list(x = x, assign = plan$design$assign, xlevels = plan$design$xlevels,
                     summary = summary)
  out
}

# combine_groups() with the group table and labels kept in the plan's memo: they depend only
# on each column's sorted distinct values (levels, for a factor), its attributes and which
# value combinations occur (group_codes()), so they are rebuilt only when one of those
# changes.
lean_combine_groups <- function(values, n, memo, slot) {
  if (!length(values)) return(combine_groups(values, n))
  coded <- group_codes(values)
  id <- list(coded$used, coded$sorted, lapply(values, attributes))
  kept <- memo[[slot]]
  if (is.null(kept) || !identical(kept$id, id)) {
    table <- group_table(values, coded)
    kept <- list(id = id, table = table, label = group_labels(table))
    memo[[slot]] <- kept
  }
  list(codes = coded$codes, table = kept$table, label = kept$label)
}

# The row names model.frame() gives its result: the data's, with automatic ones c(NA, -n)
# stored as c(NA, n).
lean_row_names <- function(data) {
  rn <- .row_names_info(data, 0L)
  if (is.integer(rn) && length(rn) == 2L && is.na(rn[1L])) rn[2L] <- abs(rn[2L])
  rn
}

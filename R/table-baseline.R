#' Baseline characteristics table (Table 1)
#'
#' Summarises patient characteristics, one row per continuous variable or logical flag and
#' one row per level of a categorical variable: median (range) for numeric columns,
#' N (%) for categorical columns, and N (%) of `TRUE` for logical flags. Each variable can
#' have its own denominator (for example metastasis sites over the patients with distant
#' metastases). With `by`, the same summaries are given per group, with a p-value per
#' variable.
#'
#' @param data A data frame, one row per patient.
#' @param vars Character vector of column names to summarise, in display order. Numeric
#'   (integer or double) columns are continuous; logical columns are flags (only the
#'   `TRUE` count is shown); character and factor columns are categorical (factor levels
#'   keep their order, character values are sorted).
#' @param by Optional name of a grouping column. Rows with a missing group are left out of
#'   the group columns and the test but kept in the overall columns.
#' @param denominators Optional named list: names are entries of `vars`, values are the
#'   name of a logical column of `data`. The variable is then summarised over the rows
#'   where that column is `TRUE` only (e.g. `list(met_lung = "distant")`). Variables not
#'   named use all rows.
#' @param digits Decimals of the percentages, and the maximum number of decimals of
#'   median (range) (which otherwise follows the precision of the data).
#' @param test Whether to add p-values when `by` is given: Fisher's exact test for
#'   categorical variables and flags, Wilcoxon rank-sum (two groups) or Kruskal-Wallis
#'   (more groups) for continuous variables. When the exact Fisher computation runs out of
#'   workspace (larger tables with a few hundred patients), its p-value is estimated from
#'   1e5 simulated tables with a fixed seed, and the `test` column says so.
#' @param labels Optional character vector of display labels named by entries of `vars`,
#'   e.g. `c(age_years = "Age (years)")`; other variables are shown by their variable label
#'   (`attr(x, "label")`, as haven reads SAS and SPSS files; see [column_labels()]) or else
#'   by column name. haven value-labelled (SPSS) columns are categorical when every value
#'   has a label (levels in label order), numeric otherwise.
#' @return A data frame of class `c("rwe_baseline", "rwe_table", "data.frame")`, one row
#'   per variable (continuous, flag) or variable level (categorical), with columns
#'   * `variable`, `label` (display label), `level` (`NA` for continuous variables and
#'     flags), `type` (`"continuous"`, `"flag"` or `"categorical"`);
#'   * `n` (patients in the row; for continuous variables the non-missing values), `N`
#'     (the denominator: non-missing values of the variable among the denominator rows),
#'     `percent` (`100 * n / N`, `NA` for continuous), `summary` (the printed text);
#'   * `denominator`: the logical column defining the denominator, or `NA` for all rows;
#'   * with `by`: for each group `g`, columns `n_<g>`, `N_<g>`, `percent_<g>`,
#'     `summary_<g>`, then `p_value` and `test` (on every row of a variable). The groups
#'     are in `attr(x, "groups")`; `tidy()` returns the long form with a real `group`
#'     column.
#' @examples
#' rrdtc <- rrdtc_patients
#' rrdtc$distant <- with(rrdtc, met_lung | met_bone | met_pleura | met_other)
#' baseline_table(rrdtc, c("age_years", "sex", "histology", "distant", "met_lung",
#'                         "met_bone", "cum_rai_dose_gbq"),
#'                denominators = list(met_lung = "distant", met_bone = "distant"))
#' baseline_table(rrdtc, c("age_years", "histology"), by = "sex",
#'                labels = c(age_years = "Age (years)", histology = "Histologic type"))
#' @export
baseline_table <- function(data, vars, by = NULL, denominators = NULL, digits = 1,
                           test = TRUE, labels = NULL) {
  check_data_frame(data)
  check_columns(data, vars, arg = "data")
  if (anyDuplicated(vars)) {
    cli::cli_abort("{.arg vars} has duplicated entries: {.val {unique(vars[duplicated(vars)])}}.",
                   class = "rwe_bad_input")
  }
  check_number(digits, min = 0, max = 6)
  check_flag(test)
  data <- prepare_labelled(data, c(vars, by))
  labels <- check_labels(with_data_labels(labels, data, vars), vars)
  denominators <- check_denominators(denominators, data, vars)
  groups <- NULL
  if (!is.null(by)) {
    check_column_name(by, data)
    if (by %in% vars) cli::cli_abort("{.arg by} ({.val {by}}) cannot also be in {.arg vars}.",
                                     class = "rwe_bad_input")
    groups <- group_levels(data[[by]])
    if (length(groups) < 2) {
      cli::cli_abort("{.arg by} column {.val {by}} must have at least two groups; it has
                      {length(groups)}.", class = "rwe_bad_input")
    }
  }
  call <- rlang::current_env()   # errors about a variable are reported as baseline_table()'s
  rows <- lapply(vars, function(var) {
    baseline_variable(data, var, denominators[[var]], by, groups, digits, test, call)
  })
  out <- do.call(rbind, rows)
  out <- cbind(out[1], label = unname(labels[out$variable]), out[-1])
  new_rwe_table(out, "rwe_baseline", title = "Baseline characteristics",
                groups = groups, by = by)
}

# Validates `denominators` and returns it as a named list of logical-column names.
check_denominators <- function(denominators, data, vars, call = rlang::caller_env()) {
  if (is.null(denominators)) return(list())
  if (!is.list(denominators) || is.null(names(denominators)) ||
      any(names(denominators) == "")) {
    cli::cli_abort("{.arg denominators} must be a named list, e.g.
                    {.code list(met_lung = \"distant\")}.", call = call,
                   class = "rwe_bad_input")
  }
  unknown <- setdiff(names(denominators), vars)
  if (length(unknown) > 0) {
    cli::cli_abort("{.arg denominators} names {cli::qty(length(unknown))}{.val {unknown}},
                    which {?is/are} not in
                    {.arg vars}.", call = call, class = "rwe_bad_input")
  }
  for (var in names(denominators)) {
    col <- denominators[[var]]
    if (!is.character(col) || length(col) != 1) {
      cli::cli_abort("{.arg denominators}${var} must be a single column name.", call = call,
                     class = "rwe_bad_input")
    }
    check_columns(data, col, arg = "data", call = call)
    if (!is.logical(data[[col]])) {
      cli::cli_abort("Denominator column {.val {col}} (for {.val {var}}) must be logical,
                      not {.obj_type_friendly {data[[col]]}}.", call = call,
                     class = "rwe_bad_input")
    }
  }
  denominators
}

# Levels of a grouping or categorical column, in display order.
group_levels <- function(x) {
  if (is.factor(x)) return(levels(droplevels(x)))
  if (is.logical(x)) return(c("TRUE", "FALSE")[c(any(x %in% TRUE), any(x %in% FALSE))])
  sort(unique(as.character(x[!is.na(x)])))
}

variable_type <- function(x, var, call = rlang::caller_env()) {
  if (is.logical(x)) return("flag")
  if (is.numeric(x)) return("continuous")
  if (is.character(x) || is.factor(x)) return("categorical")
  cli::cli_abort("Column {.val {var}} has unsupported type {.obj_type_friendly {x}}; use
                  numeric, logical, character or factor.", call = call,
                 class = "rwe_bad_input")
}

# All rows of the table for one variable: overall summary, per-group summaries, test.
baseline_variable <- function(data, var, denominator, by, groups, digits, test, call) {
  type <- variable_type(data[[var]], var, call = call)
  if (type == "continuous") check_finite_continuous(data[[var]], var, call)
  if (!is.null(denominator)) data <- data[data[[denominator]] %in% TRUE, , drop = FALSE]
  levels <- if (type == "categorical") group_levels(data[[var]]) else NA_character_
  if (type == "continuous" && any(!is.na(data[[var]]))) {
    # One precision for the overall and the group columns, chosen on all the data.
    observed <- data[[var]][!is.na(data[[var]])]
    digits <- decimals_needed(c(observed, stats::median(observed)), digits)
  }
  out <- summarise_variable(data[[var]], type, levels, digits)
  out <- cbind(data.frame(variable = var, level = levels, type = type), out,
               denominator = if (is.null(denominator)) NA_character_ else denominator)
  if (is.null(by)) return(out)
  for (g in groups) {
    in_group <- data[[by]] %in% (if (is.logical(data[[by]])) as.logical(g) else g)
    per_group <- summarise_variable(data[[var]][in_group], type, levels, digits)
    names(per_group) <- paste0(names(per_group), "_", g)
    out <- cbind(out, per_group)
  }
  tested <- if (test) baseline_test(data[[var]], data[[by]], type) else list(NA_real_, NA)
  out$p_value <- tested[[1]]
  out$test <- tested[[2]]
  out
}

# Median (range) and the tests need finite numbers: an infinite value would otherwise fail
# deep in the formatting code ("missing value where TRUE/FALSE needed").
check_finite_continuous <- function(x, var, call) {
  bad <- which(is.infinite(x))
  if (length(bad)) {
    abort_rows("data", paste0("has infinite values of `", var, "`"), bad, call)
  }
  invisible(TRUE)
}

# n, N, percent and summary text of one variable in one set of rows (`digits`: decimals
# of the percentages, or of median (range) for a continuous variable).
summarise_variable <- function(x, type, levels, digits) {
  observed <- x[!is.na(x)]
  N <- length(observed)
  if (type == "continuous") {
    return(data.frame(n = N, N = N, percent = NA_real_,
                      summary = format_median_range(observed, digits = digits)))
  }
  n <- if (type == "flag") sum(observed) else
    vapply(levels, function(l) sum(as.character(observed) == l), numeric(1))
  percent <- if (N > 0) 100 * n / N else NA_real_
  data.frame(n = as.integer(n), N = N, percent = percent,
             summary = format_n_percent(n, N, digits))
}

# p-value and test name for one variable against the grouping column.
baseline_test <- function(x, group, type) {
  keep <- !is.na(x) & !is.na(group)
  x <- x[keep]
  group <- factor(group[keep])
  if (nlevels(group) < 2 || length(unique(x)) < 2) return(list(NA_real_, NA_character_))
  if (type == "continuous") {
    if (nlevels(group) == 2) {
      # Exact p-values are impossible with ties; the normal approximation is then the
      # documented behaviour, so the tie warning carries no information here.
      p <- suppress_tie_warning(stats::wilcox.test(x ~ group)$p.value)
      return(list(p, "Wilcoxon rank-sum"))
    }
    return(list(stats::kruskal.test(x, group)$p.value, "Kruskal-Wallis"))
  }
  fisher_test(table(x, group))
}

# Fisher's exact test; when the network algorithm runs out of workspace (larger r x c tables,
# a few hundred patients suffice) the p-value is estimated from 1e5 tables simulated with a
# fixed seed (reproducible; the caller's random-number state is left untouched).
fisher_test <- function(tab) {
  exact <- tryCatch(stats::fisher.test(tab)$p.value, error = function(e) NULL)
  if (!is.null(exact)) return(list(exact, "Fisher's exact"))
  had_seed <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  old <- if (had_seed) get(".Random.seed", envir = globalenv())
  on.exit(if (had_seed) assign(".Random.seed", old, envir = globalenv()) else
    rm(".Random.seed", envir = globalenv()))
  set.seed(20240101L)
  p <- stats::fisher.test(tab, simulate.p.value = TRUE, B = 1e5)$p.value
  list(p, "Fisher's exact (Monte Carlo, 1e5 tables)")
}

suppress_tie_warning <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    if (grepl("exact p-value", conditionMessage(w))) invokeRestart("muffleWarning")
  })
}

#' @export
display_table.rwe_baseline <- function(x, ...) {
  check_dots_empty_bad(...)
  label <- ifelse(is.na(x$level), x$label, paste0("  ", x$level))
  has_levels <- !is.na(x$level)
  first_level <- has_levels & !duplicated(x$variable)
  # A categorical variable gets a header line, as in the published Table 1.
  shown <- data.frame(characteristic = label, overall = x$summary)
  groups <- attr(x, "groups")
  for (g in groups) shown[[g]] <- x[[paste0("summary_", g)]]
  if (!is.null(groups)) {
    shown$p <- ifelse(duplicated(x$variable), "", format_pvalue(x$p_value))
  }
  shown <- insert_headers(shown, x$label, first_level)
  shown
}

# Inserts a header row (the variable name) above the first level of each categorical
# variable, moving that variable's p-value onto the header row.
insert_headers <- function(shown, variable, first_level) {
  pieces <- list()
  for (i in seq_len(nrow(shown))) {
    if (first_level[i]) {
      header <- shown[i, , drop = FALSE]
      header[1, ] <- ""
      header$characteristic <- variable[i]
      if ("p" %in% names(shown)) {
        header$p <- shown$p[i]
        shown$p[i] <- ""
      }
      pieces[[length(pieces) + 1]] <- header
    }
    pieces[[length(pieces) + 1]] <- shown[i, , drop = FALSE]
  }
  out <- do.call(rbind, pieces)
  rownames(out) <- NULL
  out
}

#' @rdname baseline_table
#' @param x An `rwe_baseline` table.
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @export
tidy.rwe_baseline <- function(x, ...) {
  check_dots_empty_bad(...)
  groups <- attr(x, "groups")
  base <- c("variable", "label", "level", "type", "denominator")
  overall <- cbind(strip_rwe_table(x)[base], group = "overall",
                   strip_rwe_table(x)[c("n", "N", "percent", "summary")])
  if (is.null(groups)) return(overall)
  long <- lapply(groups, function(g) {
    cols <- paste0(c("n", "N", "percent", "summary"), "_", g)
    part <- strip_rwe_table(x)[cols]
    names(part) <- c("n", "N", "percent", "summary")
    cbind(strip_rwe_table(x)[base], group = g, part)
  })
  out <- do.call(rbind, c(list(overall), long))
  out$p_value <- rep(x$p_value, length(groups) + 1)
  out
}

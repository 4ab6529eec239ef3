# Partitioned fits: transport. Resident data on cluster workers (or in this process), the
# message exchange with timeouts, and the traffic record. See R/partition-protocol.R for the rounds.

# ---------------------------------------------------------------------------------------------
# Partitions: resident data on cluster workers (or in this process) and the message exchange
# ---------------------------------------------------------------------------------------------

#' Load data partitions onto the workers of a cluster
#'
#' Each source (a data frame, or the path of an `.rds` or `.csv` file that is read ON the
#' worker) is loaded once onto a worker of `cl` (round robin) and stays resident there in a
#' per-worker store; the partitioned fits then send only sums and coefficients. With
#' `cl = NULL` the partitions stay in this R process (same protocol, no cluster), which is
#' what a site exchanging files would do by hand.
#'
#' @param sources A list of data frames and/or file paths, one per partition; its names label
#'   the partitions in messages and results.
#' @param cl A cluster from `parallel::makeCluster()` or `parallelly::makeClusterPSOCK()`, or
#'   `NULL`.
#' @param timeout Seconds to wait for the workers' answers (loading rwecohort and the data)
#'   before giving up with an error of class `rwe_worker_timeout` that names the worker;
#'   default the option `rwecohort.worker_timeout`, else 600. The partitioned verbs take their
#'   own `timeout`.
#' @return An object of class `rwe_partitions`.
#' @examples
#' lung <- survival::lung
#' parts <- cohort_partitions(split(lung, lung$inst %% 3))
#' parts
#' @export
cohort_partitions <- function(sources, cl = NULL,
                              timeout = getOption("rwecohort.worker_timeout", 600)) {
  timeout <- check_timeout(timeout)
  if (is.data.frame(sources) || !is.list(sources) || !length(sources)) {
    cli::cli_abort("{.arg sources} must be a non-empty list of data frames or file paths.",
                   class = "rwe_bad_input")
  }
  ok <- vapply(sources, function(s) is.data.frame(s) || (is.character(s) && length(s) == 1L), logical(1))
  labels <- partition_labels(sources)
  if (!all(ok)) {
    cli::cli_abort("{.arg sources}: partition {.val {labels[!ok][1L]}} is neither a data frame nor a file path.",
                   class = "rwe_bad_input")
  }
  if (!is.null(cl) && !inherits(cl, "cluster")) {
    cli::cli_abort("{.arg cl} must be a cluster from {.fn parallel::makeCluster} or {.fn parallelly::makeClusterPSOCK}, or NULL.",
                   class = "rwe_bad_input")
  }
  keys <- paste0(new_id("part"), "_", seq_along(sources))
  parts <- structure(list(cluster = cl, labels = labels, keys = keys,
                          node = if (is.null(cl)) rep(0L, length(sources)) else (seq_along(sources) - 1L) %% length(cl) + 1L,
                          pids = NULL, store = if (is.null(cl)) new.env(parent = emptyenv()),
                          timeout = timeout, health = new.env(parent = emptyenv())),
                     class = "rwe_partitions")
  if (!is.null(cl)) parts$pids <- worker_setup(cl, timeout)
  loaded <- partition_exchange(parts, "load", lapply(sources, function(s) list(source = s)))
  parts$nrow <- vapply(loaded$results, `[[`, integer(1), "nrow")
  parts$load_bytes <- sum(loaded$sent)
  parts
}

#' @export
print.rwe_partitions <- function(x, ...) {
  where <- if (is.null(x$cluster)) "this R process" else
    paste0(length(x$cluster), " cluster worker", if (length(x$cluster) > 1L) "s")
  cat("<rwe_partitions> ", length(x$keys), " partitions resident on ", where, "\n", sep = "")
  print(data.frame(partition = x$labels, worker = x$node, rows = x$nrow), row.names = FALSE)
  invisible(x)
}

# Loads rwecohort on the workers (the installed package, or this source tree when it was
# loaded with pkgload) and returns their process ids for error messages.
worker_setup <- function(cl, timeout) {
  path <- getNamespaceInfo(asNamespace("rwecohort"), "path")
  # an installed package has Meta/package.rds; a source tree loaded with pkgload has not
  dev <- !file.exists(file.path(path, "Meta", "package.rds"))
  setup <- remote_function(function(a) {
    path <- a$path
    dev <- a$dev
    libs <- a$libs
    .libPaths(unique(c(libs, .libPaths())))
    # loaded already (an earlier cohort_partitions()): reloading would drop resident data
    if (isNamespaceLoaded("rwecohort")) return(Sys.getpid())
    if (dev) {
      load_all <- getExportedValue("pkgload", "load_all")
      suppressMessages(load_all(path, compile = FALSE, quiet = TRUE, helpers = FALSE,
                                attach_testthat = FALSE))
    } else {
      loadNamespace("rwecohort", lib.loc = dirname(path))
    }
    Sys.getpid()
  })
  nodes <- seq_along(cl)
  round <- cluster_round(cl, nodes, setup, rep(list(list(path = path, dev = dev, libs = .libPaths())),
                                               length(cl)), timeout)
  if (length(round$errors)) {
    cli::cli_abort(c("Could not load rwecohort on cluster worker{?s} {names(round$errors)}.",
                     "x" = paste(unique(unlist(round$errors)), collapse = "; ")),
                   class = "rwe_worker_error", call = NULL)
  }
  if (length(round$late)) {
    cli::cli_abort("Cluster worker{?s} {round$late} did not answer within {timeout} second{?s} (loading rwecohort).",
                   class = c("rwe_worker_timeout", "rwe_worker_error"), call = NULL)
  }
  unlist(round$values)
}

# Unique labels for partitions and fits without touching the user's random-number stream.
id_counter <- new.env(parent = emptyenv())
new_id <- function(prefix) {
  id_counter$n <- (id_counter$n %||% 0) + 1
  paste0(prefix, Sys.getpid(), "_", format(Sys.time(), "%H%M%OS6"), "_", id_counter$n)
}

# Functions sent to workers must not drag this frame's variables along.
remote_function <- function(f) {
  environment(f) <- globalenv()
  f
}

# Sends `what` with args[[k]] to every partition k and collects one result per partition.
# Bytes are the serialized sizes of exactly what crosses (arguments out, results back).
partition_exchange <- function(parts, what, args) {
  sent <- vapply(args, function(a) as.double(length(serialize(a, NULL))), numeric(1))
  results <- if (is.null(parts$cluster)) {
    lapply(seq_along(args), function(k) {
      msg <- unserialize(serialize(list(keys = parts$keys[k], what = what, args = args[k]), NULL))
      unserialize(serialize(site_dispatch(msg, parts$store), NULL))[[1L]]
    })
  } else {
    cluster_exchange(parts, what, args)
  }
  for (k in seq_along(results)) {
    if (inherits(results[[k]], "rwe_site_error")) {
      cli::cli_abort(c("Partition {.val {parts$labels[k]}} refused or failed ({what}).",
                       "x" = results[[k]]$message),
                     class = c(results[[k]]$class, "rwe_site_failure"), call = NULL)
    }
  }
  received <- vapply(results, function(r) as.double(length(serialize(r, NULL))), numeric(1))
  list(results = results, sent = sent, received = received)
}

# One message per worker with the requests for its partitions; all workers compute at once.
# A worker that does not answer (dead process, broken connection) is named in the error; one
# that does not answer within `parts$timeout` seconds (frozen, swapping, unreachable) too.
cluster_exchange <- function(parts, what, args) {
  cl <- parts$cluster
  entry <- remote_function(function(msg) asNamespace("rwecohort")$site_dispatch(msg))
  jobs <- split(seq_along(args), factor(parts$node, levels = seq_along(cl)))
  active <- which(lengths(jobs) > 0L)
  # cleaning up after a fit must not wait again for a worker that has just timed out
  if (identical(what, "drop")) active <- setdiff(active, unresponsive_nodes(parts))
  node_args <- lapply(seq_along(cl), function(j) {
    list(keys = parts$keys[jobs[[j]]], what = what, args = args[jobs[[j]]])
  })
  timeout <- parts$timeout %||% getOption("rwecohort.worker_timeout", 600)
  round <- cluster_round(cl, active, entry, node_args, timeout)
  set_unresponsive(parts, round$late, active)
  if (length(round$errors)) abort_worker(parts, as.integer(names(round$errors)), unlist(round$errors))
  if (length(round$late)) abort_worker_timeout(parts, round$late, timeout, what)
  results <- vector("list", length(args))
  for (j in active) results[jobs[[j]]] <- round$values[[j]]
  results
}

# Sends fun(node_args[[j]]) to every node j of `nodes` and waits, at most `timeout` seconds in
# all, for the replies. Replies carry the round's id: a late reply to an earlier round that
# timed out (a worker that was frozen and resumed) is recognised and dropped, so the
# connection stays usable. Returns the values (by node), error messages and the late nodes.
# A frozen worker stops reading its socket, and a message larger than the socket buffers would
# then block the send itself, beyond any timeout: such a message goes to a worker only once it
# has answered a small ping (within the same deadline); the others get theirs at once.
cluster_round <- function(cl, nodes, fun, node_args, timeout) {
  deadline <- elapsed_seconds() + timeout
  ids <- c(ping = new_id("ping"), call = new_id("round"))
  tagged <- remote_function(function(id, fun, arg) list(id = id, value = fun(arg)))
  ping <- remote_function(function(arg) NULL)
  big <- vapply(node_args[nodes], function(a) length(serialize(a, NULL)) > 2^16, logical(1))
  state <- stats::setNames(ifelse(big, "ping", "call"), nodes)
  values <- vector("list", length(cl))
  errors <- list()
  send <- function(j, what) {
    args <- if (what == "ping") list(ids[["ping"]], ping, NULL) else list(ids[["call"]], fun, node_args[[j]])
    tryCatch({ cluster_send(cl[[j]], tagged, args); NULL }, error = function(e) conditionMessage(e))
  }
  for (j in nodes) errors[[as.character(j)]] <- send(j, state[[as.character(j)]])
  pending <- setdiff(nodes, as.integer(names(errors)))
  while (length(pending)) {
    left <- deadline - elapsed_seconds()
    ready <- ready_nodes(cl, pending, max(0, left))
    if (!length(ready) && left <= 0) break
    for (j in ready) {
      key <- as.character(j)
      reply <- tryCatch(cluster_receive(cl[[j]]), error = function(e) e)
      if (inherits(reply, "error") || inherits(reply, "try-error")) {
        errors[[key]] <- if (inherits(reply, "error")) conditionMessage(reply) else as.character(reply)
      } else if (!identical(reply$id, ids[[state[[key]]]])) {
        next  # stale reply of an earlier round
      } else if (state[[key]] == "ping") {
        state[[key]] <- "call"
        errors[[key]] <- send(j, "call")
        if (is.null(errors[[key]])) next
      } else {
        values[[j]] <- reply$value
      }
      pending <- setdiff(pending, j)
    }
  }
  list(values = values, errors = errors, late = pending)
}

cluster_send <- function(node, fun, args) {
  utils::getFromNamespace("sendCall", "parallel")(node, fun, args)
}

cluster_receive <- function(node) utils::getFromNamespace("recvResult", "parallel")(node)

elapsed_seconds <- function() proc.time()[["elapsed"]]

# The nodes whose reply can be read now, waiting at most `wait` seconds (in slices of at most
# a second, so that an interrupt is honoured). A node without a socket connection cannot be
# watched: it is read (blocking) as parallel would.
ready_nodes <- function(cl, nodes, wait) {
  cons <- lapply(nodes, function(j) cl[[j]]$con)
  if (!all(vapply(cons, inherits, logical(1), "sockconn"))) return(nodes)
  nodes[socketSelect(cons, write = FALSE, timeout = min(wait, 1))]
}

unresponsive_nodes <- function(parts) {
  if (is.null(parts$health)) integer() else as.integer(parts$health$late %||% integer())
}

set_unresponsive <- function(parts, late, asked) {
  if (is.null(parts$health)) return(invisible())
  parts$health$late <- union(setdiff(unresponsive_nodes(parts), asked), late)
  invisible()
}

worker_label <- function(parts, nodes) {
  paste0("worker ", nodes, if (!is.null(parts$pids)) paste0(" (pid ", parts$pids[nodes], ")"),
         " holding partition", ifelse(lengths(split(parts$node, parts$node)[as.character(nodes)]) > 1L, "s ", " "),
         vapply(nodes, function(j) paste(parts$labels[parts$node == j], collapse = ", "), character(1)))
}

abort_worker <- function(parts, nodes, messages) {
  who <- worker_label(parts, nodes)
  cli::cli_abort(c("Cluster {who} did not answer: it has died or lost its connection.",
                   "x" = paste(unique(messages), collapse = "; "),
                   "i" = "The data on that worker are lost; start a new cluster and call {.fn cohort_partitions} again."),
                 class = "rwe_worker_error", call = NULL)
}

abort_worker_timeout <- function(parts, nodes, timeout, what) {
  who <- worker_label(parts, nodes)
  cli::cli_abort(c("Cluster {who} did not answer within {timeout} second{?s} ({what}).",
                   "x" = "It may be frozen (stopped, swapping) or unreachable.",
                   "i" = "Raise {.arg timeout} (option {.code rwecohort.worker_timeout}) for slow workers, or restart the cluster and call {.fn cohort_partitions} again."),
                 class = c("rwe_worker_timeout", "rwe_worker_error"), call = NULL)
}

# Runs on the site (worker or this process): one handler call per partition of the message;
# failures come back as data (with their condition class), never as a remote crash.
site_dispatch <- function(msg, store = site_store) {
  lapply(seq_along(msg$keys), function(i) {
    key <- msg$keys[i]
    tryCatch({
      if (msg$what == "load") {
        store[[key]] <- site_load(msg$args[[i]]$source)
        return(list(nrow = nrow(store[[key]]$data)))
      }
      entry <- store[[key]]
      if (is.null(entry)) {
        cli::cli_abort("Partition {key} is not loaded on this worker.", class = "rwe_worker_error")
      }
      site_handlers[[msg$what]](entry, msg$args[[i]])
    }, error = function(e) {
      structure(list(message = conditionMessage(e),
                     class = setdiff(class(e), c("error", "condition", "rlang_error"))),
                class = "rwe_site_error")
    })
  })
}

site_load <- function(source) {
  data <- if (is.data.frame(source)) source else if (grepl("\\.rds$", source, ignore.case = TRUE)) {
    readRDS(source)
  } else if (grepl("\\.csv$", source, ignore.case = TRUE)) {
    utils::read.csv(source, stringsAsFactors = FALSE)
  } else {
    cli::cli_abort("Source {.file {source}} is neither an .rds nor a .csv file.",
                   class = "rwe_bad_input")
  }
  if (!is.data.frame(data)) {
    cli::cli_abort("The source did not hold a data frame.", class = "rwe_bad_input")
  }
  entry <- new.env(parent = emptyenv())
  entry$data <- data
  entry$fits <- list()
  entry
}

# What a site can be asked to do. Each handler gets the partition's entry (its data and the
# state of running fits) and the request's arguments; it returns aggregates only.
site_handlers <- list(
  describe = function(entry, args) site_describe(entry$data, args$formula, args$weights),
  cox_setup = function(entry, args) {
    parts <- cox_site_frame(entry$data, args$spec)
    entry$fits[[args$fit]] <- list(parts = parts)
    cox_setup_from_frame(parts, distinct = !isFALSE(args$timefix))
  },
  cox_design = function(entry, args) {
    grid <- args$grid
    parts <- site_apply_timefix(entry$fits[[args$fit]]$parts, grid$timefix, args$label)
    if (args$by_site && !is.null(parts)) {
      own <- cox_setup_from_frame(parts)
      local <- build_grid(list(own$strata), list(own$event_times))
      grid[names(local)] <- local
    }
    design <- cox_site_design(parts, grid, if (!args$by_site) args$min_cell, args$label)
    entry$fits[[args$fit]] <- list(design = design, ngrid = length(grid$time),
                                   p = length(grid$columns))
    # sum w |x - centre| per column: the coordinator's scales (as coxph's)
    list(ngrid = length(grid$time),
         deviation = if (is.null(design)) numeric(length(grid$columns)) else
           colSums(abs(design$x) * design$weights))
  },
  cox_sums = function(entry, args) {
    fit <- entry$fits[[args$fit]]
    cox_design_round1(fit$design, args$beta, fit$ngrid, fit$p)
  },
  cox_info = function(entry, args) {
    fit <- entry$fits[[args$fit]]
    cox_design_round2(fit$design, args$beta, args$request, fit$p)
  },
  cox_local = function(entry, args) {
    fit <- entry$fits[[args$fit]]
    p <- fit$p
    if (is.null(fit$design) || !any(fit$design$status > 0)) {
      return(list(loglik = 0, score = numeric(p), imat = matrix(0, p, p)))
    }
    r1 <- cox_pooled_terms(unclass(cox_design_round1(fit$design, args$beta, fit$ngrid, p)), args$ties)
    info <- cox_design_round2(fit$design, args$beta, r1$request, p)$info
    list(loglik = r1$loglik, score = r1$score, imat = info - r1$aat)
  },
  km_setup = function(entry, args) {
    parts <- site_frame(entry$data, args$spec)
    entry$fits[[args$fit]] <- list(parts = parts, spec = args$spec)
    counts_setup(parts, args$spec, args$groups, args$all_times)
  },
  counts = function(entry, args) {
    fit <- entry$fits[[args$fit]]
    counts_site(fit$parts, fit$spec, args$grid, args$group_keys, args$groups,
                args$min_cell, args$label)
  },
  drop = function(entry, args) {
    entry$fits[[args$fit]] <- NULL
    TRUE
  }
)

# Traffic bookkeeping of one fit: bytes out and back per round.
traffic_recorder <- function() {
  rows <- list()
  evaluation <- 0L
  list(
    add = function(round, exchange) {
      if (round %in% c("sums", "local")) evaluation <<- evaluation + 1L
      rows[[length(rows) + 1L]] <<- data.frame(
        evaluation = if (round %in% c("sums", "local", "information")) evaluation else 0L,
        round = round, bytes_sent = sum(exchange$sent), bytes_received = sum(exchange$received))
    },
    table = function() do.call(rbind, rows)
  )
}

check_partitions <- function(partitions, call = rlang::caller_env()) {
  check_inherits(partitions, "rwe_partitions", what = "a result of {.fn cohort_partitions}",
                 call = call)
}

# describe -> spec, shared by the three partitioned verbs.
partitioned_spec <- function(formula, partitions, weights, traffic) {
  formula_variables(formula, weights, call = rlang::caller_env())
  environment(formula) <- asNamespace("rwecohort")
  k <- length(partitions$keys)
  ex <- partition_exchange(partitions, "describe",
                           rep(list(list(formula = formula, weights = weights)), k))
  traffic$add("describe", ex)
  spec <- partition_spec(stats::setNames(ex$results, partitions$labels), formula, weights)
  spec
}

drop_fit <- function(partitions, fit) {
  try(partition_exchange(partitions, "drop", rep(list(list(fit = fit)), length(partitions$keys))),
      silent = TRUE)
}


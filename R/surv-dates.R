# Time to event from calendar dates, the form in which registries and CDISC ADaM data sets
# (STARTDT, ADT) record it. One convention, stated everywhere: a year is 365.25 days, a
# month 365.25 / 12 = 30.4375 days, a week 7 days (the convention of SAS's and R's common
# survival macros, and of the ADaM "months = days / 30.4375" derivation).

days_per_unit <- c(days = 1, weeks = 7, months = 365.25 / 12, years = 365.25)

match_unit <- function(unit, call = rlang::caller_env()) {
  match_choice(unit, names(days_per_unit), arg = "unit", call = call)
}

#' Time between two dates, in days, weeks, months or years
#'
#' `time_between()` converts the interval from `start` to `end` (`Date` or `POSIXct`
#' vectors, or haven-read SAS dates) to a number of `unit`s: a week is 7 days, a month
#' 365.25 / 12 = 30.4375 days and a year 365.25 days. `surv_from_dates()` adds a time and a
#' 0/1 event column to a data frame from a start date, an event date (missing when no event
#' occurred) and a censoring date (the last date known event-free).
#'
#' @param start,end Vectors of class `Date` or `POSIXct` (recycled). `end` before `start`
#'   is an error naming the rows; missing dates give `NA`.
#' @param unit `"days"`, `"weeks"`, `"months"` or `"years"`.
#' @return `time_between()`: a numeric vector with attribute `unit`. `surv_from_dates()`:
#'   `data` with the columns `time` and `event` added (names set by `time_col`, `event_col`),
#'   `time` carrying the variable label "Time (<unit>)".
#' @examples
#' time_between(as.Date("2024-01-01"), as.Date(c("2024-07-01", "2025-01-01")), "months")
#' d <- data.frame(start = as.Date(c("2024-01-01", "2024-02-01")),
#'                 progression = as.Date(c("2024-06-15", NA)),
#'                 last_seen = as.Date(c("2024-09-01", "2024-12-01")))
#' surv_from_dates(d, "start", "progression", "last_seen", unit = "months")
#' @export
time_between <- function(start, end, unit = c("days", "weeks", "months", "years")) {
  unit <- match_unit(unit)
  check_date(start, "start")
  check_date(end, "end")
  days <- as.numeric(difftime(as.POSIXct(end), as.POSIXct(start), units = "days"))
  bad <- which(!is.na(days) & days < 0)
  if (length(bad)) abort_rows("end", "is before `start`", bad)
  out <- days / days_per_unit[[unit]]
  attr(out, "unit") <- unit
  out
}

#' @rdname time_between
#' @param data A data frame, one row per patient.
#' @param start_date,event_date,censor_date Column names of `data`: the start of follow-up,
#'   the event date (`NA` when there was no event) and the censoring date (used when there was
#'   no event).
#' @param time_col,event_col Names of the columns to add.
#' @export
surv_from_dates <- function(data, start_date, event_date, censor_date,
                            unit = c("days", "weeks", "months", "years"),
                            time_col = "time", event_col = "event") {
  unit <- match_unit(unit)
  check_data_frame(data)
  check_columns(data, c(start_date, event_date, censor_date))
  ev_date <- data[[event_date]]
  event <- !is.na(ev_date)
  end <- ev_date
  end[!event] <- data[[censor_date]][!event]
  time <- time_between(data[[start_date]], end, unit)
  attr(time, "unit") <- NULL
  attr(time, "label") <- sprintf("Time (%s)", unit)
  data[[time_col]] <- time
  data[[event_col]] <- as.integer(event)
  data
}

check_date <- function(x, arg, call = rlang::caller_env()) {
  check_inherits(x, c("Date", "POSIXct"), arg, what = "a {.cls Date} or {.cls POSIXct} vector",
                 call = call)
}

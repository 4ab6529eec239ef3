# Refusing arguments that S3 methods would otherwise swallow through `...`.

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

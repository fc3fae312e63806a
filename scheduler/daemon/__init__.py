"""The long-running service: builds the real clock, HTTP client and engine (and nothing else
does), runs ticks on a schedule, reloads on SIGHUP, stops cleanly on SIGTERM."""

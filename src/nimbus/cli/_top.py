"""`nimbus top`: a live table of functions (invocations and errors per second, throttles, cold starts, how many run
now, p50/p99), refreshed every second from the server's signed figures route (`/_nimbus/function-figures`)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from nimbus.cli._client import DEFAULT_ENDPOINT, EndpointOpt, RegionOpt, nimbus_get, out

FIGURES = "/_nimbus/function-figures"


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f} ms"


def _rate(value: float | None) -> str:
    """A rate per second; none on the first read (and 0 after a restart reset the totals)."""
    return "-" if value is None else f"{max(0.0, value):.1f}"


def table(now: dict[str, Any], before: dict[str, Any] | None, seconds: float) -> Table:
    """The functions, busiest first: rates from two reads `seconds` apart (totals alone on the first read)."""
    previous = {f["FunctionName"]: f for f in (before or {}).get("Functions", [])}
    window = now.get("PercentileWindowMinutes", 5)
    count = len(now["Functions"])
    grid = Table(title=f"nimbus top: {count} function{'' if count == 1 else 's'}", title_justify="left", expand=False)
    for header in ("function", "inv/s", "err/s", "invocations", "errors", "throttles", "cold starts", "running",
                   f"p50 ({window}m)", f"p99 ({window}m)"):  # fmt: skip
        grid.add_column(header, justify="left" if header == "function" else "right", no_wrap=True)
    rows: list[tuple[float | None, float | None, dict[str, Any]]] = []
    for f in now["Functions"]:
        old = previous.get(f["FunctionName"])
        if old and seconds > 0:
            rows.append(((f["Invocations"] - old["Invocations"]) / seconds, (f["Errors"] - old["Errors"]) / seconds, f))
        else:
            rows.append((None, None, f))
    rows.sort(key=lambda row: (-(row[0] or 0.0), -row[2]["Invocations"], row[2]["FunctionName"]))
    for inv_rate, err_rate, f in rows:
        grid.add_row(
            f["FunctionName"], _rate(inv_rate), _rate(err_rate), str(f["Invocations"]),
            f"[red]{f['Errors']}[/red]" if f["Errors"] else "0", str(f["Throttles"]), str(f["ColdStarts"]),
            str(f["ConcurrentExecutions"]), _ms(f["DurationP50"]), _ms(f["DurationP99"]),
        )  # fmt: skip
    return grid


def top(
    interval: Annotated[float, typer.Option("--interval", "-n", help="Seconds between refreshes.", min=0.2)] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="Print the table once and exit (for scripts).")] = False,
    endpoint_url: EndpointOpt = DEFAULT_ENDPOINT,
    region: RegionOpt = None,
) -> None:
    """A live table of every function's invocations, errors, concurrency and p99, refreshed every second until
    Ctrl-C. Counts are since the server started; rates are per second between two refreshes."""
    before, then = None, time.monotonic()
    now = nimbus_get(endpoint_url, region, FIGURES)
    if once:
        out.print(table(now, None, 0))
        return
    try:
        with Live(table(now, None, 0), console=out, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                before, now = now, nimbus_get(endpoint_url, region, FIGURES)
                at = time.monotonic()
                live.update(table(now, before, at - then), refresh=True)
                then = at
    except KeyboardInterrupt:
        pass

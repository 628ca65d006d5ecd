"""`stats`: docker's table of CPU %, memory, network and pids per container, live or once."""

from __future__ import annotations

import time

import click


def _cpu_percent(prev: dict, cur: dict) -> float:
    cpu = cur["cpu_stats"]["cpu_usage"]["total_usage"] - prev["cpu_stats"]["cpu_usage"]["total_usage"]
    system = cur["cpu_stats"]["system_cpu_usage"] - prev["cpu_stats"]["system_cpu_usage"]
    if cpu <= 0 or system <= 0:
        return 0.0
    return cpu / system * cur["cpu_stats"]["online_cpus"] * 100.0


def _row(c, prev: dict, cur: dict, no_trunc: bool) -> dict:
    from dockyard.cli.formatting import human_size

    def binary(n: float) -> str:
        for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
            if n < 1024 or unit == "TiB":
                return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
            n /= 1024
        return ""

    mem = cur["memory_stats"]
    rx = sum(v["rx_bytes"] for v in cur["networks"].values())
    tx = sum(v["tx_bytes"] for v in cur["networks"].values())
    pct = mem["usage"] / mem["limit"] * 100 if mem["limit"] else 0.0
    return {"ID": c.id if no_trunc else c.short_id, "Container": c.short_id, "Name": c.name,
            "CPUPerc": f"{_cpu_percent(prev, cur):.2f}%", "MemUsage": f"{binary(mem['usage'])} / {binary(mem['limit'])}",
            "MemPerc": f"{pct:.2f}%", "NetIO": f"{human_size(rx)} / {human_size(tx)}", "BlockIO": "0B / 0B",
            "PIDs": str(cur["pids_stats"]["current"])}


def show(engine, names, *, all_: bool, stream: bool, no_trunc: bool, fmt: str | None) -> None:
    from dockyard.cli.formatting import render
    svc = engine.containers
    containers = [svc.get(n) for n in names] if names else svc.list(all=all_)
    headers = {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
               "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
               "PIDs": "PIDS"}
    default = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
    prev = {c.id: svc.stats(c.id) for c in containers}
    while True:
        time.sleep(0.5 if not stream else 1.0)
        rows = []
        for c in containers:
            cur = svc.stats(c.id)
            rows.append(_row(svc.get(c.id), prev[c.id], cur, no_trunc))
            prev[c.id] = cur
        out = render(fmt, rows, default, headers=headers)
        if stream:
            click.echo("\x1b[2J\x1b[H", nl=False)
        click.echo(out, nl=not out.endswith("\n"))
        if not stream:
            return

#!/usr/bin/env python3
"""The tables of docs/experiment.md ("Where does OS help?") from the sweeps' summary.json files.

    scripts/ablation_tables.py screen   [runs/ablation/screen/summary.json]
    scripts/ablation_tables.py scarcity [runs/ablation/scarcity/summary.json]

Markdown on standard output. Differences are configuration − baseline (paired over seeds, 95%
bootstrap interval over test images, as `orthocxr sweep` computed them); bold where the interval leaves
out zero.
"""
import json
import sys


def settings(row):
    return {s["key"]: s["value"] for s in row["settings"]}


def statistic(row, metric, scale=1.0, digits=2):
    value = row["metrics"].get(metric)
    if value is None:
        return "–"
    return f"{value['mean'] * scale:.{digits}f} ± {value['standardDeviation'] * scale:.{digits}f}"


def difference(row, metric, scale=1.0, digits=2):
    value = row["differences"].get(metric)
    if value is None:
        return "—"
    text = f"{value['value'] * scale:+.{digits}f} [{value['low'] * scale:+.{digits}f}, {value['high'] * scale:+.{digits}f}]"
    return f"**{text}**" if value["low"] > 0 or value["high"] < 0 else text


def screen(summary):
    def label(row):
        s = settings(row)
        name = "baseline" if s["lambda"] == "0" else f"OS `{s.get('os-variant', 'batch')}` λ {s['lambda']}"
        return name, "off" if s.get("no-augmentation") == "true" else "on"

    print("| configuration | augmentation | accuracy (%) | macro-F1 (%) | ECE after T | ECE before T | NLL "
          "| Δ accuracy (points) | Δ macro-F1 (points) | Δ ECE after T | Δ NLL |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in sorted(summary["rows"], key=lambda r: label(r)[1] != "on"):
        name, augmentation = label(row)
        print(f"| {name} | {augmentation} | {statistic(row, 'accuracy', 100)} | {statistic(row, 'macro-F1', 100)} "
              f"| {statistic(row, 'ECE (15 bins, L1)', 1, 4)} | {statistic(row, 'ECE before calibration', 1, 4)} "
              f"| {statistic(row, 'NLL', 1, 3)} | {difference(row, 'accuracy', 100)} | {difference(row, 'macro-F1', 100)} "
              f"| {difference(row, 'ECE (15 bins, L1)', 1, 4)} | {difference(row, 'NLL', 1, 3)} |")


def scarcity(summary):
    rows = {row["name"]: row for row in summary["rows"]}
    print("| task | training images | seeds | baseline accuracy (%) | OS accuracy (%) | Δ accuracy (points) "
          "| Δ macro-F1 (points) | baseline ECE | OS ECE | Δ ECE | Δ NLL |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for task, name in [("three-class", "three classes"), ("covid-vs-normal", "COVID-19 vs normal")]:
        for fraction in ["0.1", "0.25", "1"]:
            pair = [r for r in summary["rows"]
                    if settings(r).get("label-map") == task and settings(r).get("train-fraction") == fraction]
            base = next((r for r in pair if settings(r)["lambda"] == "0"), None)
            os_row = next((r for r in pair if settings(r)["lambda"] != "0"), None)
            if base is None or os_row is None:
                continue
            share = f"{float(fraction) * 100:.0f}%"
            print(f"| {name} | {share} | {len(os_row['pairedSeeds'])} | {statistic(base, 'accuracy', 100)} "
                  f"| {statistic(os_row, 'accuracy', 100)} | {difference(os_row, 'accuracy', 100)} "
                  f"| {difference(os_row, 'macro-F1', 100)} | {statistic(base, 'ECE (15 bins, L1)', 1, 4)} "
                  f"| {statistic(os_row, 'ECE (15 bins, L1)', 1, 4)} | {difference(os_row, 'ECE (15 bins, L1)', 1, 4)} "
                  f"| {difference(os_row, 'NLL', 1, 3)} |")


if __name__ == "__main__":
    step = sys.argv[1] if len(sys.argv) > 1 else "screen"
    path = sys.argv[2] if len(sys.argv) > 2 else f"runs/ablation/{step}/summary.json"
    {"screen": screen, "scarcity": scarcity}[step](json.load(open(path)))

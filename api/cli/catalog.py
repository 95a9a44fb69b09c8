"""``osler kinds [KIND]``, ``osler datasets``, ``osler models [ID]``: what the gateway offers
and what the caller has."""

from __future__ import annotations

import argparse
import json
from typing import Any

from osler.api.cli.tables import print_json, print_table
from osler.api.client import OslerClient
from osler.workers.settings import Settings


def _type_of(spec: dict[str, Any]) -> str:
    if "enum" in spec:
        return "|".join(str(v) for v in spec["enum"])
    if "type" in spec:
        return spec["type"] if isinstance(spec["type"], str) else "|".join(spec["type"])
    return "any"


def _range(spec: dict[str, Any]) -> str:
    low, high = spec.get("minimum"), spec.get("maximum")
    if low is None and high is None:
        return ""
    return f"{'' if low is None else low}..{'' if high is None else high}"


def cmd_kinds(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    if args.kind is None:
        kinds = client.get("/v1/kinds")["kinds"]
        if args.json:
            print_json(kinds)
        else:
            print_table(("KIND", "QUEUE", "DATASETS", "SUMMARY"), [
                (k["name"], k["queue"], ",".join(k["dataset_params"]), k["summary"])
                for k in kinds])
        return 0
    kind = client.get(f"/v1/kinds/{args.kind}")
    if args.json:
        print_json(kind)
        return 0
    schema = kind["params_schema"]
    required = set(schema.get("required", []))
    print(f"{kind['name']}: {kind['summary']}")
    if kind["dataset_params"]:
        inputs = " ".join(f"--input {name}=FILE" for name in kind["dataset_params"])
        print(f"inputs: {inputs}")
    print()
    rows = []
    for name, spec in schema.get("properties", {}).items():
        role = ("dataset" if name in kind["dataset_params"]
                else "model" if name in kind["model_params"] else "")
        default = json.dumps(spec["default"]) if "default" in spec else ""
        rows.append((name + ("*" if name in required else ""), role or _type_of(spec),
                     _range(spec), default, spec.get("description", "")))
    print_table(("PARAM (*required)", "TYPE", "RANGE", "DEFAULT", "DESCRIPTION"), rows)
    return 0


def cmd_datasets(args: argparse.Namespace, settings: Settings) -> int:
    datasets = OslerClient.from_environment(settings).get("/v1/datasets")["datasets"]
    if args.json:
        print_json(datasets)
    else:
        print_table(("ID", "NAME", "BYTES", "SHA256", "CREATED"), [
            (d["id"], d["name"], d["size"], d["sha256"][:12], d["created_at"]) for d in datasets])
    return 0


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    if args.model_id is not None:
        model = client.get(f"/v1/models/{args.model_id}")
        if args.json:
            print_json(model)
            return 0
        print_table(("FIELD", "VALUE"), [
            (key, json.dumps(model[key]) if isinstance(model[key], dict | list) else model[key])
            for key in ("id", "kind", "version", "framework", "input_shape", "class_names",
                        "metrics", "training_job_id", "dataset_sha256", "created_at")])
        return 0
    models = client.get("/v1/models")["models"]
    if args.json:
        print_json(models)
    else:
        print_table(("ID", "KIND", "VERSION", "ACCURACY", "CREATED"), [
            (m["id"], m["kind"], m["version"], m["metrics"].get("accuracy", ""), m["created_at"])
            for m in models])
    return 0

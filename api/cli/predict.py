"""``osler predict MODEL --image F | --text T | --word W``: one synchronous inference."""

from __future__ import annotations

import argparse
import base64
from pathlib import Path
from typing import Any

from osler.api.cli.errors import CommandError
from osler.api.cli.tables import print_json, print_table
from osler.api.client import OslerClient
from osler.workers.settings import Settings

TEXT_FIELDS = {"sequence-classifier": "texts", "seq2seq": "sources"}


def _request(model: dict[str, Any], args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The operation and body for ``model``'s kind, from the one input option given."""
    kind = model["kind"]
    if args.image and kind == "image-classifier":
        images = []
        for name in args.image:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
            images.append(base64.b64encode(path.read_bytes()).decode())
        return "predict", {"images": images, "explain": False}
    if args.text and kind in TEXT_FIELDS:
        return "predict", {TEXT_FIELDS[kind]: args.text}
    if args.word and kind == "word2vec":
        return "similar", {"word": args.word, "topn": args.top}
    wanted = {"image-classifier": "--image FILE", "word2vec": "--word WORD"}.get(kind, "--text T")
    raise CommandError(f"model {model['id']} is a {kind}: give it {wanted}")


def cmd_predict(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    model = client.get(f"/v1/models/{args.model_id}")
    operation, body = _request(model, args)
    answer = client.infer(model["id"], operation, body)
    if args.json:
        print_json(answer)
    elif operation == "similar":
        print_table(("WORD", "SIMILARITY"), [(hit["word"], f"{hit['similarity']:.3f}")
                                        for hit in answer["similar"]])
    else:
        inputs = args.image or args.text
        for source, prediction in zip(inputs, answer["predictions"], strict=True):
            if isinstance(prediction, str):  # seq2seq
                print(f"{source}\t{prediction}")
                continue
            ranked = sorted(prediction["probabilities"].items(), key=lambda kv: -kv[1])
            top = ", ".join(f"{label} {p:.3f}" for label, p in ranked[:args.top])
            print(f"{source}\t{prediction['label']}\t({top})")
    return 0

"""repro extractor: train the digits classifier (a DVC stage) and describe extractors."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("extractor", help="feature extractors for the metrics: train digits-cnn, show info")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    t = actions.add_parser("train", help="train (deterministically) and cache an extractor; prints accuracy and sha256")
    t.add_argument("name", choices=["digits-cnn"], help="only digits-cnn is trained here")
    t.add_argument("--out", default=None, help="weights file to write (default: the content-addressed cache)")
    t.set_defaults(func=run_train)
    i = actions.add_parser("info", help="load an extractor and print its name, dimensions and weights sha256")
    i.add_argument("name", help="extractor name (digits-cnn, inception-v3-fid)")
    i.add_argument("--weights", default=None, help="weights file (default: the extractor's usual location)")
    i.set_defaults(func=run_info)


def run_train(args) -> int:
    from repro.metrics.extractors.digits_cnn import train_and_save

    path, sha, acc = train_and_save(args.out)
    print(json.dumps({"name": args.name, "path": str(path), "sha256": sha, "test_accuracy": acc}, indent=2))
    return 0


def run_info(args) -> int:
    from repro.metrics.extractors import get

    options = {"weights": args.weights} if args.weights else {}
    print(json.dumps(get(args.name, **options).describe(), indent=2))
    return 0

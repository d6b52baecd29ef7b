"""Runs in TensorZero's own environment: an embedded gateway from a compiled config.

Reads one JSON array of [intent, classification, marker] per line on stdin and
answers one JSON array of [status, None] per line (prefixed, see PREFIX). It is the caller the
TensorZero target expects: it picks the function from routectl-lanes.json.
"""

import json
import sys

from tensorzero import TensorZeroError, TensorZeroGateway

# TensorZero logs to stdout too: answers are the lines with this prefix.
PREFIX = "@routectl "


def main() -> None:
    config, lanes_file = sys.argv[1], sys.argv[2]
    with open(lanes_file) as handle:
        lanes = json.load(handle)
    intents, classes = set(lanes["intents"]), set(lanes["classifications"])
    table = {(s["intent"], s["classification"]): s["function"] for s in lanes["selectors"]}
    gateway = TensorZeroGateway.build_embedded(config_file=config)
    print(PREFIX + json.dumps("ready"), flush=True)
    for line in sys.stdin:
        out = []
        for intent, classification, marker in json.loads(line):
            key = (
                intent if intent in intents else None,
                classification if classification in classes else None,
            )
            function = table[key]
            if function is None:
                out.append([400, None])
                continue
            try:
                response = gateway.inference(
                    function_name=function,
                    input={"messages": [{"role": "user", "content": marker}]},
                )
                # Which provider answered is in the upstream records, not the response.
                assert response.variant_name
                out.append([200, None])
            except TensorZeroError as exc:
                out.append([getattr(exc, "status_code", 500) or 500, None])
        print(PREFIX + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

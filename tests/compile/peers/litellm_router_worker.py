"""Runs in LiteLLM's own environment: ``litellm.Router`` in process, from a compiled config.

Reads one JSON array of [intent, classification, marker] per line on stdin and
answers, after PREFIX, one JSON array of [status, answering model or None]. The
lane and arm come from the compiled hook module, as the proxy's hook picks them.
"""

import asyncio
import json
import sys

import litellm
import yaml

PREFIX = "@routectl "


def main() -> None:
    directory = sys.argv[1]
    sys.path.insert(0, directory)
    import routectl_lanes

    with open(f"{directory}/config.yaml") as handle:
        config = yaml.safe_load(handle)
    settings = dict(config["router_settings"])
    router = litellm.Router(model_list=config["model_list"], **settings)

    async def one(intent, classification, marker):
        lane, _reason = routectl_lanes.select(intent, classification)
        if lane is None:
            return [400, None]
        try:
            response = await router.acompletion(
                model=routectl_lanes.choose_group(lane),
                messages=[{"role": "user", "content": marker}],
            )
        except Exception as exc:  # noqa: BLE001 (the status is the answer)
            return [getattr(exc, "status_code", 500) or 500, None]
        return [200, routectl_lanes.DEPLOYMENTS.get(response._hidden_params.get("model_id"))]

    async def batch(items):
        limit = asyncio.Semaphore(16)

        async def bounded(item):
            async with limit:
                return await one(*item)

        return await asyncio.gather(*(bounded(item) for item in items))

    loop = asyncio.new_event_loop()
    print(PREFIX + json.dumps("ready"), flush=True)
    for line in sys.stdin:
        out = loop.run_until_complete(batch(json.loads(line)))
        print(PREFIX + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

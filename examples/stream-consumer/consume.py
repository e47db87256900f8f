"""Prints what kakao-webhooks publishes into a Redis stream (EVENT_STREAM_URL).

    pip install -r examples/stream-consumer/requirements.txt
    python examples/stream-consumer/consume.py --url redis://127.0.0.1:6379/0 --stream kakao

Each entry has the fields id (the notification's id: dedupe on it, delivery
is at least once), type (user.unlinked, channel.added, ...) and body (the
notification's JSON, carrying the same id). With --group, entries are read
through a consumer group and acknowledged after they are handled, so a
restarted consumer goes on where it stopped.
"""

import argparse
import json

import redis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--stream", default="kakao")
    parser.add_argument("--group", help="a consumer group (created if missing)")
    parser.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")
    args = parser.parse_args()

    client = redis.Redis.from_url(args.url, decode_responses=True)
    if args.group:
        try:
            client.xgroup_create(args.stream, args.group, id="0", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise
    seen = 0
    last = "0"
    while args.count == 0 or seen < args.count:
        if args.group:
            batches = client.xreadgroup(args.group, "consumer-1", {args.stream: ">"}, block=5000, count=100)
        else:
            batches = client.xread({args.stream: last}, block=5000, count=100)
        for _stream, entries in batches or []:
            for entry_id, fields in entries:
                body = json.loads(fields["body"])
                print(f"{fields['id']} {fields['type']} {json.dumps(body['data'], ensure_ascii=False)}", flush=True)
                if args.group:
                    client.xack(args.stream, args.group, entry_id)
                last = entry_id
                seen += 1


if __name__ == "__main__":
    main()

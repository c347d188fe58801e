#!/usr/bin/env python3
"""Write the signed EventSub sample events in events/ (Lambda Function URL requests, payload
format 2.0), or print one of them re-signed for now.

  scripts/sign-events.py               rewrite events/eventsub-*.json (fixed timestamps; the
                                       tests run them on a clock set to those timestamps)
  scripts/sign-events.py --now NAME    print events/NAME.json with a fresh message id and
                                       timestamp, signed again: what `make invoke-NAME` sends to a
                                       running function, which refuses anything over 10 minutes old

Every sample is signed with the sample secret below. It is not a secret: configure it as
HILITE_TWITCH__EVENTSUB_SECRET only for local tests (`make watch`).

The signature is Twitch's: HMAC-SHA256 over message id + timestamp + raw body, sent as
"sha256=<hex>" (https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message).
"""
import datetime
import hashlib
import hmac
import json
import pathlib
import sys
import uuid

SAMPLE_SECRET = "hilite-sample-eventsub-secret"
EVENTS = pathlib.Path(__file__).resolve().parent.parent / "events"
BROADCASTER = "141981764"
CALLBACK = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/"


def subscription(sub_id, kind, status):
    return {
        "id": sub_id,
        "status": status,
        "type": kind,
        "version": "1",
        "cost": 0,
        "condition": {"broadcaster_user_id": BROADCASTER},
        "transport": {"method": "webhook", "callback": CALLBACK},
        "created_at": "2026-11-01T10:11:12.634234626Z",
    }


# name -> (message type, message id, timestamp, body)
SAMPLES = {
    "eventsub-challenge": (
        "webhook_callback_verification",
        "e76c6bd4-55c9-4987-8304-da1588d8988b",
        "2026-11-20T19:58:01.000000000Z",
        {
            "challenge": "pogchamp-kappa-360noscope-vohiyo",
            "subscription": subscription(
                "f1c2a387-161a-49f9-a165-0f21d7a4e1c4",
                "stream.online",
                "webhook_callback_verification_pending",
            ),
        },
    ),
    "eventsub-stream-online": (
        "notification",
        "befa7b53-d79d-478f-86b9-120f112b044e",
        "2026-11-20T20:00:02.104325687Z",
        {
            "subscription": subscription(
                "f1c2a387-161a-49f9-a165-0f21d7a4e1c4", "stream.online", "enabled"
            ),
            "event": {
                "id": "9001",
                "broadcaster_user_id": BROADCASTER,
                "broadcaster_user_login": "cool_user",
                "broadcaster_user_name": "Cool_User",
                "type": "live",
                "started_at": "2026-11-20T20:00:00Z",
            },
        },
    ),
    "eventsub-stream-offline": (
        "notification",
        "3f0cf6c9-93ac-4a2b-8c3c-3ad1c1c6a0ff",
        "2026-11-20T23:30:05.871162520Z",
        {
            "subscription": subscription(
                "f1c2a387-161a-49f9-a165-0f21d7a4e1c5", "stream.offline", "enabled"
            ),
            "event": {
                "broadcaster_user_id": BROADCASTER,
                "broadcaster_user_login": "cool_user",
                "broadcaster_user_name": "Cool_User",
            },
        },
    ),
    "eventsub-revocation": (
        "revocation",
        "84c1e79a-2a4b-4c13-ba0b-4312293e9308",
        "2026-11-21T08:15:00.000000000Z",
        {
            "subscription": subscription(
                "f1c2a387-161a-49f9-a165-0f21d7a4e1c5",
                "stream.offline",
                "authorization_revoked",
            ),
        },
    ),
}


def function_url_request(message_type, message_id, timestamp, body):
    raw = json.dumps(body, separators=(",", ":"))
    mac = hmac.new(
        SAMPLE_SECRET.encode(), (message_id + timestamp + raw).encode(), hashlib.sha256
    )
    ts = datetime.datetime.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc
    )
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": CALLBACK.split("/")[2],
            "user-agent": "Go-http-client/1.1",
            "twitch-eventsub-message-id": message_id,
            "twitch-eventsub-message-retry": "0",
            "twitch-eventsub-message-signature": "sha256=" + mac.hexdigest(),
            "twitch-eventsub-message-timestamp": timestamp,
            "twitch-eventsub-message-type": message_type,
            "twitch-eventsub-subscription-type": body["subscription"]["type"],
            "twitch-eventsub-subscription-version": "1",
            "x-amzn-trace-id": "Root=1-6740a1b2-0123456789abcdef01234567",
            "x-forwarded-for": "34.216.10.5",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "domainName": CALLBACK.split("/")[2],
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz012345",
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "34.216.10.5",
                "userAgent": "Go-http-client/1.1",
            },
            "requestId": str(uuid.uuid5(uuid.NAMESPACE_URL, message_id)),
            "routeKey": "$default",
            "stage": "$default",
            "time": ts.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(ts.timestamp() * 1000),
        },
        "body": raw,
        "isBase64Encoded": False,
    }


def main(argv):
    if len(argv) == 3 and argv[1] == "--now":
        message_type, _, _, body = SAMPLES[argv[2]]
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
        json.dump(function_url_request(message_type, str(uuid.uuid4()), stamp, body), sys.stdout)
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    for name, sample in SAMPLES.items():
        path = EVENTS / f"{name}.json"
        path.write_text(json.dumps(function_url_request(*sample), indent=2) + "\n")
        print(f"wrote {path.relative_to(EVENTS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

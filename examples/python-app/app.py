"""A team's own app in Python, behind kakao-webhooks.

kakao-webhooks talks to Kakao (deadlines, callbacks, limits, signatures,
durability); this app only answers skill requests and bot events, and reads notifications.
Everything it receives is signed with Standard Webhooks and verified here
with the official `standardwebhooks` package: a request that does not verify
gets 401 and is ignored.
"""

import os

from fastapi import FastAPI, HTTPException, Request, Response
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["APP_SIGNING_SECRET"])
app = FastAPI()
# Notifications received so far (a real app would update its database).
received: list[dict] = []


async def verified(request: Request) -> dict:
    body = await request.body()
    try:
        return webhook.verify(body, dict(request.headers))
    except WebhookVerificationError as err:
        raise HTTPException(status_code=401, detail=str(err)) from err


@app.post("/skill")
async def skill(request: Request) -> dict:
    """SKILL_UPSTREAM_URL: the skill request exactly as OpenBuilder sent it."""
    skill_request = await verified(request)
    utterance = skill_request["userRequest"]["utterance"]
    text = f"파이썬 앱이 받았어요: {utterance}"
    return {"version": "2.0", "template": {"outputs": [{"simpleText": {"text": text}}]}}


@app.post("/bot")
async def bot(request: Request):
    """KAKAO_BOT_UPSTREAM_URL: a Bot API event {"op", "t", "d"}. A 200 with a
    SkillResponse is the reply (the service sends it through Kakao's callback
    API); 204 means no reply."""
    event = await verified(request)
    if event["t"] != "MESSAGE_CREATE":
        return Response(status_code=204)
    text = f"파이썬 봇이 받았어요: {event['d']['content']}"
    return {"version": "2.0", "template": {"outputs": [{"simpleText": {"text": text}}]}}


@app.post("/notify")
async def notify(request: Request) -> dict:
    """APP_NOTIFY_URL: {"type", "timestamp", "data"} for every applied change."""
    notification = await verified(request)
    received.append(notification)
    if notification["type"] == "user.unlinked":
        print(f"user {notification['data']['user_id']} left: erase what we keep about them")
    return {}


@app.get("/received")
async def received_so_far() -> list[dict]:
    """What arrived and verified (for the interoperability test)."""
    return received

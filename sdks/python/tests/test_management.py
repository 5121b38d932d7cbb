"""Policies, overrides, API keys, webhooks and the audit trail through both clients, against the real gateway."""

from __future__ import annotations

import uuid

import pytest

from agentgate import AsyncClient, AuthenticationError, BadRequestError, Client, NotFoundError, Policy

from .conftest import Gateway, Receiver


def test_policies_decide_simulate_and_backtest(admin: Client, action: str) -> None:
    rules = [{"match": {"action": action, "amount": {"$lte": 100}}, "decision": "auto_approve"}]
    policy = admin.create_policy("small " + action, rules, priority=5)
    assert isinstance(policy, Policy)
    assert (policy.name, policy.priority, policy.version, policy.enabled) == ("small " + action, 5, 1, True)
    assert policy.rules[0]["decision"] == "auto_approve"
    assert admin.get_policy(policy.id) == policy
    assert policy.id in {p.id for p in admin.iter_policies(page_size=1)}
    page = admin.list_policies(limit=1)
    assert page.limit == 1 and len(page) == 1 and page.total >= 1

    # The policy decides at once.
    small = admin.create_request(action, params={"amount": 50})
    assert small.status == "approved" and small.decided_by == "policy"
    assert small.policy_decision is not None and small.policy_decision.decision == "auto_approve"
    assert admin.create_request(action, params={"amount": 500}).status == "pending"

    simulated = admin.simulate_policies({"action": action, "params": {"amount": 1}})
    assert simulated["policies"] == "stored"
    assert simulated["results"][0]["decision"] == "auto_approve"
    assert simulated["results"][0]["matched"]["policyId"] == policy.id
    draft = admin.simulate_policies(
        requests=[{"action": action, "params": {"amount": 1}}],
        policies=[{"name": "deny all", "rules": [{"match": {"action": action}, "decision": "auto_deny"}]}],
    )
    assert draft["policies"] == "draft" and draft["results"][0]["decision"] == "auto_deny"
    backtest = admin.backtest_policies(
        [{"name": "deny all", "rules": [{"match": {"action": action}, "decision": "auto_deny"}]}], last=50
    )
    assert backtest["evaluated"] >= 2 and backtest["changed"] >= 1

    replaced = admin.replace_policy(policy.id, "small v2", rules, priority=6, enabled=False)
    assert (replaced.name, replaced.version, replaced.enabled, replaced.priority) == ("small v2", 2, False, 6)
    assert admin.create_request(action, params={"amount": 50}).status == "pending"

    # The gateway's validation message names the place.
    with pytest.raises(BadRequestError) as caught:
        admin.create_policy("bad", [{"match": {"n": {"$gtt": 1}}, "decision": "auto_deny"}])
    assert "rules[0].match.n" in caught.value.message

    assert admin.delete_policy(policy.id)["success"] is True
    with pytest.raises(NotFoundError):
        admin.get_policy(policy.id)
    with pytest.raises(NotFoundError):
        admin.delete_policy(policy.id)


def test_overrides_make_an_agent_ask(admin: Client, action: str) -> None:
    admin.create_policy("approve " + action, [{"match": {"action": action}, "decision": "auto_approve"}])
    agent = "agent-" + uuid.uuid4().hex[:8]
    override = admin.create_override(agent, action, reason="new agent", ttl_seconds=3600)
    assert (override.agent_id, override.tool_pattern, override.reason) == (agent, action, "new agent")
    assert override.expires_at is not None
    assert override.id in {o.id for o in admin.list_overrides()}
    assert admin.create_request(action, context={"agentId": agent}).status == "pending"
    assert admin.create_request(action, context={"agentId": "someone-else"}).status == "approved"
    assert admin.delete_override(override.id)["success"] is True
    assert admin.create_request(action, context={"agentId": agent}).status == "approved"


def test_api_keys_lifecycle(gateway: Gateway, admin: Client) -> None:
    name = "py-key-" + uuid.uuid4().hex[:8]
    created = admin.create_api_key(name, ["request:read"], rate_limit=1000)
    assert created.key.startswith("agk_") and created.name == name and created.rate_limit == 1000
    assert created.key not in repr(created), "the secret stays out of reprs and logs"
    listed = {k.id: k for k in admin.list_api_keys()}
    assert listed[created.id].scopes == ["request:read"] and listed[created.id].active

    with Client(gateway.url, created.key) as reader:
        assert reader.list_requests(limit=1).limit == 1

    updated = admin.update_api_key(created.id, name=name + "-2", scopes=["request:read", "request:create"])
    assert updated.name == name + "-2" and set(updated.scopes) == {"request:read", "request:create"}
    assert updated.rate_limit == 1000
    cleared = admin.update_api_key(created.id, clear_rate_limit=True)
    assert cleared.rate_limit is None
    limited = admin.update_api_key(created.id, rate_limit=50)
    assert limited.rate_limit == 50

    assert admin.revoke_api_key(created.id)["success"] is True
    revoked = {k.id: k for k in admin.list_api_keys()}[created.id]
    assert not revoked.active and revoked.revoked_at is not None
    with Client(gateway.url, created.key) as reader:
        with pytest.raises(AuthenticationError):
            reader.list_requests()
    with pytest.raises(NotFoundError):
        admin.update_api_key("no-such-key", name="x")


def test_webhooks_lifecycle(admin: Client, receiver: Receiver) -> None:
    created = admin.create_webhook(receiver.url, ["request.approved", "request.denied"])
    assert created.secret.startswith("whsec_") and created.enabled
    assert created.secret not in repr(created)
    assert created.id in {w.id for w in admin.list_webhooks()}

    result = admin.test_webhook(created.id)
    assert result.success and result.status == 200 and result.delivery_id
    test_delivery = receiver.next()
    assert test_delivery.headers.get("webhook-id") == result.delivery_id

    detail = admin.get_webhook(created.id)
    assert detail.webhook.id == created.id and detail.webhook.url == receiver.url
    updated = admin.update_webhook(created.id, events=["*"], enabled=False)
    assert updated.events == ["*"] and not updated.enabled
    assert admin.update_webhook(created.id, enabled=True).enabled

    deliveries = admin.list_webhook_deliveries(created.id, limit=10)
    assert result.delivery_id in {d.id for d in deliveries}
    finished = next(d for d in deliveries if d.id == result.delivery_id)
    assert finished.status == "success" and finished.attempt_log[0].response_code == 200

    replayed = admin.replay_delivery(finished.id)
    assert replayed.replay_of == finished.id and replayed.id != finished.id
    assert receiver.until(lambda d: d.headers.get("webhook-id") == replayed.id).body == test_delivery.body

    with pytest.raises(BadRequestError):
        admin.create_webhook(receiver.url, ["request.exploded"])
    assert admin.delete_webhook(created.id)["success"] is True
    with pytest.raises(NotFoundError):
        admin.get_webhook(created.id)


def test_audit_trail_filters_and_pages(admin: Client, decider: Client, action: str) -> None:
    ids = [admin.create_request(action).id for _ in range(3)]
    decider.approve(ids[0])
    decider.deny(ids[1])

    everything = list(admin.iter_audit(action=action, page_size=2))
    assert len(everything) == 5
    assert {e.event_type for e in everything} == {"created", "approved", "denied"}
    assert all(e.request is not None and e.request["action"] == action for e in everything)
    assert everything == sorted(everything, key=lambda e: e.created_at, reverse=True)

    page = admin.list_audit(action=action, limit=2)
    assert page.total == 5 and page.has_more and len(page) == 2
    approved = admin.list_audit(action=action, event_type="approved")
    assert [e.request_id for e in approved] == [ids[0]]
    by_request = admin.list_audit(request_id=ids[1])
    assert {e.event_type for e in by_request} == {"created", "denied"}
    newest = everything[0].created_at
    assert admin.list_audit(action=action, since=newest).total >= 1
    assert admin.list_audit(action=action, until="2000-01-01").total == 0

    assert action in admin.audit_actions()
    decider_actor = admin.get_request(ids[0]).decided_by
    assert decider_actor in admin.audit_actors()


@pytest.mark.anyio
async def test_the_async_client_covers_the_same_operations(
    gateway: Gateway, async_admin: AsyncClient, receiver: Receiver, action: str
) -> None:
    created = await async_admin.create_request(action, params={"n": 1})
    assert (await async_admin.get_request(created.id)).id == created.id
    page = await async_admin.list_requests(action=action)
    assert [r.id for r in page] == [created.id]
    assert [r.id async for r in async_admin.iter_requests(action=action)] == [created.id]
    decided = await async_admin.approve(created.id, reason="async")
    assert decided.is_approved
    assert [e.event_type for e in await async_admin.request_audit(created.id)] == ["created", "approved"]
    with pytest.raises(NotFoundError):
        await async_admin.get_request("01NOSUCHREQUEST")

    policy = await async_admin.create_policy(
        "async " + action, [{"match": {"action": action}, "decision": "auto_deny"}]
    )
    assert policy.id in {p.id async for p in async_admin.iter_policies()}
    assert (await async_admin.create_request(action)).status == "denied"
    assert (await async_admin.replace_policy(policy.id, "async v2", policy.rules)).version == 2
    assert (await async_admin.delete_policy(policy.id))["success"] is True

    key = await async_admin.create_api_key("async-" + uuid.uuid4().hex[:6], ["request:read"])
    assert key.id in {k.id for k in await async_admin.list_api_keys()}
    assert (await async_admin.update_api_key(key.id, rate_limit=10)).rate_limit == 10
    assert (await async_admin.revoke_api_key(key.id))["success"] is True

    hook = await async_admin.create_webhook(receiver.url)
    assert (await async_admin.test_webhook(hook.id)).success
    assert len(await async_admin.list_webhook_deliveries(hook.id)) >= 1
    assert (await async_admin.delete_webhook(hook.id))["success"] is True

    entries = [e async for e in async_admin.iter_audit(action=action)]
    assert len(entries) >= 3
    assert action in await async_admin.audit_actions()
    assert (await async_admin.health())["status"] == "ok"

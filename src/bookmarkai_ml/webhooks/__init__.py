"""Webhook delivery (docs/webhooks.md): the signed sender and the deliverer loop the relay runs.

Endpoints are registered through ``services.webhooks``; ``db.webhooks.fan_out`` queues a
delivery per matching endpoint in the transaction that made the event.
"""

"""RQ job entry points (thin: open an app context, call one service) and the scheduler.

Job functions are referenced by dotted path (`jobs.cluster.provision_instance`) from
`webapp.outbox.enqueue`, so the web app never imports this package's workers.
"""

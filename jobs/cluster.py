"""RQ entry points of the cluster domain (thin: `@job` gives an app context, the service does the work).

Enqueued through the outbox (`webapp.outbox.enqueue("jobs.cluster.<name>", instance_id)`), so they run only after
the transaction that asked for them committed, with `Retry(max=3, interval=[10, 30, 90])`. Every one is
idempotent: a repeat on a row that already moved on does nothing. `health_sweep` is meant to run every 5 minutes
(scheduler); it takes a Redis lock so only one runs at a time, repairs stuck rows and deletes orphaned objects.
"""
from jobs.queue import job


@job
def provision_instance(instance_id: str) -> str:
    from webapp.cluster.services import provision

    return provision(instance_id)


@job
def terminate_instance(instance_id: str) -> int:
    from webapp.cluster.services import terminate

    return terminate(instance_id)


@job
def restart_instance(instance_id: str) -> str:
    from webapp.cluster.services import restart

    return restart(instance_id)


@job
def stop_instance(instance_id: str) -> str:
    from webapp.cluster.services import stop

    return stop(instance_id)


@job
def start_instance(instance_id: str) -> str:
    from webapp.cluster.services import start

    return start(instance_id)


@job
def resize_instance(instance_id: str) -> str:
    from webapp.cluster.services import resize

    return resize(instance_id)


@job
def check_instance_health(instance_id: str):
    from webapp.cluster.services import check_health

    return check_health(instance_id)


@job
def health_sweep() -> dict:
    from webapp.cluster.services import health_sweep as sweep

    return sweep()

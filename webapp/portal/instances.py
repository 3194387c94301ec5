"""My instances: status, URL, restart/stop/start buttons and the last log lines.

Actions change the row now and run on the cluster after the commit (`cluster.services.user_restart/stop/start`);
the page reloads to show the new status. Logs are read live from Kubernetes; when the cluster cannot be reached
the page still answers and says why.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import login_required

from ..cluster import services as cluster
from ..cluster.models import InstanceStatus
from ..errors import DomainError
from ..extensions import db
from .base import PortalForm, call, customer, raise_not_found

LOG_LINES = 50
ACTIONS = {"restart": (cluster.user_restart, "Restart requested."),
           "stop": (cluster.user_stop, "Stop requested."),
           "start": (cluster.user_start, "Start requested.")}
BUTTONS = {InstanceStatus.RUNNING: ("restart", "stop"), InstanceStatus.STOPPED: ("start",)}


class ActionForm(PortalForm):
    pass


def register(bp: Blueprint) -> None:
    @bp.get("/instances", endpoint="instances")
    @login_required
    def instances_page():
        return render_template("portal/instances.html", instances=cluster.list_user_instances(customer()))

    @bp.get("/instances/<instance_id>")
    @login_required
    def instance_page(instance_id: str):
        instance = cluster.get_user_instance(customer(), instance_id)  # another customer's: 404
        logs, logs_error = None, None
        if instance.status is not InstanceStatus.TERMINATED:
            try:
                logs = cluster.user_logs(customer(), instance.id, lines=LOG_LINES, follow=False)["logs"]
            except DomainError as error:
                db.session.rollback()
                logs_error = error.text
            instance = cluster.get_user_instance(customer(), instance_id)
        return render_template("portal/instance.html", instance=instance, logs=logs, logs_error=logs_error,
                               buttons=BUTTONS.get(instance.status, ()), form=ActionForm(formdata=None))

    @bp.post("/instances/<instance_id>/<action>")
    @login_required
    def instance_action(instance_id: str, action: str):
        if action not in ACTIONS:
            abort(404)
        form = ActionForm()
        if not form.validate_on_submit():
            abort(400)
        service, done = ACTIONS[action]
        _, error = call(service, customer(), instance_id[:64])
        raise_not_found(error)
        flash(error.text if error else done, "error" if error else "success")
        return redirect(url_for("portal.instance_page", instance_id=instance_id), code=303)

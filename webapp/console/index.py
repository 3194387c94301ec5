"""The console home page: a few headline counts (the dashboard proper comes later)."""
from __future__ import annotations

from flask_admin import AdminIndexView, expose
from sqlalchemy import func, select

from ..extensions import db
from .base import AdminRequiredMixin


def headline_counts() -> dict[str, int]:
    from ..accounts.models import Role, User
    from ..catalog.models import Service, ServicePlan

    customers = db.session.execute(select(func.count()).select_from(User).where(
        User.role == Role.USER, User.deleted_at.is_(None))).scalar_one()
    services = db.session.execute(select(func.count()).select_from(Service)).scalar_one()
    plans, used, total = db.session.execute(select(
        func.count(ServicePlan.id), func.coalesce(func.sum(ServicePlan.used_quota), 0),
        func.coalesce(func.sum(ServicePlan.total_quota), 0))).one()
    return {"customers": customers, "services": services, "plans": plans, "quota_used": int(used),
            "quota_total": int(total)}


class ConsoleIndexView(AdminRequiredMixin, AdminIndexView):
    @expose("/")
    def index(self):
        return self.render("console/index.html", counts=headline_counts())

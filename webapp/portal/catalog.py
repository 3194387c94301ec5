"""The catalog: categories, services with their plans (price, resources, availability from the quota)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import login_required

from ..catalog import services as catalog
from .base import page_arg

PAGE_SIZE = 12


def register(bp: Blueprint) -> None:
    @bp.get("/")
    @login_required
    def home():
        return redirect(url_for("portal.catalog"))

    @bp.get("/catalog", endpoint="catalog")
    @login_required
    def catalog_page():
        slug = (request.args.get("category") or "").strip()[:100] or None
        categories = catalog.list_categories()
        if slug:
            category, listing = catalog.category_services(slug=slug, page=page_arg(), limit=PAGE_SIZE)  # 404 unknown
        else:
            category, listing = None, catalog.list_services(page=page_arg(), limit=PAGE_SIZE)
        pages = -(-listing.total // PAGE_SIZE)
        return render_template("portal/catalog.html", categories=categories, category=category, listing=listing,
                               page=page_arg(), total_pages=pages)

    @bp.get("/catalog/<slug>")
    @login_required
    def service_page(slug: str):
        service, plans = catalog.service_details(slug[:50])  # unknown, inactive or private: 404
        return render_template("portal/service.html", service=service, plans=plans)

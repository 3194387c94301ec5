"""The catalog pages: categories, services with plans (price, resources, availability from the quota)."""
from .conftest import text


def test_catalog_lists_categories_services_plans_prices_resources_and_availability(signed_in, make):
    category = make.category(name="Automation", slug="automation")
    n8n = make.service(name="n8n", slug="n8n", category=category)
    make.plan(service=n8n, plan_type="BASIC", name="Basic", monthly_price=75_000, cpu_milli=500, memory_mb=1024,
              total_quota=10, used_quota=3)
    make.plan(service=n8n, plan_type="PRO", name="Pro", monthly_price=150_000, total_quota=2, used_quota=2)
    make.service(name="Hidden", slug="hidden-app", category=category, is_public=False)
    page = text(signed_in.get("/portal/catalog"))
    assert "Automation (1)" in page
    assert "n8n" in page and "Rp 75,000" in page and "Rp 150,000" in page
    assert "500m CPU, 1024 MB" in page
    assert "7 left" in page and "Sold out" in page
    assert "Hidden" not in page
    filtered = signed_in.get("/portal/catalog?category=automation")
    assert filtered.status_code == 200 and "n8n" in text(filtered)


def test_service_page_shows_each_plan_and_subscribe_only_where_a_slot_is_free(signed_in, make):
    service = make.service(name="Ghost", slug="ghost")
    free = make.plan(service=service, plan_type="BASIC", total_quota=5, used_quota=1)
    full = make.plan(service=service, plan_type="PRO", total_quota=1, used_quota=1)
    html = signed_in.get("/portal/catalog/ghost").get_data(as_text=True)
    assert "4 of 5 slots available" in html
    assert f"/portal/catalog/ghost/subscribe/{free.id}" in html
    assert f"/portal/catalog/ghost/subscribe/{full.id}" not in html


def test_unknown_hidden_or_inactive_services_are_404(signed_in, make):
    make.service(slug="private-one", is_public=False)
    make.service(slug="inactive-one", is_active=False)
    for url in ("/portal/catalog/nope", "/portal/catalog/private-one", "/portal/catalog/inactive-one",
                "/portal/catalog?category=nope"):
        assert signed_in.get(url).status_code == 404, url


def test_html_in_catalog_text_is_escaped(signed_in, make):
    make.service(name="<b>Bold</b>", slug="bold", description="<script>alert('x')</script>")
    html = signed_in.get("/portal/catalog").get_data(as_text=True)
    assert "<script>alert('x')</script>" not in html and "&lt;script&gt;" in html
    assert "<b>Bold</b>" not in html

"""The demo's competitor check runs against its own loopback competitor site."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from rich.console import Console

from dropkit import Dropkit
from dropkit.app.demo_crawl import check_competitors, render_competitor_report
from dropkit.core.money import Money


async def test_check_competitors_reports_a_price_change_and_advice(tmp_path: Path) -> None:
    async with Dropkit(data_dir=tmp_path, margin_floor=Decimal("0.3")) as kit:
        vendor = await kit.commerce.vendors.create("Aurora Lighting")
        product = await kit.commerce.catalog.create(
            vendor.id,
            "Aurora Desk Lamp",
            variants=[{"sku": "LAMP-1", "price": Money("31.00", "USD"), "stock_on_hand": 4}],
        )
        supplier = await kit.commerce.suppliers.create("Lumen Supply")
        await kit.commerce.suppliers.upsert_offer(
            supplier.id, product.variants[0].id, "S-1", Money("12.40", "USD"), 10, 2
        )
        report = await check_competitors(kit, "LAMP-1")
        stored = await kit.events.list(type="competitor.price_changed")

    assert report.our_price == Money("31.00", "USD")
    assert [c.price for c in report.competitors] == [
        Money("34.72", "USD"),
        Money("27.06", "USD"),  # 30.07 cut by 10 %
        Money("32.55", "USD"),
    ]
    assert report.price_change is not None
    assert (report.price_change.old_price, report.price_change.new_price) == (
        Decimal("30.07"),
        Decimal("27.06"),
    )
    assert report.events == ("competitor.price_changed",)
    assert len(stored) == 1
    assert report.position.rank == 2 and report.position.min == Decimal("27.06")
    assert report.suggestion.floor == Decimal("17.72")  # 12.40 / 0.7, rounded up
    assert report.suggestion.suggested == Decimal("27.05")

    console = Console(record=True, width=120)
    console.print(render_competitor_report(report))
    text = console.export_text()
    assert "Lumen Haus" in text and "competitor.price_changed" in text and "27.05" in text

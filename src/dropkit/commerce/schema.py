"""The store's schema (component ``commerce``): catalog, suppliers, stock, carts, orders, payments.

Money is stored as a decimal amount (``{decimal}``: NUMERIC on PostgreSQL, TEXT on SQLite, so no
float ever touches it) beside its ISO 4217 currency code. Stock is kept per variant as counters
that a single guarded ``UPDATE`` changes (``stock_on_hand``, ``stock_reserved``), so that
concurrent checkouts can never take the same unit twice; reservations are rows with an expiry
whose release gives the units back.
"""

from __future__ import annotations

from dropkit.core.migrations import Migration

__all__ = ["COMMERCE_MIGRATIONS"]

COMMERCE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        component="commerce",
        version=1,
        name="catalog, suppliers, stock, carts, orders, payments",
        statements=(
            """CREATE TABLE commerce_vendors (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                slug TEXT NOT NULL UNIQUE,
                status TEXT NOT NULL,
                commission_rate {decimal} NOT NULL,
                email TEXT,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL
            )""",
            """CREATE TABLE commerce_customers (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL DEFAULT '',
                password_hash TEXT,
                addresses {json} NOT NULL,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL
            )""",
            """CREATE TABLE commerce_categories (
                id TEXT PRIMARY KEY,
                parent_id TEXT REFERENCES commerce_categories (id),
                name TEXT NOT NULL,
                slug TEXT NOT NULL UNIQUE,
                position INTEGER NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE commerce_products (
                id TEXT PRIMARY KEY,
                vendor_id TEXT NOT NULL REFERENCES commerce_vendors (id),
                category_id TEXT REFERENCES commerce_categories (id),
                slug TEXT NOT NULL UNIQUE,
                title TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL,
                attributes {json} NOT NULL,
                tags {json} NOT NULL,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL
            )""",
            "CREATE INDEX commerce_products_vendor ON commerce_products (vendor_id, status)",
            "CREATE INDEX commerce_products_category ON commerce_products (category_id, status)",
            """CREATE TABLE commerce_product_images (
                id TEXT PRIMARY KEY,
                product_id TEXT NOT NULL REFERENCES commerce_products (id) ON DELETE CASCADE,
                url TEXT NOT NULL,
                alt TEXT NOT NULL DEFAULT '',
                position INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX commerce_product_images_product"
            " ON commerce_product_images (product_id, position)",
            """CREATE TABLE commerce_variants (
                id TEXT PRIMARY KEY,
                product_id TEXT NOT NULL REFERENCES commerce_products (id) ON DELETE CASCADE,
                sku TEXT NOT NULL UNIQUE,
                title TEXT NOT NULL DEFAULT '',
                options {json} NOT NULL,
                price_amount {decimal} NOT NULL,
                currency TEXT NOT NULL,
                compare_at_amount {decimal},
                weight_grams INTEGER NOT NULL DEFAULT 0,
                stock_on_hand INTEGER NOT NULL DEFAULT 0 CHECK (stock_on_hand >= 0),
                stock_reserved INTEGER NOT NULL DEFAULT 0 CHECK (stock_reserved >= 0),
                low_stock_threshold INTEGER NOT NULL DEFAULT 0,
                position INTEGER NOT NULL DEFAULT 0,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL
            )""",
            "CREATE INDEX commerce_variants_product ON commerce_variants (product_id, position)",
            """CREATE TABLE commerce_suppliers (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                slug TEXT NOT NULL UNIQUE,
                preferred {bool} NOT NULL DEFAULT {false},
                created_at {ts} NOT NULL
            )""",
            """CREATE TABLE commerce_supplier_offers (
                id TEXT PRIMARY KEY,
                supplier_id TEXT NOT NULL REFERENCES commerce_suppliers (id),
                variant_id TEXT NOT NULL REFERENCES commerce_variants (id) ON DELETE CASCADE,
                supplier_sku TEXT NOT NULL,
                cost_amount {decimal} NOT NULL,
                cost_currency TEXT NOT NULL,
                stock INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
                stock_reserved INTEGER NOT NULL DEFAULT 0 CHECK (stock_reserved >= 0),
                lead_time_days INTEGER NOT NULL DEFAULT 0,
                synced_at {ts} NOT NULL,
                UNIQUE (supplier_id, variant_id)
            )""",
            "CREATE INDEX commerce_offers_variant ON commerce_supplier_offers (variant_id)",
            """CREATE TABLE commerce_reservations (
                id TEXT PRIMARY KEY,
                variant_id TEXT NOT NULL REFERENCES commerce_variants (id),
                offer_id TEXT REFERENCES commerce_supplier_offers (id),
                quantity INTEGER NOT NULL CHECK (quantity > 0),
                cart_id TEXT,
                order_id TEXT,
                state TEXT NOT NULL,
                expires_at {ts},
                created_at {ts} NOT NULL
            )""",
            "CREATE INDEX commerce_reservations_live ON commerce_reservations (expires_at)"
            " WHERE state = 'held'",
            "CREATE INDEX commerce_reservations_cart ON commerce_reservations (cart_id)",
            """CREATE TABLE commerce_discounts (
                id TEXT PRIMARY KEY,
                code TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                value {decimal} NOT NULL,
                currency TEXT,
                minimum_subtotal {decimal},
                usage_limit INTEGER,
                usage_limit_per_customer INTEGER,
                times_used INTEGER NOT NULL DEFAULT 0,
                starts_at {ts},
                ends_at {ts},
                active {bool} NOT NULL DEFAULT {true},
                created_at {ts} NOT NULL
            )""",
            """CREATE TABLE commerce_discount_uses (
                discount_id TEXT NOT NULL REFERENCES commerce_discounts (id),
                customer_key TEXT NOT NULL,
                order_id TEXT NOT NULL,
                created_at {ts} NOT NULL,
                PRIMARY KEY (discount_id, order_id)
            )""",
            "CREATE INDEX commerce_discount_uses_customer"
            " ON commerce_discount_uses (discount_id, customer_key)",
            """CREATE TABLE commerce_tax_rates (
                id TEXT PRIMARY KEY,
                country TEXT NOT NULL,
                region TEXT NOT NULL DEFAULT '',
                rate {decimal} NOT NULL,
                inclusive {bool} NOT NULL DEFAULT {false},
                name TEXT NOT NULL DEFAULT '',
                UNIQUE (country, region)
            )""",
            """CREATE TABLE commerce_shipping_methods (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                kind TEXT NOT NULL,
                price_amount {decimal} NOT NULL,
                currency TEXT NOT NULL,
                free_over_amount {decimal},
                vendor_id TEXT REFERENCES commerce_vendors (id),
                countries {json} NOT NULL,
                active {bool} NOT NULL DEFAULT {true}
            )""",
            """CREATE TABLE commerce_carts (
                id TEXT PRIMARY KEY,
                customer_id TEXT REFERENCES commerce_customers (id),
                email TEXT,
                currency TEXT NOT NULL,
                coupon_code TEXT,
                state TEXT NOT NULL,
                order_id TEXT,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL
            )""",
            """CREATE TABLE commerce_cart_lines (
                cart_id TEXT NOT NULL REFERENCES commerce_carts (id) ON DELETE CASCADE,
                variant_id TEXT NOT NULL REFERENCES commerce_variants (id),
                quantity INTEGER NOT NULL CHECK (quantity > 0),
                added_at {ts} NOT NULL,
                PRIMARY KEY (cart_id, variant_id)
            )""",
            """CREATE TABLE commerce_orders (
                id TEXT PRIMARY KEY,
                number {bigint} NOT NULL UNIQUE,
                idempotency_key TEXT UNIQUE,
                cart_id TEXT UNIQUE,
                customer_id TEXT REFERENCES commerce_customers (id),
                email TEXT NOT NULL,
                status TEXT NOT NULL,
                currency TEXT NOT NULL,
                subtotal_amount {decimal} NOT NULL,
                discount_amount {decimal} NOT NULL,
                tax_amount {decimal} NOT NULL,
                shipping_amount {decimal} NOT NULL,
                total_amount {decimal} NOT NULL,
                refunded_amount {decimal} NOT NULL,
                coupon_code TEXT,
                shipping_address {json} NOT NULL,
                shipping_method_id TEXT,
                payment_gateway TEXT NOT NULL,
                flags {json} NOT NULL,
                placed_at {ts} NOT NULL,
                updated_at {ts} NOT NULL
            )""",
            "CREATE INDEX commerce_orders_customer ON commerce_orders (customer_id, placed_at)",
            "CREATE INDEX commerce_orders_status ON commerce_orders (status, placed_at)",
            """CREATE TABLE commerce_order_lines (
                id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES commerce_orders (id) ON DELETE CASCADE,
                variant_id TEXT NOT NULL REFERENCES commerce_variants (id),
                product_id TEXT NOT NULL,
                vendor_id TEXT NOT NULL,
                sku TEXT NOT NULL,
                title TEXT NOT NULL,
                quantity INTEGER NOT NULL CHECK (quantity > 0),
                unit_price_amount {decimal} NOT NULL,
                line_total_amount {decimal} NOT NULL,
                tax_amount {decimal} NOT NULL,
                discount_amount {decimal} NOT NULL,
                commission_rate {decimal} NOT NULL,
                commission_amount {decimal} NOT NULL,
                supplier_id TEXT,
                offer_id TEXT,
                unit_cost_amount {decimal},
                cost_currency TEXT,
                source TEXT NOT NULL
            )""",
            "CREATE INDEX commerce_order_lines_order ON commerce_order_lines (order_id)",
            "CREATE INDEX commerce_order_lines_vendor ON commerce_order_lines (vendor_id)",
            """CREATE TABLE commerce_fulfilments (
                id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES commerce_orders (id) ON DELETE CASCADE,
                vendor_id TEXT NOT NULL,
                supplier_id TEXT,
                status TEXT NOT NULL,
                carrier TEXT,
                tracking_number TEXT,
                line_ids {json} NOT NULL,
                created_at {ts} NOT NULL,
                shipped_at {ts},
                delivered_at {ts}
            )""",
            "CREATE INDEX commerce_fulfilments_order ON commerce_fulfilments (order_id)",
            """CREATE TABLE commerce_payments (
                id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES commerce_orders (id) ON DELETE CASCADE,
                gateway TEXT NOT NULL,
                reference TEXT,
                status TEXT NOT NULL,
                amount {decimal} NOT NULL,
                currency TEXT NOT NULL,
                captured_amount {decimal} NOT NULL,
                refunded_amount {decimal} NOT NULL,
                client_secret TEXT,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL
            )""",
            "CREATE UNIQUE INDEX commerce_payments_reference"
            " ON commerce_payments (gateway, reference)",
            """CREATE TABLE commerce_payment_events (
                gateway TEXT NOT NULL,
                event_id TEXT NOT NULL,
                payment_id TEXT,
                type TEXT NOT NULL,
                received_at {ts} NOT NULL,
                PRIMARY KEY (gateway, event_id)
            )""",
            """CREATE TABLE commerce_refunds (
                id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES commerce_orders (id) ON DELETE CASCADE,
                payment_id TEXT REFERENCES commerce_payments (id),
                amount {decimal} NOT NULL,
                currency TEXT NOT NULL,
                reason TEXT NOT NULL DEFAULT '',
                reference TEXT,
                created_at {ts} NOT NULL
            )""",
        ),
        # Order numbers: a real sequence on PostgreSQL (no lock held for the rest of checkout;
        # a rolled-back checkout leaves a gap, as sequences do); SQLite serialises writers
        # anyway, so a counter row is race-free there.
        postgres=("CREATE SEQUENCE commerce_order_number START WITH 1001",),
        sqlite=(
            "CREATE TABLE commerce_order_number_seq"
            " (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
            "INSERT INTO commerce_order_number_seq (name, value) VALUES ('orders', 1000)",
        ),
    ),
    # A refund the gateway accepted is not yet money returned (Stripe: ``pending`` until the
    # bank confirms, and it may still fail). Rows written before this step were counted as
    # given back, so they stay ``succeeded``, except a payments reservation whose gateway call
    # never answered (no reference yet): that one is still pending.
    Migration(
        component="commerce",
        version=2,
        name="refund status",
        statements=(
            "ALTER TABLE commerce_refunds ADD COLUMN status TEXT NOT NULL DEFAULT 'succeeded'",
            "UPDATE commerce_refunds SET status = 'pending'"
            " WHERE reference IS NULL AND substr(id, 1, 4) = 'rfd_'",
            "CREATE INDEX commerce_refunds_reference ON commerce_refunds (reference)",
            "CREATE INDEX commerce_refunds_order ON commerce_refunds (order_id, status)",
        ),
    ),
    # Product listings page in (created_at, id) order, usually of active products: without an
    # index every page sorted the whole table. Row-value keysets seek straight into these.
    Migration(
        component="commerce",
        version=3,
        name="product listing indexes",
        statements=(
            "CREATE INDEX commerce_products_listing ON commerce_products (status, created_at, id)",
            "CREATE INDEX commerce_products_created ON commerce_products (created_at, id)",
        ),
    ),
)

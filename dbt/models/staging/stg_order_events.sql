{{ event_staging_config('order_id') }}

-- One row per order event and day of publication: the versions of a
-- store's orders and abandoned checkouts (Shopify, WooCommerce) that
-- PollCarts published between daily snapshots, in the columns of
-- stg_canonical_orders, money exact. Raw may hold several deliveries of an
-- event_id; the latest of each day is kept. Incremental as stg_cart_events:
-- whole days from lookback_days before the newest day held.
with

source as (

    -- FakeStore's cart events (cart.*) share the table: stg_cart_events.
    {{ cart_events_of(['order.upserted', 'order.deleted']) }}

),

deduplicated as (

    {{ dedupe_cart_events('source') }}

),

renamed as (

    select
        -- ids
        event_id,
        store_order.source_id as order_id,
        nullif(store_order.customer_id, '') as customer_id,

        -- strings
        event_type,
        store_order.source_kind as source_kind,
        store_order.kind as order_kind,
        store_order.status as order_status,
        store_order.currency as currency,

        -- numerics
        store_order.total as order_total,

        -- booleans
        store_order.deleted as is_deleted,

        -- arrays
        store_order.lines as lines,

        -- dates and timestamps
        store_order.created_at as created_at,
        store_order.updated_at as updated_at,
        extracted_at,
        published_at,
        cast(published_at as date) as published_date,
        ingested_at

    from deduplicated

)

select * from renamed

-- The latest snapshot of each order, abandoned checkout or cart of a store
-- read as canonical records (Shopify, WooCommerce), with exact money. An
-- order the newest snapshot no longer lists (deleted for good), or lists as
-- deleted (WooCommerce's trash), is flagged deleted, as of the newest
-- snapshot.
with

latest as (

    {{ latest_canonical_snapshot('canonical_orders') }}

),

renamed as (

    select
        -- ids
        source_id as order_id,
        nullif(customer_id, '') as customer_id,

        -- strings
        source_kind,
        kind as order_kind,
        status as order_status,
        currency,

        -- numerics
        total as order_total,

        -- booleans
        deleted or is_vanished as is_deleted,
        is_vanished,

        -- arrays
        lines,

        -- dates and timestamps
        created_at,
        updated_at,
        dt as snapshot_date,
        _extracted_at as extracted_at,
        -- The snapshot that last said anything of the order: the newest
        -- one, for an order it lists or has dropped.
        newest_extracted_at as last_seen_at

    from latest

)

select * from renamed

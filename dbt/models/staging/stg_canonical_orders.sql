-- The latest snapshot of each order, abandoned checkout or cart of a store
-- read as canonical records (Shopify, WooCommerce), with exact money. An
-- order the newest snapshot no longer lists (deleted for good), or lists as
-- deleted (WooCommerce's trash), is flagged deleted, as of the newest
-- snapshot.
with

source as (

    select * from {{ source('bq_raw', 'canonical_orders') }}

),

latest as (

    {{ latest_snapshot('source', key='source_id') }}

),

newest as (

    select
        max(dt) as newest_dt,
        max(_extracted_at) as newest_extracted_at
    from source

),

renamed as (

    select
        -- ids
        latest.source_id as order_id,
        nullif(latest.customer_id, '') as customer_id,

        -- strings
        latest.source_kind,
        latest.kind as order_kind,
        latest.status as order_status,
        latest.currency,

        -- numerics
        latest.total as order_total,

        -- booleans
        latest.deleted or latest.dt < newest.newest_dt as is_deleted,

        -- arrays
        latest.lines,

        -- dates and timestamps
        latest.created_at,
        latest.updated_at,
        latest.dt as snapshot_date,
        -- The snapshot that last said anything of the order: the newest
        -- one, for an order it lists or has dropped.
        newest.newest_extracted_at as last_seen_at

    from latest
    cross join newest

)

select * from renamed

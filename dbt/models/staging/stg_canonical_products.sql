-- The latest snapshot of each product of a store read as canonical records
-- (Shopify, WooCommerce). A product the newest snapshot no longer lists, or
-- lists as deleted, is flagged deleted.
with

source as (

    select * from {{ source('bq_raw', 'canonical_products') }}

),

latest as (

    {{ latest_snapshot('source', key='source_id') }}

),

newest as (

    select max(dt) as newest_dt from source

),

renamed as (

    select
        -- ids
        latest.source_id as product_id,

        -- strings
        latest.source_kind,
        trim(latest.title) as product_title,
        latest.category as product_category,

        -- numerics
        {{ min_field('latest.variants', 'price') }} as price,
        {{ array_length('latest.variants') }} as variant_count,

        -- booleans
        latest.deleted or latest.dt < newest.newest_dt as is_deleted,

        -- dates and timestamps
        latest.created_at,
        latest.updated_at,
        latest.dt as snapshot_date,
        latest._extracted_at as extracted_at

    from latest
    cross join newest

)

select * from renamed

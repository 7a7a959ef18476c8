-- The latest snapshot of each product of a store read as canonical records
-- (Shopify, WooCommerce). A product the newest snapshot no longer lists, or
-- lists as deleted, is flagged deleted.
with

latest as (

    {{ latest_canonical_snapshot('canonical_products') }}

),

renamed as (

    select
        -- ids
        source_id as product_id,

        -- strings
        source_kind,
        trim(title) as product_title,
        category as product_category,

        -- numerics
        {{ min_field('variants', 'price') }} as price,
        {{ array_length('variants') }} as variant_count,

        -- booleans
        deleted or is_vanished as is_deleted,

        -- dates and timestamps
        created_at,
        updated_at,
        dt as snapshot_date,
        _extracted_at as extracted_at

    from latest

)

select * from renamed

-- The latest snapshot of each customer of a store read as canonical records
-- (Shopify, WooCommerce). The e-mail address was replaced by its pseudonym
-- at ingestion. A customer the newest snapshot no longer lists is flagged
-- deleted.
with

latest as (

    {{ latest_canonical_snapshot('canonical_customers') }}

),

renamed as (

    select
        -- ids
        source_id as customer_id,

        -- strings
        source_kind,
        email_hash,
        city,
        postal_code,
        country,

        -- booleans
        guest as is_guest,
        deleted or is_vanished as is_deleted,

        -- dates and timestamps
        created_at,
        updated_at,
        dt as snapshot_date,
        _extracted_at as extracted_at

    from latest

)

select * from renamed

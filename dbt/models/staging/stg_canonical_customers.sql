-- The latest snapshot of each customer of a store read as canonical records
-- (Shopify, WooCommerce). The e-mail address was replaced by its pseudonym
-- at ingestion. A customer the newest snapshot no longer lists is flagged
-- deleted.
with

source as (

    select * from {{ source('bq_raw', 'canonical_customers') }}

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
        latest.source_id as customer_id,

        -- strings
        latest.source_kind,
        latest.email_hash,
        latest.city,
        latest.postal_code,
        latest.country,

        -- booleans
        latest.guest as is_guest,
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

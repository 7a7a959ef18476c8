-- One row per cart event: raw may hold several deliveries of an event_id
-- (retries, redeliveries, overlapping polls); the latest delivery is kept.
with

source as (

    select * from {{ source('bq_raw', 'cart_events') }}

),

deduplicated as (

    {{ dedupe_cart_events('source') }}

),

renamed as (

    select
        -- ids
        event_id,
        cart_id,
        user_id,

        -- strings
        event_type,
        fingerprint,

        -- booleans
        event_type = 'cart.deleted' as is_tombstone,

        -- numerics
        {{ array_length('products') }} as line_count,

        -- arrays
        products as lines,

        -- dates and timestamps
        cart_date,
        extracted_at,
        published_at,
        ingested_at

    from deduplicated

)

select * from renamed

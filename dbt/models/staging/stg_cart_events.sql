{{ event_staging_config('cart_id') }}

-- One row per FakeStore cart event and day of publication: raw may hold several
-- deliveries of an event_id (retries, redeliveries, overlapping polls); the
-- latest delivery of each day is kept. Incremental runs rebuild whole days,
-- from lookback_days before the newest day held, and replace those days
-- (BigQuery: their partitions), reading only those days of raw.
with

source as (

    -- A store's order events (order.*) share the table: stg_order_events.
    {{ cart_events_of(['cart.upserted', 'cart.deleted']) }}

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
        cast(published_at as date) as published_date,
        ingested_at

    from deduplicated

)

select * from renamed

{{
    config(
        materialized='incremental',
        incremental_strategy='insert_overwrite' if target.type == 'bigquery' else 'delete+insert',
        unique_key=none if target.type == 'bigquery' else 'published_date',
        on_schema_change='fail',
        partition_by={'field': 'published_date', 'data_type': 'date', 'granularity': 'day'} if target.type == 'bigquery' else none,
        cluster_by=['cart_id'] if target.type == 'bigquery' else none
    )
}}

-- One row per FakeStore cart event and day of publication: raw may hold several
-- deliveries of an event_id (retries, redeliveries, overlapping polls); the
-- latest delivery of each day is kept. Incremental runs rebuild whole days,
-- from lookback_days before the newest day held, and replace those days
-- (BigQuery: their partitions), reading only those days of raw.
with

source as (

    -- A store's order events (order.*) share the table: stg_order_events.
    select * from {{ source('bq_raw', 'cart_events') }}
    {% if is_incremental() %}
        where
            published_at >= timestamp '{{ lookback_start_date(this, 'published_date', partitioned=true) }}'
            and event_type in ('cart.upserted', 'cart.deleted')
    {% else %}
        where event_type in ('cart.upserted', 'cart.deleted')
    {% endif %}

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

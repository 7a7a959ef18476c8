-- One row per product line of each cart event (deduplicated by event_id, as
-- in stg_cart_events).
with

source as (

    select * from {{ source('bq_raw', 'cart_events') }}

),

deduplicated as (

    {{ dedupe_cart_events('source') }}

),

lines as (

    {{ unnest_lines('deduplicated', 'products', ['event_id', 'cart_id']) }}

),

renamed as (

    select
        -- ids
        event_id,
        cart_id,
        line.product_id as product_id,

        -- numerics
        line_number,
        line.quantity as quantity

    from lines

)

select * from renamed

{{
    config(
        materialized='incremental',
        unique_key='cart_id',
        incremental_strategy='merge',
        on_schema_change='fail',
        cluster_by=['cart_id'] if target.type == 'bigquery' else none
    )
}}

-- The current state of every cart: its latest upsert (owner, date, lines)
-- and whether its latest event is a tombstone. One pass over the events ranks
-- each event among all of its cart's events and among those of its kind.
-- Incremental runs recompute, from all of their events, only the carts with
-- an event in the lookback window; the facts then read just those carts.
with

events as (

    select * from {{ ref('stg_cart_events') }}
    {% if is_incremental() %}
        where cart_id in ({{ recent_carts(this) }})
    {% endif %}

),

ranked as (

    select
        event_id,
        cart_id,
        user_id,
        cart_date,
        lines,
        is_tombstone,
        published_at,
        row_number() over (partition by cart_id order by published_at desc, event_id desc) as event_rank,
        row_number() over (partition by cart_id, is_tombstone order by published_at desc, event_id desc) as kind_rank
    from events

),

latest_event as (

    select
        cart_id,
        is_tombstone,
        published_at
    from ranked
    where event_rank = 1

),

latest_upsert as (

    select
        event_id,
        cart_id,
        user_id,
        cart_date,
        lines
    from ranked
    where not is_tombstone and kind_rank = 1

),

joined as (

    select
        latest_upsert.cart_id,
        latest_upsert.event_id as upsert_event_id,
        latest_upsert.user_id,
        latest_upsert.cart_date,
        latest_upsert.lines,
        latest_event.is_tombstone as is_deleted,
        latest_event.published_at as last_event_at
    from latest_upsert
    inner join latest_event on latest_upsert.cart_id = latest_event.cart_id

)

select * from joined

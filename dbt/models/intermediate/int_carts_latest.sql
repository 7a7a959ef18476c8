-- The current state of every cart: its latest upsert (owner, date, lines)
-- and whether its latest event is a tombstone.
with

events as (

    select * from {{ ref('stg_cart_events') }}

),

latest_event as (

    select
        cart_id,
        is_tombstone,
        published_at
    from events
    qualify row_number() over (partition by cart_id order by published_at desc, event_id desc) = 1

),

latest_upsert as (

    select
        event_id,
        cart_id,
        user_id,
        cart_date
    from events
    where not is_tombstone
    qualify row_number() over (partition by cart_id order by published_at desc, event_id desc) = 1

),

joined as (

    select
        latest_upsert.cart_id,
        latest_upsert.event_id as upsert_event_id,
        latest_upsert.user_id,
        latest_upsert.cart_date,
        latest_event.is_tombstone as is_deleted,
        latest_event.published_at as last_event_at
    from latest_upsert
    inner join latest_event on latest_upsert.cart_id = latest_event.cart_id

)

select * from joined

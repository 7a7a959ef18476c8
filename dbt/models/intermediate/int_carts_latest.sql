{{
    config(
        materialized='incremental',
        unique_key='cart_id',
        incremental_strategy='merge' if target.type == 'bigquery' else 'delete+insert',
        on_schema_change='fail',
        cluster_by=['cart_id'] if target.type == 'bigquery' else none
    )
}}

-- The current state of every cart: its latest upsert (owner, date, lines),
-- whether its latest event is a tombstone, and every order date it has had.
-- One pass ranks each event among all of its cart's events and among those
-- of its kind. An incremental run reads only the events published since its
-- lookback start, and folds them into the state it holds for their carts:
-- that state stands for the events it summarises (the latest upsert, and the
-- latest event when that is a tombstone), so the ranking sees what a full
-- build would.
with

events as (

    select
        event_id,
        cart_id,
        user_id,
        cart_date,
        lines,
        is_tombstone,
        published_at
    from {{ ref('stg_cart_events') }}
    {% if is_incremental() %}
        where published_date >= date '{{ lookback_start_date(this, 'last_event_at') }}'
    {% endif %}

),

{% if is_incremental() %}

    held as (

        select * from {{ this }}
        where cart_id in (select events.cart_id from events)

    ),

    candidates as (

        select * from events
        union all
        select
            upsert_event_id as event_id,
            cart_id,
            user_id,
            cart_date,
            lines,
            false as is_tombstone,
            upsert_published_at as published_at
        from held
        union all
        select
            last_event_id as event_id,
            cart_id,
            cast(null as {{ dbt.type_bigint() }}) as user_id,
            cast(null as timestamp) as cart_date,
            lines,
            true as is_tombstone,
            last_event_at as published_at
        from held
        where is_deleted

    ),

    held_order_dates as (

        {{ unnest_order_dates('held') }}

    ),

{% else %}

    candidates as (

        select * from events

    ),

{% endif %}

ranked as (

    select
        candidates.*,
        row_number() over (partition by cart_id order by published_at desc, event_id desc) as event_rank,
        row_number() over (partition by cart_id, is_tombstone order by published_at desc, event_id desc) as kind_rank
    from candidates

),

latest_event as (

    select * from ranked
    where event_rank = 1

),

latest_upsert as (

    select * from ranked
    where not is_tombstone and kind_rank = 1

),

upsert_dates as (

    select
        cart_id,
        cast(cart_date as date) as order_date
    from candidates
    where not is_tombstone
    {% if is_incremental() %}
        union all
        select
            cart_id,
            order_date
        from held_order_dates
    {% endif %}

),

order_dates as (

    select
        cart_id,
        array_agg(distinct order_date order by order_date) as order_dates
    from upsert_dates
    group by cart_id

),

joined as (

    select
        latest_upsert.cart_id,
        latest_upsert.event_id as upsert_event_id,
        latest_upsert.user_id,
        latest_upsert.cart_date,
        latest_upsert.lines,
        latest_upsert.published_at as upsert_published_at,
        latest_event.is_tombstone as is_deleted,
        latest_event.event_id as last_event_id,
        latest_event.published_at as last_event_at,
        order_dates.order_dates
    from latest_upsert
    inner join latest_event on latest_upsert.cart_id = latest_event.cart_id
    inner join order_dates on latest_upsert.cart_id = order_dates.cart_id

)

select * from joined

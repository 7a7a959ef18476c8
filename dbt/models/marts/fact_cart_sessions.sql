{{
    config(
        materialized='incremental',
        unique_key='order_key',
        incremental_strategy='merge' if target.type == 'bigquery' else 'delete+insert',
        on_schema_change='fail',
        cluster_by=['source_kind', 'outcome'] if target.type == 'bigquery' else none
    )
}}

-- One row per cart session: a cart or checkout from when it was first seen
-- to how it ended. A FakeStore cart, from its cart events: started when its
-- first event was published, changed at its latest upsert, ordered (the demo
-- store's carts are its orders, as the orders metric counts them) or
-- abandoned when it was deleted (its tombstone). A store's abandoned checkout
-- is abandoned; a store's order is ordered, or deleted when the store
-- deleted it (then it is neither ordered nor abandoned). The value is the
-- cart's revenue (fact_orders), kept when it is abandoned. Incremental: a run
-- rebuilds the orders the facts rebuild and reads the cart events of its
-- lookback window; a cart's start is the earliest event ever seen, this
-- run's or the one the model already holds.
with

orders as (

    {{ orders_to_build() }}

),

facts as (

    select
        order_key,
        order_id,
        user_key,
        revenue
    from {{ ref('fact_orders') }}
    {% if is_incremental() %}
        where order_date in ({{ order_dates_to_rebuild() }})
    {% endif %}

),

first_events as (

    select
        cast(cart_id as {{ dbt.type_string() }}) as order_id,
        min(published_at) as started_at
    from {{ ref('stg_cart_events') }}
    {% if is_incremental() %}
        where published_date >= date '{{ lookback_start_date(this, 'last_event_at') }}'
    {% endif %}
    group by cart_id

),

cart_starts as (

    select
        order_id,
        min(started_at) as started_at
    from (
        select * from first_events
        {% if is_incremental() %}
            union all
            select
                order_id,
                started_at
            from {{ this }}
            where order_kind = 'cart'
        {% endif %}
    ) as sightings
    group by order_id

),

carts as (

    select
        cart_id,
        upsert_published_at
    from {{ ref('int_carts_latest') }}
    where cart_id in (select orders.cart_id from orders)

),

store_orders as (

    select
        order_id,
        created_at,
        updated_at
    from {{ ref('stg_canonical_orders') }}
    where order_id in (select orders.order_id from orders)

),

timed as (

    select
        facts.order_key,
        facts.user_key,
        orders.order_id,
        orders.source_kind,
        orders.order_kind,
        orders.order_date,
        facts.revenue as cart_value,
        orders.last_event_at,
        case
            when orders.order_kind = 'abandoned_checkout' then 'abandoned'
            when orders.is_deleted and orders.order_kind = 'cart' then 'abandoned'
            when orders.is_deleted then 'deleted'
            else 'ordered'
        end as outcome,
        case when orders.order_kind = 'cart' then cart_starts.started_at else store_orders.created_at end as started_at,
        case when orders.order_kind = 'cart' then carts.upsert_published_at else store_orders.updated_at end as last_changed_at
    from orders
    inner join facts on orders.order_id = facts.order_id
    left join carts on orders.cart_id = carts.cart_id
    left join cart_starts on orders.order_id = cart_starts.order_id
    left join store_orders on orders.order_id = store_orders.order_id

),

final as (

    select
        order_key,
        user_key,
        order_id,
        source_kind,
        order_kind,
        order_date,
        outcome,
        started_at,
        last_changed_at,
        case
            when outcome = 'abandoned' and order_kind = 'cart' then last_event_at
            when outcome = 'abandoned' then last_changed_at
            when outcome = 'ordered' and order_kind = 'cart' then last_changed_at
            when outcome = 'ordered' then started_at
        end as ended_at,
        case
            when outcome = 'ordered' and order_kind = 'cart'
                then cast({{ dbt.datediff('started_at', 'last_changed_at', 'second') }} as {{ dbt.type_bigint() }})
        end as time_to_order_seconds,
        cast(cart_value as {{ money_type() }}) as cart_value,
        cast(case when outcome = 'abandoned' then cart_value else 0 end as {{ money_type() }}) as abandoned_value,
        last_event_at
    from timed

)

select * from final

{{ config(materialized='view') }}

-- Every order at its current state, whatever store it came from, in one
-- shape: FakeStore's carts (int_carts_latest, fed by cart events) and the
-- orders, abandoned checkouts and carts of the stores read as canonical
-- records (int_store_orders_latest, fed by daily snapshots and the
-- order events polled between them). Ids are text;
-- a cart's lines are unpriced (fact_order_items prices them from the
-- catalogue as of the order's date), a store's lines carry their exact
-- prices. A guest's order belongs to the customer 'guest'.
with

carts as (

    select
        cast(cart_id as {{ dbt.type_string() }}) as order_id,
        cart_id,
        'fakestore' as source_kind,
        'cart' as order_kind,
        case when is_deleted then 'deleted' else 'open' end as order_status,
        '{{ var("fakestore_currency") }}' as currency,
        cast(user_id as {{ dbt.type_string() }}) as customer_id,
        cast(cart_date as date) as order_date,
        {{ cart_lines_as_order_lines('lines') }} as lines,
        is_deleted,
        last_event_at,
        order_dates
    from {{ ref('int_carts_latest') }}

),

store_orders as (

    select
        order_id,
        cast(null as {{ dbt.type_bigint() }}) as cart_id,
        source_kind,
        order_kind,
        order_status,
        currency,
        coalesce(customer_id, 'guest') as customer_id,
        order_date,
        lines,
        is_deleted,
        last_event_at,
        order_dates
    from {{ ref('int_store_orders_latest') }}

),

unioned as (

    select * from carts
    union all
    select * from store_orders

)

select * from unioned

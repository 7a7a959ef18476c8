-- The routine run's check of what it rebuilt: every order with an event in the
-- lookback window (the orders an incremental run rebuilds) is in fact_orders
-- exactly once, has its lines once each, and its revenue is the sum of its
-- lines. A merge that missed an order's earlier row (another order-date
-- partition) fails here. The nightly run tests the whole marts.
with

rebuilt as (

    select order_id
    from {{ ref('int_orders_latest') }}
    where last_event_at >= timestamp '{{ lookback_start_date(ref('int_orders_latest'), 'last_event_at') }}'

),

orders as (

    select
        order_id,
        count(*) as order_rows,
        sum(revenue) as revenue
    from {{ ref('fact_orders') }}
    where order_id in (select rebuilt.order_id from rebuilt)
    group by order_id

),

items as (

    select
        order_id,
        count(*) as item_rows,
        count(distinct order_item_key) as item_keys,
        sum(line_revenue) as items_revenue
    from {{ ref('fact_order_items') }}
    where order_id in (select rebuilt.order_id from rebuilt)
    group by order_id

)

select
    rebuilt.order_id,
    orders.order_rows,
    items.item_rows,
    items.item_keys,
    orders.revenue,
    items.items_revenue
from rebuilt
left join orders on rebuilt.order_id = orders.order_id
left join items on rebuilt.order_id = items.order_id
where
    coalesce(orders.order_rows, 0) != 1
    or coalesce(items.item_rows, 0) != coalesce(items.item_keys, 0)
    or abs(orders.revenue - coalesce(items.items_revenue, 0)) > 0.001
